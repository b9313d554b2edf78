"""The ``cnnvis.Graph`` of a Keras model.

Functional and Sequential models are read from their symbolic graph: real edges for Add,
Concatenate and shared layers, nested models as groups (``outer/inner``). A subclassed model has no
readable graph, so one call is traced with example inputs and edges follow the tensors passed from
layer to layer; where a tensor cannot be followed, the edge comes from execution order and a
warning says so.
"""

from __future__ import annotations

import warnings
from typing import Any

from ...errors import CnnvisError
from ...graph_model import Graph, make_node
from .calls import layer_index, patched_calls, sublayers


def build_graph(model: Any, example_inputs: Any = None) -> Graph:
    graph = Graph(framework="keras", name=model.name)
    functional = _functional(model)
    if functional is not None:
        _FunctionalReader(graph).read(functional)
    else:
        _trace_subclassed(graph, model, example_inputs)
    return graph


def _functional(model: Any) -> Any:
    """The symbolic graph behind a model (Sequential keeps one once built), else None."""
    import keras

    if isinstance(model, keras.Sequential):
        return getattr(model, "_functional", None)
    if hasattr(model, "_operations") and hasattr(model, "_nodes") and hasattr(model, "_outputs_struct"):
        return model
    return None


class _FunctionalReader:
    def __init__(self, graph: Graph):
        self.graph = graph
        self.ids: set[str] = set()

    def read(self, model: Any) -> None:
        self._add_operations(model, prefix="", parent=None)
        self._add_edges(model, prefix="")
        out_id = "output" if "output" not in self.ids else "output:0"
        shapes = [static_shape(t) for t in model.outputs]
        self._add(make_node(out_id, type="output", kind="output", parent=None,
                            output_shape=shapes[0] if len(shapes) == 1 else shapes))
        for tensor in model.outputs:
            for src in self._exits(tensor, ""):
                self.graph.edges.append((src, out_id))

    def _add(self, node: dict) -> None:
        self.ids.add(node["id"])
        self.graph.nodes.append(node)

    def _add_operations(self, model: Any, prefix: str, parent: str | None) -> None:
        import keras

        for op in model._operations:
            node_id = prefix + op.name
            shape = _op_shape(op, model)
            if isinstance(op, keras.layers.InputLayer):
                if parent is None:  # inner models' inputs are the outer tensors: no node of their own
                    self._add(make_node(node_id, type="InputLayer", kind="input", parent=None, output_shape=shape))
                continue
            inner = _functional(op)
            params = _params(op)
            if inner is not None:
                self._add(make_node(node_id, type=type(op).__name__, kind="group", parent=parent,
                                    output_shape=shape, params=params))
                self._add_operations(inner, node_id + "/", node_id)
                self._add_edges(inner, node_id + "/")
                continue
            kind = "layer" if isinstance(op, keras.layers.Layer) else "op"
            self._add(make_node(node_id, type=type(op).__name__, kind=kind, parent=parent,
                                output_shape=shape, params=params))

    def _add_edges(self, model: Any, prefix: str) -> None:
        for op in model._operations:
            for node in _own_nodes(op, model):  # a call of a shared layer that belongs to another model
                for dst in self._entries(op, prefix):
                    for tensor in node.arguments.keras_tensors:
                        for src in self._exits(tensor, prefix):
                            if (src, dst) not in self.graph.edges:
                                self.graph.edges.append((src, dst))

    def _exits(self, tensor: Any, prefix: str) -> list[str]:
        """The node ids that produce ``tensor``; for a nested model, the layer making its output."""
        import keras

        op, _, index = tensor._keras_history
        if prefix and isinstance(op, keras.layers.InputLayer):
            return []  # an inner model's input: the outer producer is linked to its readers instead
        inner = _functional(op)
        if inner is None:
            return [prefix + op.name]
        return self._exits(inner.outputs[index], prefix + op.name + "/")

    def _entries(self, op: Any, prefix: str) -> list[str]:
        """The node ids that receive an op's inputs; for a nested model, the layers reading its inputs."""
        inner = _functional(op)
        if inner is None:
            return [prefix + op.name]
        inner_prefix = prefix + op.name + "/"
        inputs = {id(t) for t in inner.inputs}
        entries: list[str] = []
        for inner_op in inner._operations:
            for node in _own_nodes(inner_op, inner):
                if any(id(t) in inputs for t in node.arguments.keras_tensors):
                    entries += [e for e in self._entries(inner_op, inner_prefix) if e not in entries]
        return entries


def _own_nodes(op: Any, model: Any) -> list:
    """The calls of ``op`` that belong to ``model`` (a shared layer has calls in other models too)."""
    mine = {id(n) for nodes in model._nodes_by_depth.values() for n in nodes}
    return [n for n in op._inbound_nodes if id(n) in mine]


def _op_shape(op: Any, model: Any) -> Any:
    nodes = _own_nodes(op, model)
    if not nodes:
        return None
    shapes = [static_shape(t) for t in nodes[-1].outputs]
    return shapes[0] if len(shapes) == 1 else shapes


def static_shape(tensor: Any) -> list | None:
    shape = getattr(tensor, "shape", None)
    return None if shape is None else [None if d is None else int(d) for d in shape]


def _params(layer: Any) -> int:
    try:
        return int(layer.count_params())
    except Exception:  # an unbuilt layer or a plain op has no weights yet
        return 0


def _trace_subclassed(graph: Graph, model: Any, example_inputs: Any) -> None:
    """Run one call, recording each layer's inputs and output; edges follow the tensors."""
    index = layer_index(model)
    groups = {path for path, layer in index.items() if sublayers(layer)}
    for path, layer in index.items():
        parent = path.rsplit("/", 1)[0] if "/" in path else None
        graph.nodes.append(make_node(path, type=type(layer).__name__, kind="group" if path in groups else "layer",
                                     parent=parent, params=_params(layer)))
    example = example_inputs if example_inputs is not None else _zeros_for(model)
    if example is None:
        warnings.warn(f"{model.name} is a subclassed Keras model: pass example_inputs to cnnvis.graph to "
                      "get its edges and output shapes.", stacklevel=3)
        return
    calls = _record_calls(model, index, groups, example)
    _add_traced_edges(graph, calls, example)


def _zeros_for(model: Any) -> Any:
    shapes = getattr(model, "_build_shapes_dict", None) or {}
    shape = next(iter(shapes.values()), None) if len(shapes) == 1 else None
    if not shape or any(d is None for d in shape[1:]):
        return None
    import numpy as np

    return np.zeros((1, *shape[1:]), dtype="float32")


def _record_calls(model: Any, index: dict, groups: set, example: Any) -> list[tuple[str, list, Any]]:
    import tensorflow as tf

    calls: list[tuple[str, list, Any]] = []

    def record(path: str):
        def wrap(call, *args, **kwargs):
            out = call(*args, **kwargs)
            if path not in groups:
                calls.append((path, tf.nest.flatten((args, kwargs)), out))
            return out
        return wrap

    try:
        with patched_calls({layer: record(path) for path, layer in index.items()}):
            model(example, training=False)
    except CnnvisError:
        raise
    except Exception as exc:
        raise CnnvisError(f"Tracing {model.name} with the example inputs failed: {exc}") from None
    return calls


def _add_traced_edges(graph: Graph, calls: list, example: Any) -> None:
    graph.nodes.insert(0, make_node("input", type="Input", kind="input", parent=None,
                                    output_shape=static_shape(example)))
    nodes = {n["id"]: n for n in graph.nodes}
    producers: dict[int, str] = {id(example): "input"}
    approximate = False
    previous = "input"
    for path, inputs, out in calls:
        nodes[path]["output_shape"] = static_shape(out)
        sources = [producers[id(t)] for t in inputs if id(t) in producers]
        if not sources:
            sources, approximate = [previous], True  # the tensor went through plain ops: follow call order
        for src in dict.fromkeys(sources):
            if (src, path) not in graph.edges:
                graph.edges.append((src, path))
        producers[id(out)] = path
        previous = path
    graph.nodes.append(make_node("output", type="output", kind="output", parent=None,
                                 output_shape=static_shape(calls[-1][2]) if calls else None))
    graph.edges.append((previous, "output"))
    if approximate:
        warnings.warn("Some edges of this subclassed Keras model follow the order its layers ran in, "
                      "not the tensors (they passed through operations outside layers): they are approximate.",
                      stacklevel=4)
