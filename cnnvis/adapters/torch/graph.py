"""Build a :class:`cnnvis.graph.Graph` from a PyTorch model.

Dataflow comes from torch.fx symbolic tracing where the model traces, from the fx graph a
``torch.fx.GraphModule`` (e.g. ``torch.export.load(...).module()``) already carries, from the
inlined TorchScript graph for ``torch.jit.ScriptModule``, and otherwise from running the model
with hooks (see :mod:`cnnvis.adapters.torch.graph_hooks`).
"""

from __future__ import annotations

import operator
import warnings
from typing import Any

import torch
import torch.fx

from cnnvis.graph_model import Graph

from . import graph_hooks as hooks
from .graph_builder import (
    GraphBuilder,
    add_module_nodes,
    as_inputs,
    infer_inputs,
    inference,
    is_leaf,
    shape_of,
)

# Ops that only select from or describe another value: they are folded into the edges, not drawn.
_PASSTHROUGH = frozenset({"getitem", "getattr", "size", "dim", "sym_size", "sym_numel", "sym_stride"})


# ---------------------------------------------------------------------------- torch.fx


class _Tracer(torch.fx.Tracer):
    def is_leaf_module(self, m: torch.nn.Module, module_qualified_name: str) -> bool:
        # Childless custom modules stay whole, which also keeps their own control flow out of fx.
        return is_leaf(m) or super().is_leaf_module(m, module_qualified_name)


class _ShapeRecorder(torch.fx.Interpreter):
    def __init__(self, module: torch.nn.Module, graph: torch.fx.Graph):
        super().__init__(module, graph=graph)
        self.shapes: dict[str, Any] = {}

    def run_node(self, n: torch.fx.Node) -> Any:
        out = super().run_node(n)
        self.shapes[n.name] = shape_of(out)
        return out


def _op_name(n: torch.fx.Node) -> tuple[str, str]:
    """(short name, type) of a call_function / call_method node."""
    target = n.target
    if n.op == "call_method":
        return str(target), str(target)
    if isinstance(target, torch._ops.OpOverload):
        packet = target.overloadpacket
        return packet.__name__, str(packet)
    if target is operator.getitem:
        return "getitem", "getitem"
    name = getattr(target, "__name__", str(target))
    return name, name


def _fx_shapes(
    root: torch.nn.Module, graph: torch.fx.Graph, inputs: tuple[tuple, dict] | None, loud: bool
) -> dict[str, Any]:
    shapes = {n.name: shape_of(n.meta["val"]) for n in graph.nodes if "val" in n.meta}
    if inputs is None:
        return shapes
    args, kwargs = inputs
    if isinstance(getattr(graph, "_codegen", None), torch.fx.graph._PyTreeCodeGen):
        flat = torch.utils._pytree.tree_leaves((args, kwargs))  # exported graphs take inputs flattened
    else:
        placeholders = [n.target for n in graph.nodes if n.op == "placeholder"]
        flat = list(args) + [kwargs[p] for p in placeholders[len(args) :] if p in kwargs]
    recorder = _ShapeRecorder(root, graph)
    try:
        with inference(root):
            recorder.run(*flat)
    except Exception as exc:  # the user's forward can raise anything
        if loud:
            warnings.warn(
                f"cnnvis: running the example inputs failed ({exc}); shapes are left out.", stacklevel=3
            )
        return shapes
    shapes.update(recorder.shapes)
    return shapes


def _scope_chain(n: torch.fx.Node) -> list[str]:
    """Module paths (outermost first) the node ran inside; a call_module's own module excluded."""
    stack = n.meta.get("nn_module_stack")
    if stack:
        chain = [v[0] for v in stack.values() if v[0]]
    elif n.op == "call_module":
        parts = str(n.target).split(".")
        chain = [".".join(parts[: i + 1]) for i in range(len(parts))]
    else:
        chain = []
    if n.op == "call_module" and chain and chain[-1] == n.target:
        chain = chain[:-1]
    return chain


def _add_stack_groups(b: GraphBuilder, graph: torch.fx.Graph, chains: dict) -> None:
    """Groups named in nn_module_stack but absent as modules (export keeps only modules with state)."""
    for n in graph.nodes:
        stack = n.meta.get("nn_module_stack") or {}
        prev = None
        for path, cls in stack.values():
            if path and path not in b.nodes:
                tname = cls.__name__ if isinstance(cls, type) else str(cls).rsplit(".", 1)[-1]
                b.add(path, type=tname, kind="group", parent=prev, params=0)
            if path:
                prev = path
    for n in graph.nodes:
        # A module that ops ran inside is a group, whatever its children (export flattens them).
        if n.op in ("call_function", "call_method"):
            for path in chains[n]:
                b.nodes[path]["kind"] = "group"


def _fix_stack_types(b: GraphBuilder, graph: torch.fx.Graph) -> None:
    # Exported modules are bare containers; the stack remembers the original class name.
    for n in graph.nodes:
        for path, cls in (n.meta.get("nn_module_stack") or {}).values():
            node = b.nodes.get(path)
            if node is not None and node["type"] == "Module":
                node["type"] = cls.__name__ if isinstance(cls, type) else str(cls).rsplit(".", 1)[-1]


def _group_outputs(graph: torch.fx.Graph, chains: dict, shapes: dict) -> dict[str, Any]:
    """A group's output is the last value computed inside it that is used outside it."""
    out: dict[str, Any] = {}
    sets = {n: set(c) for n, c in chains.items()}
    for n in graph.nodes:
        if not chains[n] or shapes.get(n.name) is None:
            continue
        for user in n.users:
            for path in chains[n]:
                if path not in sets[user]:
                    out[path] = shapes[n.name]
    return out


def from_fx_graph(
    root: torch.nn.Module, graph: torch.fx.Graph, inputs: tuple[tuple, dict] | None, loud: bool = True
) -> Graph:
    b = GraphBuilder()
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    modules = add_module_nodes(b, root, skip=("_guards",))
    chains = {
        n: [p for p in _scope_chain(n) if p in b.nodes or n.meta.get("nn_module_stack")] for n in graph.nodes
    }
    _add_stack_groups(b, graph, chains)
    _fix_stack_types(b, graph)
    shapes = _fx_shapes(root, graph, inputs, loud)

    ids: dict[torch.fx.Node, str] = {}
    for n in placeholders:
        ids[n] = b.unique(str(n.target))
        b.add(ids[n], type="input", kind="input", parent=None, output_shape=shapes.get(n.name))

    producers: dict[torch.fx.Node, tuple[str, ...]] = {}
    for n in graph.nodes:
        srcs = tuple(dict.fromkeys(s for i in n.all_input_nodes for s in producers.get(i, ())))
        node_id = _fx_node_id(b, n, modules, chains, shapes, ids)
        if node_id is None:  # folded: later consumers connect to what fed it
            producers[n] = srcs
            continue
        for s in srcs:
            b.edge(s, node_id)
        producers[n] = (node_id,)

    for path, shape in _group_outputs(graph, chains, shapes).items():
        if b.nodes[path]["kind"] == "group":
            b.nodes[path]["output_shape"] = shape
    return b.graph(type(root).__name__.replace("GraphModuleImpl", "GraphModule"))


def _folded(n: torch.fx.Node, name: str) -> bool:
    if name == "getitem":  # picking an output of a tuple is plumbing; slicing a tensor is an op
        return len(n.args) > 1 and isinstance(n.args[1], int)
    return name in _PASSTHROUGH or name.startswith("_assert")


def _fx_node_id(
    b: GraphBuilder, n: torch.fx.Node, modules: dict, chains: dict, shapes: dict, ids: dict
) -> str | None:
    """The graph node an fx node stands for, creating op/output nodes; None when it is folded."""
    if n.op == "placeholder":
        return ids[n]
    if n.op == "get_attr":
        return None
    if n.op == "call_module":
        path = str(n.target)
        if path not in modules:
            return None
        b.nodes[path]["kind"] = "layer"
        if shapes.get(n.name) is not None:  # a module called several times keeps its last call's shape
            b.nodes[path]["output_shape"] = shapes[n.name]
        return path
    if n.op == "output":
        node_id = b.unique("output")
        b.add(node_id, type="output", kind="output", parent=None, output_shape=shapes.get(n.name))
        return node_id
    name, op_type = _op_name(n)
    if _folded(n, name):
        return None
    node_id = b.unique(n.name)
    parent = chains[n][-1] if chains[n] else None
    b.add(node_id, name=name, type=op_type, kind="op", parent=parent, output_shape=shapes.get(n.name))
    return node_id


# ---------------------------------------------------------------------------- entry point


def build_graph(model: torch.nn.Module, example_inputs: Any = None) -> Graph:
    """The graph of ``model``: modules as nested nodes, functional ops as ``op`` nodes, dataflow edges.

    ``example_inputs`` (a tensor, a tuple of positional inputs or a dict of keyword inputs) fills
    ``output_shape``; without it an input is guessed from the first layer (1 x C x 224 x 224 for a
    Conv2d) and shapes stay None if the guess does not run.
    """
    inputs = as_inputs(example_inputs)
    loud = inputs is not None
    if inputs is None:
        inputs = infer_inputs(model)
    if isinstance(model, torch.jit.ScriptModule):
        return hooks.from_torchscript(model, inputs, loud)
    if isinstance(model, torch.fx.GraphModule):
        return from_fx_graph(model, model.graph, inputs, loud)
    try:
        graph = _Tracer().trace(model)
    except Exception as exc:  # tracing runs user code; any failure means "not traceable"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        warnings.warn(
            f"cnnvis: torch.fx cannot trace {type(model).__name__} ({reason[:200]}); the graph is built "
            "from one forward pass with hooks and is approximate (it shows the path this input took).",
            stacklevel=2,
        )
        return hooks.from_hooks(model, inputs, loud)
    return from_fx_graph(model, graph, inputs, loud)
