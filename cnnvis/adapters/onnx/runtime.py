"""Model surgery and sessions behind the ONNX adapter: which tensor is which layer, its layout,
graphs with extra outputs, and the part of a graph that runs after a layer.

onnxruntime only accepts values for graph inputs, so "run from this layer on" means a second model:
the nodes downstream of the layer, with the layer's tensor (and any tensor those nodes read from
before the layer, such as a residual branch) as its inputs.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ...errors import CnnvisError

# Ops whose 4-D data tensors are channels-first by the ONNX specification.
NCHW_OPS = {"Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LpPool",
            "BatchNormalization", "InstanceNormalization", "LRN", "QLinearConv", "ConvInteger", "MaxUnpool",
            "DepthToSpace", "SpaceToDepth", "QLinearAveragePool", "QLinearGlobalAveragePool", "MaxRoiPool"}
# Ops that keep the layout of their (first 4-D) data input.
SAME_LAYOUT_OPS = {"Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh",
                   "Clip", "Gelu", "Mish", "Softplus", "Add", "Sub", "Mul", "Div", "Sum", "Max", "Min", "Mean",
                   "Identity", "Dropout", "Cast", "Abs", "Neg", "Sqrt", "Pow", "Exp", "Erf", "Pad", "Resize",
                   "Upsample", "QuantizeLinear", "DequantizeLinear", "Concat", "Split", "Where", "Not", "Equal",
                   "QLinearAdd", "QLinearMul", "QLinearLeakyRelu", "QLinearSigmoid", "QLinearConcat",
                   "LayerNormalization", "Slice"}
SOFTMAX_OPS = {"Softmax", "LogSoftmax"}


class GraphIndex:
    """Producers, consumers and per-tensor facts of one (shape-inferred) ``ModelProto``."""

    def __init__(self, model: Any, node_ids: Sequence[str]):
        graph = model.graph
        self.model = model
        self.nodes = list(graph.node)
        self.node_ids = list(node_ids)
        self.initializers = {t.name for t in graph.initializer}
        self.initializer_ranks = {t.name: len(t.dims) for t in graph.initializer}
        self.inputs = [v for v in graph.input if v.name not in self.initializers]
        self.outputs = [v.name for v in graph.output]
        self.producer: dict[str, int] = {}
        self.consumers: dict[str, list[int]] = collections.defaultdict(list)
        for i, node in enumerate(self.nodes):
            for t in node.output:
                if t:
                    self.producer[t] = i
            for t in node.input:
                if t:
                    self.consumers[t].append(i)
        self.value_info = {v.name: v for v in [*graph.input, *graph.value_info, *graph.output]}

    def elem_type(self, tensor: str) -> int | None:
        info = self.value_info.get(tensor)
        if info is None or not info.type.HasField("tensor_type"):
            return None
        return info.type.tensor_type.elem_type

    def rank(self, tensor: str) -> int | None:
        info = self.value_info.get(tensor)
        if info is None or not info.type.tensor_type.HasField("shape"):
            return None
        return len(info.type.tensor_type.shape.dim)

    def score_tensor(self) -> str:
        """The first graph output, or the input of the Softmax that produces it (scores are pre-softmax)."""
        out = self.outputs[0]
        producer = self.producer.get(out)
        if producer is not None and self.nodes[producer].op_type in SOFTMAX_OPS:
            return self.nodes[producer].input[0]
        return out


def infer_layouts(index: GraphIndex) -> dict[str, str | None]:
    """Axis letters (``"NCHW"``, ``"NHWC"``) of every 4-D tensor, or None where nothing says.

    The image input is tried as channels-first and as channels-last; the guess under which no
    channels-first op (Conv, pooling, ...) reads a tensor in another layout wins. A tensor is only
    labelled by following the ops from there, so a map is never drawn along guessed axes.
    """
    best: tuple[int, dict] | None = None
    for guess in ("NCHW", "NHWC"):
        layouts, conflicts = _propagate(index, guess)
        if best is None or conflicts < best[0]:
            best = (conflicts, layouts)
    return best[1]


def _propagate(index: GraphIndex, input_layout: str) -> tuple[dict[str, str | None], int]:
    layouts: dict[str, str | None] = {v.name: input_layout for v in index.inputs if index.rank(v.name) == 4}
    conflicts = 0
    for node in index.nodes:
        known = [layouts[t] for t in node.input if layouts.get(t)]
        if node.op_type in NCHW_OPS:
            first = layouts.get(node.input[0]) if node.input else None
            conflicts += first is not None and first != "NCHW"
            out = "NCHW"
        elif node.op_type == "Transpose":
            perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), None)
            source = known[0] if known else None
            out = "".join(source[p] for p in perm) if source and perm and len(perm) == 4 else None
        elif node.op_type in SAME_LAYOUT_OPS:
            out = known[0] if known and all(d == known[0] for d in known) else None
        elif node.op_type == "MatMul" and _acts_on_channels(index, node, known):
            out = "NHWC"  # a Linear layer on a channels-last grid (Swin's, ConvNeXt's MLPs) keeps the grid
        else:
            out = None
        for t in node.output:
            if t and index.rank(t) in (4, None):  # unknown rank: the label matters only if it is 4-D
                layouts[t] = out
    return layouts, conflicts


def _acts_on_channels(index: GraphIndex, node: Any, known: list[str]) -> bool:
    """A MatMul of a channels-last 4-D tensor by a 2-D weight: it mixes channels at each position,
    so the grid axes stay where they were (on channels-first data it would mix a spatial axis)."""
    return len(node.input) == 2 and known == ["NHWC"] and index.initializer_ranks.get(node.input[1]) == 2


def to_nchw(array: np.ndarray, layout: str | None, name: str) -> np.ndarray:
    """A 4-D tensor as channels-first, or a clear refusal when its axes are not known."""
    if layout == "NCHW":
        return array
    if layout == "NHWC":
        return np.ascontiguousarray(array.transpose(0, 3, 1, 2))
    raise CnnvisError(
        f"Layer {name!r} outputs a 4-D tensor {tuple(array.shape)} whose axes cnnvis cannot identify: no "
        "convolution or pooling, and no transpose from one, fixes which axis holds the channels. A map "
        "drawn along guessed axes would be wrong; pick a convolution, pooling or activation layer."
    )


def with_outputs(model: Any, tensors: Iterable[str]) -> Any:
    """A copy of ``model`` whose graph also outputs ``tensors`` (types come from shape inference)."""
    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    present = {o.name for o in copy.graph.output}
    info = {v.name: v for v in copy.graph.value_info}
    for name in tensors:
        if name not in present:
            present.add(name)
            copy.graph.output.append(info[name] if name in info else onnx.ValueInfoProto(name=name))
    return copy


def downstream_model(index: GraphIndex, layer_tensor: str, score: str) -> tuple[Any, list[str]]:
    """The nodes that turn ``layer_tensor`` into ``score``, as a model whose inputs are the layer's
    tensor first, then every earlier tensor those nodes also read (e.g. a skip connection)."""
    import onnx
    from onnx import helper

    downstream = _downstream_tensors(index, layer_tensor)
    if score not in downstream:
        raise CnnvisError(f"The model's scores do not depend on tensor {layer_tensor!r}.")
    depends = _input_dependent(index)
    keep: set[int] = set()
    cuts = [layer_tensor]
    stack = [score]
    seen: set[str] = set()
    while stack:
        tensor = stack.pop()
        if tensor in seen or tensor == layer_tensor or tensor in index.initializers:
            continue
        seen.add(tensor)
        producer = index.producer.get(tensor)
        if tensor not in downstream and depends.get(tensor, True):
            cuts.append(tensor)  # computed before the layer from the image: fed from a full forward
            continue
        if producer is None:
            raise CnnvisError(f"Tensor {tensor!r} has no producer; the graph cannot be split at {layer_tensor!r}.")
        keep.add(producer)
        stack.extend(t for t in index.nodes[producer].input if t)
    nodes = [index.nodes[i] for i in sorted(keep)]
    used = {t for n in nodes for t in n.input}
    graph = helper.make_graph(
        nodes, "after_" + layer_tensor,
        [_input_info(index, t) for t in cuts],
        [index.value_info.get(score) or onnx.ValueInfoProto(name=score)],
        [t for t in index.model.graph.initializer if t.name in used],
    )
    sub = helper.make_model(graph, opset_imports=index.model.opset_import, ir_version=index.model.ir_version)
    sub.functions.extend(index.model.functions)
    return sub, cuts


def _downstream_tensors(index: GraphIndex, tensor: str) -> set[str]:
    found, stack = {tensor}, [tensor]
    while stack:
        for i in index.consumers.get(stack.pop(), ()):
            for out in index.nodes[i].output:
                if out and out not in found:
                    found.add(out)
                    stack.append(out)
    return found


def _input_dependent(index: GraphIndex) -> dict[str, bool]:
    depends = {v.name: True for v in index.inputs}
    for node in index.nodes:  # ONNX nodes are stored in topological order
        value = any(depends.get(t, False) for t in node.input if t)
        for t in node.output:
            depends[t] = value
    return depends


def _input_info(index: GraphIndex, tensor: str) -> Any:
    from onnx import TensorProto, helper

    info = index.value_info.get(tensor)
    if info is not None and info.type.tensor_type.HasField("shape"):
        dims = static_dims(info) or []
        shape = ["rows", *dims[1:]] if dims else dims  # the leading axis carries the replayed rows
        return helper.make_tensor_value_info(tensor, info.type.tensor_type.elem_type, shape)
    return helper.make_tensor_value_info(tensor, index.elem_type(tensor) or TensorProto.FLOAT, None)


def make_session(model: Any, threads: int | None = None, profile_prefix: str | None = None,
                 optimized: bool = True, external: Any = None) -> Any:
    """An onnxruntime CPU session; its failures become a cnnvis error. ``external``: the
    :class:`~.external.ExternalData` the model's external references point into."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    if profile_prefix:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    if not optimized:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3  # onnxruntime warns about unused initializers in every cut graph
    if external is not None:
        external.add_to(options)
    try:
        return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CnnvisError(f"onnxruntime cannot run this model: {detail}") from None


def static_dims(info: Any) -> list[int | None] | None:
    """A value's dims, None for every dynamic one: ``-1``, ``0``, a symbolic name or no value at all
    (exporters write "dynamic" each of these ways). None when the rank itself is unknown."""
    if info is None or not info.type.HasField("tensor_type") or not info.type.tensor_type.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
            for d in info.type.tensor_type.shape.dim]


def run_rows(session: Any, outputs: Sequence[str], rows: dict[str, np.ndarray],
             shared: dict[str, np.ndarray] | None = None, chunk: int | None = None) -> list[np.ndarray]:
    """Runs ``session`` on ``rows`` (arrays of N rows), in chunks of ``chunk`` rows when the model
    was exported for a fixed batch; ``shared`` arrays hold one row, repeated to each chunk's size.

    Only tensors whose first axis follows the rows are cut and joined per chunk; any other tensor
    (a Flatten over axis 0, a DFT, a reduction over the batch) is returned whole when one run
    covers the batch, and refused when it would mix chunks or padding rows.
    """
    if not outputs:
        return []  # onnxruntime answers an empty output list with every graph output
    if not chunk or chunk <= 0:  # a dynamic batch: one run, the feed as given (inputs may differ in length)
        count = len(next(iter(rows.values()))) if shared else 0
        repeated = {k: np.repeat(v[:1], count, axis=0) for k, v in (shared or {}).items()}
        return _run(session, outputs, {**rows, **repeated})
    count = len(next(iter(rows.values())))
    step = chunk
    parts: list[list[np.ndarray]] = []
    for start in range(0, count, step):
        feed = {k: v[start:start + step] for k, v in rows.items()}
        size = len(next(iter(feed.values())))
        pad = step - size if chunk else 0
        if pad:  # a fixed-batch model: fill the last chunk with copies of its first row
            feed = {k: np.concatenate([v, np.repeat(v[:1], pad, axis=0)]) for k, v in feed.items()}
        for name, value in (shared or {}).items():
            feed[name] = np.repeat(value[:1], size + pad, axis=0)
        result = _run(session, outputs, feed)
        parts.append([_rows_of(name, r, size, size + pad, pad > 0 or count > step, step)
                      for name, r in zip(outputs, result, strict=True)])
    if len(parts) == 1:
        return parts[0]
    return [np.concatenate(group) for group in zip(*parts, strict=True)]


def _run(session: Any, outputs: Sequence[str], feed: dict[str, Any]) -> list[Any]:
    try:
        return session.run(list(outputs), feed)
    except Exception as exc:
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CnnvisError(f"onnxruntime failed on this input: {detail}") from None


def _rows_of(name: str, value: Any, size: int, ran: int, split: bool, step: int) -> Any:
    """The first ``size`` rows of a batched output, or the output whole when nothing was split."""
    batched = isinstance(value, np.ndarray) and value.ndim > 0 and len(value) == ran
    if batched:
        return value[:size]
    if not split:
        return value
    raise CnnvisError(
        f"Tensor {name!r} has shape {getattr(value, 'shape', '?')}: its first axis is not the batch, and this "
        f"model runs a fixed batch of {step}, so it would be computed on padding rows or mixed across "
        f"runs. Pass exactly {step} inputs to read it whole."
    )
