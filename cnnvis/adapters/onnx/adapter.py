"""The built-in ONNX plugin: ``cnnvis.load("model.onnx")`` and an adapter that runs the model on
onnxruntime (CPU). ONNX Runtime computes no gradients, so the CAM methods here are the
gradient-free ones (EigenCAM, ScoreCAM, AblationCAM); the default is EigenCAM.

Sessions are built once per model and kept on the handle: one exposing every node's output (for
activations and probing), one per CAM layer exposing only that layer (so the layer pass costs what
a forward returning the layer costs), and one per layer for the part of the graph after it.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import (
    CnnvisError,
    InputShapeError,
    NonSpatialLayerError,
    TargetError,
    UnknownLayerError,
)
from ...handles import LoadedModel
from ...hookspecs import hookimpl
from ..base import LayerPass, Target
from .feeds import image_problem, is_feed, prepare_feed, rows
from .loader import dynamic_dims_named, read_model
from .loader import first_line as _first_line
from .runtime import (
    GraphIndex,
    downstream_model,
    infer_layouts,
    make_session,
    run_rows,
    static_dims,
    to_nchw,
    with_outputs,
)
from .tokens import patch_grid, tokens_to_nchw, transformer_default

_SESSION_CACHE = 6  # per-layer sessions kept per model (each holds a copy of the weights)


@hookimpl
def cnnvis_load(path: str, options: dict) -> Any:
    if Path(path).suffix.lower() != ".onnx":
        return None
    model = OnnxModel.open(path, threads=options.get("threads"), map_external_above=options.get("map_external_above"))
    return LoadedModel(model, str(path), "onnx", "onnx", {"inputs": [v.name for v in model.index.inputs]})


@hookimpl
def cnnvis_adapter(model: Any) -> Any:
    if isinstance(model, OnnxModel):
        return OnnxAdapter(model)
    return None


class OnnxModel:
    """An ONNX model with its shape-inferred graph, layer names, layouts and cached sessions."""

    def __init__(self, proto: Any, name: str = "model", threads: int | None = None, external: Any = None):
        import onnx

        from .graph import onnx_to_graph

        proto = dynamic_dims_named(proto)
        try:
            proto = onnx.shape_inference.infer_shapes(proto)
        except Exception:  # shapes only help; onnxruntime decides what runs
            pass
        self.proto, self.name, self.threads = proto, name, threads
        self.external = external  # memory-mapped weights the proto refers to (large models), or None
        self.graph = onnx_to_graph(proto, infer_shapes=False, name=name)
        ops = [n for n in self.graph.nodes if n["kind"] in ("layer", "op")]
        self.index = GraphIndex(proto, [n["id"] for n in ops])
        self.layouts = infer_layouts(self.index)
        self.groups = _group_outputs(self.graph, self.index)
        self._sessions: collections.OrderedDict[Any, Any] = collections.OrderedDict()
        self._full: Any = None
        self.shapes: dict[tuple, dict[str, tuple]] = {}  # per input size: every node output's shape
        self._side: tuple[Any, ...] | None = None

    @classmethod
    def open(cls, path: str | os.PathLike, threads: int | None = None,
             map_external_above: int | None = None) -> OnnxModel:
        proto, external = read_model(Path(path), map_external_above)
        return cls(proto, name=Path(path).stem, threads=threads, external=external)

    def make_session(self, proto: Any, **options: Any) -> Any:
        """A session of ``proto`` (this model or a graph cut from it) with this model's external weights."""
        return make_session(proto, self.threads, external=self.external, **options)

    def session(self, key: Any, build: Any) -> Any:
        """The session cached under ``key``, built by ``build()`` the first time."""
        if key in self._sessions:
            self._sessions.move_to_end(key)
            return self._sessions[key]
        session = build()
        self._sessions[key] = session
        if len(self._sessions) > _SESSION_CACHE:
            self._sessions.popitem(last=False)
        return session

    def full_session(self) -> Any:
        """The one session that exposes every node's output: activations read from it."""
        def build() -> Any:
            tensors = [t for node in self.index.nodes for t in node.output if t]
            return self.make_session(with_outputs(self.proto, tensors))

        if self._full is None:  # kept apart from the per-layer cache: it answers most requests
            self._full = build()
        return self._full


def _group_outputs(graph: Any, index: GraphIndex) -> dict[str, str]:
    """``{group id: the tensor it hands on}``, so ``layer="layer4"`` means the block's output."""
    parent = {n["id"]: n["parent"] for n in graph.nodes}
    members: dict[str, set[int]] = collections.defaultdict(set)
    for i, node_id in enumerate(index.node_ids):
        group = parent.get(node_id)
        while group is not None:
            members[group].add(i)
            group = parent.get(group)
    result = {}
    for group, inside in members.items():
        leaving = [t for i in sorted(inside) for t in index.nodes[i].output
                   if t and (t in index.outputs or any(c not in inside for c in index.consumers.get(t, ())))]
        if leaving:
            result[group] = leaving[-1]  # the last tensor the group produces for the rest of the graph
    return result


class OnnxAdapter:
    framework = "onnx"
    supports_gradients = False
    default_method = "eigencam"

    def __init__(self, model: OnnxModel):
        self.model = model
        self.index = model.index
        self._input_problem = image_problem(self.index)
        self.input_name = self.index.inputs[0].name if self._input_problem is None else None
        self.input_layout = self.model.layouts.get(self.input_name) if self.input_name else None
        self.score = self.index.score_tensor()

    # -- layers ---------------------------------------------------------------------------------
    def layer_names(self) -> list[str]:
        return list(self.index.node_ids)

    def tensor_of(self, layer: str) -> str:
        """The tensor a layer name stands for: a node's first output, a group's output, or a tensor."""
        if layer in self.model.groups:
            return self.model.groups[layer]
        try:
            return self.index.nodes[self.index.node_ids.index(layer)].output[0]
        except ValueError:
            if layer in self.index.producer:
                return layer
        raise UnknownLayerError(layer, self.layer_names())

    def default_layer(self, inputs: Any) -> str:
        shapes = self._probe_shapes(self._image(inputs))
        ids, nodes = self.index.node_ids, self.index.nodes
        for position in range(len(nodes) - 1, -1, -1):
            node = nodes[position]
            shape = shapes.get(node.output[0]) if node.output else None
            if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
                continue  # an INT8 model's copies of a layer's output: name the layer itself
            if shape and len(shape) == 4 and self.model.layouts.get(node.output[0]) in ("NCHW", "NHWC"):
                hw = shape[1:3] if self.model.layouts[node.output[0]] == "NHWC" else shape[2:]
                if hw[0] * hw[1] > 1:
                    name = self._outermost_name(ids[position], node.output[0])
                    return transformer_default(nodes, ids, position, shapes, name) or name
        raise NonSpatialLayerError.none_in_model()

    def _outermost_name(self, node_id: str, tensor: str) -> str:
        groups = [g for g, t in self.model.groups.items() if t == tensor]
        return min(groups, key=len) if groups else node_id  # the outermost group is the shortest path

    def _probe_shapes(self, inputs: Any) -> dict[str, tuple]:
        """Every node output's shape for this input size, only for tensors whose first axis is the
        batch: the probe runs two rows (or the fixed batch), so a tensor of any other length is not."""
        key = tuple(inputs.shape[1:])
        cache = self.model.shapes
        if key not in cache:
            rows = self._chunk() or 2
            names = [t for node in self.index.nodes for t in node.output[:1] if t]
            feed = {self.input_name: np.repeat(inputs[:1], rows, axis=0)}
            try:
                values = self.model.full_session().run(names, feed) if names else []
            except Exception as exc:
                raise CnnvisError(f"onnxruntime failed on this input: {_first_line(exc)}") from None
            cache[key] = {n: v.shape for n, v in zip(names, values, strict=True)
                          if isinstance(v, np.ndarray) and v.ndim and len(v) == rows}
        return cache[key]

    # -- inputs ---------------------------------------------------------------------------------
    def prepare_inputs(self, inputs: Any) -> Any:
        if self._input_problem:  # no image input: a feed of named arrays, read layer by layer
            return prepare_feed(self.index, inputs)
        if is_feed(inputs):
            inputs = prepare_feed(self.index, inputs)[self.input_name]
        array = np.asarray(inputs.detach().cpu().numpy() if hasattr(inputs, "detach") else inputs)
        if array.dtype == object or not np.issubdtype(array.dtype, np.number):
            raise InputShapeError(f"Inputs must be a numeric array, not dtype {array.dtype}.")
        layout = self.input_layout or "NCHW"
        if array.ndim != 4:
            hint = " Add the batch dimension with x[None]." if array.ndim == 3 else ""
            raise InputShapeError(f"Expected a batch of images ({', '.join(layout)}), got shape {array.shape}.{hint}")
        if len(array) == 0:
            raise InputShapeError("The batch is empty: give at least one input.")
        self._check_dims(array, layout)
        from onnx import helper

        dtype = helper.tensor_dtype_to_np_dtype(self.index.elem_type(self.input_name) or 1)
        return np.ascontiguousarray(array, dtype=dtype)

    def _check_dims(self, array: np.ndarray, layout: str) -> None:
        dims = static_dims(self.index.value_info[self.input_name]) or []
        wrong = [i for i, d in enumerate(dims[1:], 1) if d is not None and d != array.shape[i]]
        if wrong:
            other = "NHWC" if layout == "NCHW" else "NCHW"
            raise InputShapeError(
                f"The model's input {self.input_name!r} has shape {dims} ({layout}); the inputs have "
                f"{list(array.shape)}. Resize them, or convert the layout if they are {other}."
            )

    def _image(self, inputs: Any) -> np.ndarray:
        """The image batch, or the reason this model has no maps."""
        if isinstance(inputs, dict):
            raise InputShapeError(self._input_problem or "Maps need the image batch, not a dict of inputs.")
        return inputs

    def _feed(self, inputs: Any) -> dict[str, np.ndarray]:
        return inputs if isinstance(inputs, dict) else {self.input_name: inputs}

    def inputs_nchw(self, inputs: Any) -> np.ndarray:
        inputs = self._image(inputs)
        nchw = inputs.transpose(0, 3, 1, 2) if self.input_layout == "NHWC" else inputs
        return np.ascontiguousarray(nchw, dtype=np.float32)

    def take(self, inputs: Any, indices: Sequence[int]) -> Any:
        if isinstance(inputs, dict):
            return {k: v[list(indices)] for k, v in inputs.items()}
        return inputs[list(indices)]

    def _chunk(self) -> int | None:
        """The batch size the model was exported for, when fixed (then rows run in chunks)."""
        if self._input_problem:
            return None  # a feed of named arrays runs as given: its inputs need not share a batch
        dims = static_dims(self.index.inputs[0])
        return dims[0] if dims else None  # -1, 0, symbolic or missing: any batch runs at once

    # -- passes ---------------------------------------------------------------------------------
    def layer_pass(self, inputs: Any, layer: str, target: Target | None, gradients: bool) -> LayerPass:
        if gradients:  # the engine refuses gradient methods first; this guards direct callers
            from ...cam.engine import check_method_fits, get_method

            check_method_fits(self, get_method("gradcam"))
        inputs = self._image(inputs)
        tensor = self.tensor_of(layer)
        session = self.model.session(("layer", tensor), lambda: self.model.make_session(
            with_outputs(self.model.proto, [self.score, tensor])))
        logits, activation = run_rows(session, [self.score, tensor], {self.input_name: inputs}, chunk=self._chunk())
        activation = self._spatial(activation, layer, tensor, inputs)
        targets = self._targets(logits, target)
        return LayerPass(outputs=np.asarray(logits, np.float32), activations=activation, gradients=None,
                         targets=targets)

    def _spatial(self, array: np.ndarray, layer: str, tensor: str, inputs: Any) -> np.ndarray:
        count = rows(self._feed(inputs))
        if array.ndim == 3 and len(array) == count:  # a vision transformer's tokens, laid on its patch grid
            grid = None if isinstance(inputs, dict) else patch_grid(self.index.nodes, self._probe_shapes(inputs))
            return np.asarray(tokens_to_nchw(array, grid, layer), np.float32)
        if array.ndim == 4 and len(array) != count:
            raise NonSpatialLayerError(
                f"Layer {layer!r} outputs shape {tuple(array.shape)} for {count} input(s): its first axis is not "
                "the batch, so it holds no (C, H, W) map per input. Read it whole with the adapter's "
                f"node_outputs(); spatial layers of this model include: {self._spatial_hint()}."
            )
        if array.ndim != 4:
            raise NonSpatialLayerError(
                f"Layer {layer!r} outputs shape {tuple(array.shape)}; a CAM needs a spatial 4-D output. "
                f"Spatial layers of this model include: {self._spatial_hint()}."
            )
        return np.asarray(to_nchw(array, self.model.layouts.get(tensor), layer), np.float32)

    def _spatial_hint(self) -> str:
        convs = [i for i, n in zip(self.index.node_ids, self.index.nodes, strict=True) if n.op_type == "Conv"]
        return ", ".join(repr(n) for n in convs[-4:]) or "none found"

    def _targets(self, logits: np.ndarray, target: Target | None) -> list[int] | None:
        if callable(target):
            return None
        if logits.ndim != 2:
            raise TargetError(f"The model outputs shape {tuple(logits.shape)}, not (N, classes): pass a "
                              "callable target that turns the output into one score per input.")
        from ...cam.engine import check_target_range

        targets = [int(t) for t in logits.argmax(axis=1)] if target is None else [int(t) for t in target]
        check_target_range(targets, logits)
        return targets

    def target_scores(self, batch_nchw: np.ndarray, target: Target) -> np.ndarray:
        if self._input_problem:
            raise InputShapeError(self._input_problem)
        batch = batch_nchw.transpose(0, 2, 3, 1) if self.input_layout == "NHWC" else batch_nchw
        batch = np.ascontiguousarray(batch, dtype=self.prepare_inputs(batch[:1]).dtype)
        session = self.model.session("scores", lambda: self.model.make_session(
            with_outputs(self.model.proto, [self.score])))
        (logits,) = run_rows(session, [self.score], {self.input_name: batch}, chunk=self._chunk())
        return _scores_per_row(logits, target)

    def target_scores_with_layer(
        self, inputs: Any, layer: str, layer_output: np.ndarray, target: Target
    ) -> np.ndarray:
        inputs = self._image(inputs)
        tensor = self.tensor_of(layer)
        if self.index.rank(tensor) == 3:
            raise NonSpatialLayerError(
                f"Layer {layer!r} holds a transformer's tokens: cnnvis reads them as a map but does not write a "
                "changed map back into an ONNX graph's tokens, as this method needs. Use eigencam or scorecam "
                "on it, or a method on a grid layer.")
        sub, cuts = self.model.session(("after", tensor), lambda: self._downstream(tensor))
        if self.model.layouts.get(tensor) == "NHWC":
            layer_output = layer_output.transpose(0, 2, 3, 1)
        layer_output = np.ascontiguousarray(layer_output, dtype=np.float32)
        shared = self._side_values(inputs, cuts[1:])
        (logits,) = run_rows(sub, [self.score], {cuts[0]: layer_output}, shared, chunk=self._chunk())
        return _scores_per_row(logits, target)

    def _downstream(self, tensor: str) -> tuple[Any, list[str]]:
        model, cuts = downstream_model(self.index, tensor, self.score)
        return self.model.make_session(model), cuts

    def _side_values(self, inputs: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
        """Tensors the downstream graph reads from before the layer, for this one input (cached:
        AblationCAM asks for the same input once per chunk of channels)."""
        if not names:
            return {}
        if len(inputs) != 1:
            raise CnnvisError("Replacing a layer's output replays one input at a time.")
        cached = self.model._side
        if cached and cached[0] == names and np.array_equal(cached[1], inputs):
            return cached[2]
        values = run_rows(self.model.full_session(), names, {self.input_name: inputs})
        self.model._side = (names, inputs.copy(), dict(zip(names, values, strict=True)))
        return self.model._side[2]

    def activations(self, inputs: Any, layers: Sequence[str] | None) -> dict[str, np.ndarray]:
        if layers is None:
            names = [i for i, n in zip(self.index.node_ids, self.index.nodes, strict=True)
                     if n.output and self.model.layouts.get(n.output[0]) in ("NCHW", "NHWC")]
        else:
            names = list(layers)
        tensors = {name: self.tensor_of(name) for name in names}
        wanted = list(dict.fromkeys(tensors.values()))
        count = rows(self._feed(inputs))
        values = dict(zip(wanted, run_rows(self.model.full_session(), wanted, self._feed(inputs),
                                           chunk=self._chunk()), strict=True))
        result = {}
        for name, tensor in tensors.items():
            value = values[tensor]
            if layers is None and (value.ndim != 4 or value.shape[-1] * value.shape[-2] < 1
                                   or len(value) != count):
                continue  # listing every layer: tensors that are no per-input grid are left out
            result[name] = self._spatial(value, name, tensor, inputs)
        return result

    def node_outputs(self, inputs: Any, layers: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Every node's first output as it is (any rank, the model's own layout): for comparisons."""
        names = self.layer_names() if layers is None else list(layers)
        tensors = [self.tensor_of(n) for n in names]
        values = run_rows(self.model.full_session(), tensors, self._feed(inputs), chunk=self._chunk())
        return dict(zip(names, values, strict=True))

    def outputs(self, inputs: Any) -> np.ndarray:
        """The pre-softmax scores of a prepared batch."""
        session = self.model.session("scores", lambda: self.model.make_session(
            with_outputs(self.model.proto, [self.score])))
        return run_rows(session, [self.score], self._feed(inputs), chunk=self._chunk())[0]

    def graph(self, example_inputs: Any = None) -> Any:
        return self.model.graph

    def profile(self, inputs: Any, runs: int = 10, warmup: int = 2, optimized: bool = False) -> Any:
        from .profile import profile_model

        batch = self.prepare_inputs(inputs)
        return profile_model(self.model.proto, self._feed(batch), runs=runs, warmup=warmup,
                             optimized=optimized, threads=self.model.threads, node_ids=self.index.node_ids,
                             external=self.model.external)


def _scores_per_row(logits: np.ndarray, target: Target) -> np.ndarray:
    if callable(target):
        return np.asarray(target(logits), np.float64).reshape(-1)
    return np.asarray(logits, np.float64)[np.arange(len(logits)), list(target)]

