"""TensorRT layer names -> the source (ONNX) node names they stand for.

TensorRT names a fused layer after the nodes it swallowed (``Conv_0 + Relu_1``), wraps pointwise
fusions in ``PWN(...)`` (nested, arguments separated by ``, ``), names format conversions
``Reformatting CopyNode for Input Tensor 0 to <layer>``, Myelin subgraphs ``{ForeignNode[A...B]}``
(``A``/``B`` may be tensor names rather than node names), and appends `` [profile N]`` to the layers
of every optimization profile but the first. Inside a fused name sit, besides ONNX node names,
weight initializers (``conv1.weight``), QAT quantize/dequantize nodes and names TensorRT made up
itself (``(Unnamed Layer* 108) [Shuffle]``, ``reshape_after_Gemm_48``, ``[trainStation1]``).

Everything here is string work on the name alone; :mod:`cnnvis.adapters.tensorrt.map` checks the
guesses against a real ONNX graph.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

_REFORMAT = re.compile(r"^Reformatting CopyNode for (Input|Output) Tensor (\d+) to (.+)$", re.DOTALL)
_FOREIGN = re.compile(r"^\{ForeignNode\[(.*)\]\}$", re.DOTALL)
_UNNAMED = re.compile(r"^\(Unnamed Layer\* \d+\) \[[^\]]+\]")
_TRAIN_STATION = re.compile(r"^\[trainStation\d+\]$")
# Helper layers the ONNX parser and the builder add around real nodes, named after them.
_GENERATED = re.compile(r"^(reshape_after_|reshape_before_|copied_squeeze_after_|unsqueeze_node_after_|"
                        r"squeeze_after_|unsqueeze_after_|shuffle_between_)")
_HOST_COPY = re.compile(r"\[(DevicetoShapeHostCopy|ShapeHostToDeviceCopy)\]$")
_CLONE = re.compile(r"_clone_\d+$")
# Suffixes are cut with string methods, not end-anchored regexes: searching for ``_+\d+$`` in a long
# run of underscores retries at every position (quadratic); ``rstrip`` looks at each character once.
MAX_NESTING = 32  # PWN(...) deeper than any real engine is left as one token
_QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
# A dotted path without slashes or spaces (``layer1.0.conv1.weight``) is how torch names weights.
_INITIALIZER = re.compile(r"^[A-Za-z_][\w:]*(\.[\w:]+)+$")


@dataclass(frozen=True)
class LayerName:
    """One TensorRT layer name taken apart.

    ``kind``: ``"fused"`` (stands for one or more source nodes), ``"reformat"`` (a format/precision
    copy the builder inserted; ``target`` is the layer it feeds or follows), ``"foreign"`` (a Myelin
    subgraph from ``foreign[0]`` to ``foreign[1]``) or ``"internal"`` (TensorRT's own layer, no
    source node). ``nodes`` are the source node names in name order, QAT quantize/dequantize nodes
    included (they are also listed in ``quantize``); ``initializers`` are weights folded into the
    layer; ``internal`` the names TensorRT made up. ``profile`` is the optimization profile (None
    for the first one, which carries no suffix).
    """

    raw: str
    kind: str
    nodes: tuple[str, ...] = ()
    quantize: tuple[str, ...] = ()
    initializers: tuple[str, ...] = ()
    internal: tuple[str, ...] = ()
    profile: int | None = None
    target: str | None = None
    direction: str | None = None
    foreign: tuple[str, str] | None = None

    @property
    def base(self) -> str:
        """The name without its ``[profile N]`` suffix."""
        return split_profile(self.raw)[0]

    @property
    def compute_nodes(self) -> tuple[str, ...]:
        """Source nodes that compute something (quantize/dequantize left out)."""
        return tuple(n for n in self.nodes if n not in self.quantize)


@functools.lru_cache(maxsize=8192)
def parse_layer_name(name: str) -> LayerName:
    """Takes a TensorRT layer name apart (see :class:`LayerName`)."""
    base, profile = split_profile(name)
    reformat = _REFORMAT.match(base)
    if reformat:
        return LayerName(name, "reformat", profile=profile, target=split_profile(reformat.group(3))[0],
                         direction=reformat.group(1).lower())
    foreign = _FOREIGN.match(base)
    if foreign:
        start, _, end = foreign.group(1).partition("...")
        return LayerName(name, "foreign", profile=profile, foreign=(start, end or start))
    nodes: list[str] = []
    initializers: list[str] = []
    internal: list[str] = []
    for token in _tokens(base):
        role = token_role(token)
        bucket = {"node": nodes, "quantize": nodes, "initializer": initializers}.get(role, internal)
        value = _CLONE.sub("", token) if role in ("node", "quantize") else token
        if value not in bucket:
            bucket.append(value)
    quantize = tuple(n for n in nodes if op_type(n) in _QDQ_OPS)
    kind = "fused" if nodes else "internal"
    return LayerName(name, kind, tuple(nodes), quantize, tuple(initializers), tuple(internal), profile)


def token_role(token: str) -> str:
    """``"node"``, ``"quantize"``, ``"initializer"`` or ``"internal"`` for one name inside a layer name."""
    if (_UNNAMED.match(token) or _TRAIN_STATION.match(token) or _GENERATED.match(token)
            or _HOST_COPY.search(token) or token.endswith(" copy")):
        return "internal"
    if _INITIALIZER.match(token) and "/" not in token:
        return "initializer"
    if op_type(_CLONE.sub("", token)) in _QDQ_OPS:
        return "quantize"
    return "node"


def op_type(node_name: str) -> str:
    """The op a source node name suggests: ``Conv_0``/``/layer1/conv1/Conv``/``Conv__435`` -> ``Conv``."""
    leaf = node_name.rstrip("/").rsplit("/", 1)[-1]
    body = leaf.rstrip("0123456789")
    if body == leaf or not body.endswith("_"):
        return leaf
    return body.rstrip("_") or leaf


def split_profile(name: str) -> tuple[str, int | None]:
    """``"conv1 [profile 2]"`` -> ``("conv1", 2)``; a name without the suffix -> ``(name, None)``."""
    stripped = name.rstrip()
    at = stripped.rfind("[profile ")
    digits = stripped[at + len("[profile "):-1] if at >= 0 and stripped.endswith("]") else ""
    if not (digits.isascii() and digits.isdigit()):
        return name, None
    return name[:at].rstrip(), int(digits)


def _tokens(text: str, depth: int = 0) -> list[str]:
    """Splits on top-level `` + ``, opening ``PWN(...)`` (whose arguments split on ``, `` too)."""
    out: list[str] = []
    for part in _split_top(text, " + "):
        part = part.strip()
        if part.startswith("PWN(") and part.endswith(")") and depth < MAX_NESTING:
            inner = part[4:-1]
            for arg in _split_top(inner, ", "):
                out.extend(_tokens(arg, depth + 1))
        elif part:
            out.append(part)
    return out


def _split_top(text: str, sep: str) -> list[str]:
    """Splits ``text`` on ``sep`` where no parenthesis or bracket is open."""
    parts: list[str] = []
    depth = 0
    start = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            i += len(sep)
            start = i
            continue
        i += 1
    parts.append(text[start:])
    return parts
