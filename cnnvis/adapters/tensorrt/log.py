"""trtexec console logs (``trtexec ... --verbose > trt.out``): the engine's layers from the
``Engine Layer Information`` block and per-layer latencies from the ``=== Profile ===`` table.

A layer line reads ``Layer(TYPE): NAME, Tactic: 0x..., IN (Float[1,3,224,224]), ... -> OUT (...)``;
names may themselves hold commas (``PWN(a, b)``), so the line is cut at ``, Tactic: `` first.
"""

from __future__ import annotations

import re
from pathlib import Path

from ...errors import UnsupportedFileError

LAYER_BLOCK = "Engine Layer Information:"
_LAYER = re.compile(r"^Layer\((?P<type>[^)]*)\): (?P<name>.*?), Tactic: (?P<tactic>[-\w]+), (?P<io>.*)$")
_TENSOR = re.compile(r"(?P<name>.+?) \((?P<dtype>[A-Za-z0-9]+)\[(?P<dims>[^\]]*)\]\)(?:, |$)")
_PREFIX = re.compile(r"^\[[^\]]*\] \[[A-Z]\] ")  # "[10/31/2023-17:58:57] [I] "
_PROFILE_HEAD = re.compile(r"=== Profile \((\d+) iterations? *\) ===")
_ROW = re.compile(r"^\s*(?P<name>.+?)\s+(?P<time>[-\d.]+)\s+(?P<avg>[-\d.]+)\s+(?P<median>[-\d.]+)\s+(?P<pct>[-\d.]+)\s*$")
_BINDING = re.compile(r"Created (input|output) binding for (.+) with dimensions (\S+)")


def looks_like_trtexec_log(head: str) -> bool:
    """True for console output of trtexec (what a content sniff of the first kilobytes can tell)."""
    return "&&&& RUNNING TensorRT.trtexec" in head or ("[TRT]" in head and "] [I] " in head)


def read_trtexec_log(path: Path) -> dict:
    """``{"layers", "bindings", "latency", "iterations", "total_ms"}`` from a trtexec log."""
    lines = path.read_text(errors="replace").splitlines()
    start = _last_index(lines, LAYER_BLOCK)
    if start is None:
        raise UnsupportedFileError(
            f"{path.name} is a trtexec log without the '{LAYER_BLOCK}' block, so it holds no graph. "
            "Rerun trtexec with --verbose (and --profilingVerbosity=detailed for tensor formats), or "
            "export the layers with --exportLayerInfo=FILE.graph.json --profilingVerbosity=detailed."
        )
    layers = []
    for number, line in enumerate(lines[start + 1:], start=start + 2):
        if not line.startswith("Layer("):
            break
        layers.append(_layer(line, path, number))
    if not layers:
        raise UnsupportedFileError(f"{path.name}: the '{LAYER_BLOCK}' block (line {start + 1}) lists no layers; "
                                   "the log looks truncated. Rerun trtexec with --verbose.")
    table = _profile_table(lines, path)
    return {"layers": layers, "bindings": _bindings(lines), **table}


def _last_index(lines: list[str], marker: str) -> int | None:
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].endswith(marker):
            return i
    return None


def _layer(line: str, path: Path, number: int) -> dict:
    match = _LAYER.match(line)
    io = re.split(r" ->(?: |$)", match.group("io")) if match else []
    if not match or len(io) != 2:
        raise UnsupportedFileError(
            f"{path.name}, line {number}: cannot read this layer line (truncated or edited?): {line[:120]!r}. "
            "Use the complete log trtexec wrote."
        )
    return {
        "Name": match.group("name"),
        "LayerType": match.group("type"),
        "TacticValue": match.group("tactic"),
        "Inputs": _tensors(io[0], path, number),
        "Outputs": _tensors(io[1], path, number),
    }


def _tensors(text: str, path: Path, number: int) -> list[dict]:
    text = text.strip()
    tensors: list[dict] = []
    pos = 0
    while pos < len(text):
        match = _TENSOR.match(text, pos)
        if not match:
            raise UnsupportedFileError(f"{path.name}, line {number}: cannot read the tensor list {text[pos:pos + 80]!r}.")
        dims = [_dim(d) for d in match.group("dims").split(",") if d]
        tensors.append({"Name": match.group("name"), "Dimensions": dims, "Format/Datatype": match.group("dtype")})
        pos = match.end()
    return tensors


def _dim(text: str) -> int:
    """``64:32`` (64 channels, vectorised by 32) -> 64."""
    return int(text.split(":", 1)[0])


def _profile_table(lines: list[str], path: Path) -> dict:
    """The last ``=== Profile ===`` table: ``{name: {"time_ms", "average_ms", "median_ms", "percentage"}}``."""
    head = None
    for i in range(len(lines) - 1, -1, -1):
        if _PROFILE_HEAD.search(lines[i]):
            head = i
            break
    if head is None:
        return {"latency": None, "iterations": None, "total_ms": None}
    iterations = int(_PROFILE_HEAD.search(lines[head]).group(1))
    latency: dict[str, dict] = {}
    total = None
    for line in lines[head + 2:]:  # the row right after the head is the column header
        row = _ROW.match(_PREFIX.sub("", line))
        if row is None:
            break
        values = {"time_ms": float(row.group("time")), "average_ms": float(row.group("avg")),
                  "median_ms": float(row.group("median")), "percentage": float(row.group("pct"))}
        if row.group("name") == "Total":
            total = values["average_ms"]
            break
        latency[row.group("name")] = values
    if total is None:
        raise UnsupportedFileError(f"{path.name}: the '=== Profile ===' table (line {head + 1}) has no Total row; "
                                   "the log looks truncated. Use the complete log trtexec wrote.")
    return {"latency": latency, "iterations": iterations, "total_ms": total}


def _bindings(lines: list[str]) -> list[dict]:
    found: dict[str, dict] = {}
    for line in lines:
        match = _BINDING.search(line)
        if match:
            dims = [int(d) for d in match.group(3).split("x") if d.lstrip("-").isdigit()]
            found[match.group(2)] = {"name": match.group(2), "kind": match.group(1), "shape": dims}
    return list(found.values())
