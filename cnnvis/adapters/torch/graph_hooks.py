"""Graphs of PyTorch models that torch.fx cannot trace: one recorded forward pass, and TorchScript.

``from_hooks`` runs the model once with module hooks and a ``TorchFunctionMode`` that sees every
functional op and tensor method, and links nodes by tensor identity. ``from_torchscript`` reads the
inlined TorchScript graph, whose nodes remember the module they came from.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from cnnvis.graph_model import Graph

from .graph_builder import (
    GraphBuilder,
    add_module_nodes,
    inference,
    is_leaf,
    shape_of,
    tensors_in,
)

# ---------------------------------------------------------------------------- recorded forward pass


def _func_name(func: Any) -> str:
    name = getattr(func, "__name__", None) or str(func)
    if name == "__get__":  # a tensor property such as .T
        name = getattr(getattr(func, "__self__", None), "__name__", name)
    return name.strip("_") or name


class _Recorder(TorchFunctionMode):
    """Turns module calls and functional ops into nodes; a tensor's producer is the last node that
    returned it (in-place ops return their input, so they take it over)."""

    def __init__(self, b: GraphBuilder, names: dict[int, str]):
        super().__init__()
        self.b, self.names = b, names
        self.producer: dict[int, str] = {}
        self.alive: list[torch.Tensor] = []  # keeps ids unique for the whole run
        self.stack: list[str] = []
        self.leaf_depth = 0
        self.busy = False

    def produced(self, value: Any, node_id: str) -> None:
        for t in tensors_in(value):
            self.producer[id(t)] = node_id
            self.alive.append(t)

    def link(self, value: Any, node_id: str) -> None:
        for t in tensors_in(value):
            src = self.producer.get(id(t))
            if src is not None and src != node_id:
                self.b.edge(src, node_id)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.leaf_depth or self.busy:  # ops inside a layer belong to that layer
            return out
        self.busy = True
        try:
            self._record_op(func, (args, kwargs), out)
        finally:
            self.busy = False
        return out

    def _record_op(self, func: Any, inputs: Any, out: Any) -> None:
        if next(tensors_in(out), None) is None:
            return  # shape queries and the like
        srcs = [self.producer[id(t)] for t in tensors_in(inputs) if id(t) in self.producer]
        if not srcs:
            return  # arithmetic on parameters or constants only
        name = _func_name(func)
        node_id = self.b.unique(name)
        parent = self.stack[-1] if self.stack else None
        self.b.add(node_id, name=name, type=name, kind="op", parent=parent, output_shape=shape_of(out))
        for s in dict.fromkeys(srcs):
            self.b.edge(s, node_id)
        self.produced(out, node_id)

    def pre_hook(self, module, args, kwargs):
        self.busy = True
        name = self.names[id(module)]
        if is_leaf(module):
            if not self.leaf_depth:
                self.link((args, kwargs), name)
            self.leaf_depth += 1
        self.stack.append(name)
        self.busy = False

    def post_hook(self, module, args, kwargs, output):
        self.busy = True
        name = self.stack.pop()
        node = self.b.nodes[name]
        node["output_shape"] = shape_of(output)  # the last call wins
        if is_leaf(module):
            self.leaf_depth -= 1
            if not self.leaf_depth:
                self.produced(output, name)
        self.busy = False


def _input_names(model: torch.nn.Module, args: tuple, kwargs: dict) -> list[tuple[str, Any]]:
    try:
        params = [p.name for p in inspect.signature(model.forward).parameters.values()]
    except (TypeError, ValueError):
        params = []
    named = [(params[i] if i < len(params) else f"input_{i}", a) for i, a in enumerate(args)]
    return named + list(kwargs.items())


def from_hooks(model: torch.nn.Module, inputs: tuple[tuple, dict] | None, loud: bool = True) -> Graph:
    b = GraphBuilder()
    modules = add_module_nodes(b, model)
    if inputs is None or not _record(model, b, modules, inputs):
        _chain_in_order(b)
    return b.graph(type(model).__name__)


def _record(model: torch.nn.Module, b: GraphBuilder, modules: dict, inputs: tuple[tuple, dict]) -> bool:
    args, kwargs = inputs
    rec = _Recorder(b, {id(m): path for path, m in modules.items()})
    for name, value in _input_names(model, args, kwargs):
        node_id = b.unique(name)
        b.add(node_id, type="input", kind="input", parent=None, output_shape=shape_of(value))
        rec.produced(value, node_id)
    handles = []
    for m in modules.values():
        handles.append(m.register_forward_pre_hook(rec.pre_hook, with_kwargs=True))
        handles.append(m.register_forward_hook(rec.post_hook, with_kwargs=True))
    try:
        with inference(model), rec:
            out = model(*args, **kwargs)
    except Exception:  # the graph still lists every module; only dataflow is lost
        return False
    finally:
        for h in handles:
            h.remove()
    node_id = b.unique("output")
    b.add(node_id, type="output", kind="output", parent=None, output_shape=shape_of(out))
    rec.link(out, node_id)
    return True


def _chain_in_order(b: GraphBuilder) -> None:
    """No run possible: link layers in registration order, the usual order of a plain CNN."""
    layers = [n["id"] for n in b.nodes.values() if n["kind"] == "layer"]
    for src, dst in zip(layers, layers[1:], strict=False):
        b.edge(src, dst)


# ---------------------------------------------------------------------------- TorchScript

def _scope_names(hierarchy: str) -> list[str]:
    """The ``name`` of every ``name(Type)`` entry of a TorchScript module hierarchy, left to right.

    The same entries as the pattern ``([^.()]+)\\(([^()]*)\\)`` finds, in one pass: a hierarchy comes
    from the file, and that pattern retries at every position of a long run without parentheses.
    """
    names: list[str] = []
    n, start = len(hierarchy), 0
    close = -1  # the first ")" at or after the current "(" (found once per stretch)
    opening = hierarchy.find("(")
    while opening >= 0:
        following = hierarchy.find("(", opening + 1)
        following = n if following < 0 else following
        if close < opening:
            close = hierarchy.find(")", opening)
            close = n if close < 0 else close
        run = max(start, hierarchy.rfind(".", start, opening) + 1, hierarchy.rfind("(", start, opening) + 1,
                  hierarchy.rfind(")", start, opening) + 1)
        if close < following and run < opening:
            names.append(hierarchy[run:opening])
            start = close + 1
            opening = hierarchy.find("(", start)
        else:
            start = opening + 1 if close >= following else close + 1
            opening = following if following < n else -1
    return names



class _ScriptWalk:
    """Reads the inlined graph: ops inside a leaf module fold into that layer, ops inside a group
    become ``op`` nodes, and prim:: plumbing (lists, tuples, control flow) passes producers on."""

    def __init__(self, b: GraphBuilder, modules: dict[str, torch.nn.Module]):
        self.b, self.modules = b, modules
        self.producers: dict[int, tuple[str, ...]] = {}
        self.probe: dict[str, Any] = {}  # node id -> graph value whose shape it shows
        self._paths: dict[str, str] = {}
        self._owners: dict[str, str | None] = {}

    def path(self, n: Any, inherited: str = "") -> str:
        hierarchy = n.getModuleHierarchy()
        if not hierarchy:  # nodes inside if/loop blocks carry no scope of their own
            return inherited
        if hierarchy not in self._paths:
            names = _scope_names(hierarchy)[1:]
            self._paths[hierarchy] = ".".join(x for x in names if x not in ("SELF", "UNKNOWN_INSTANCE"))
        return self._paths[hierarchy]

    def owner(self, path: str) -> str | None:
        """The leaf module a scope lies in, if any."""
        if path not in self._owners:
            parts, found = path.split(".") if path else [], None
            for i in range(1, len(parts) + 1):
                prefix = ".".join(parts[:i])
                if prefix in self.modules and is_leaf(self.modules[prefix]):
                    found = prefix
                    break
            self._owners[path] = found
        return self._owners[path]

    def group_of(self, path: str) -> str | None:
        while path and path not in self.b.nodes:
            path = path.rsplit(".", 1)[0] if "." in path else ""
        return path or None

    def srcs(self, values: Any) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s for v in values for s in self.producers.get(v.unique(), ())))

    def walk(self, block: Any, inherited: str = "") -> None:
        for n in block.nodes():
            if n.kind() not in ("prim::Constant", "prim::GetAttr"):
                self.visit(n, inherited)

    def visit(self, n: Any, inherited: str) -> None:
        srcs = self.srcs(n.inputs())
        path = self.path(n, inherited)
        for sub in n.blocks():
            for v in sub.inputs():  # loop-carried values start from the loop's inputs
                self.producers[v.unique()] = srcs
            self.walk(sub, path)
            srcs += self.srcs(sub.returnNode().inputs())
        leaf = self.owner(path)
        tensor_out = [v for v in n.outputs() if isinstance(v.type(), torch._C.TensorType)]
        if leaf is not None:
            node_id = leaf
        elif n.kind().startswith("aten::") and tensor_out and srcs:  # ops on buffers alone are state
            name = n.kind().split("::", 1)[1]
            node_id = self.b.unique(name.rstrip("_") or name)
            self.b.add(node_id, name=name, type=n.kind(), kind="op", parent=self.group_of(path))
        else:  # plumbing: its outputs come from wherever its inputs came from
            for v in n.outputs():
                self.producers[v.unique()] = tuple(dict.fromkeys(srcs))
            return
        for s in dict.fromkeys(srcs):
            if s != node_id:
                self.b.edge(s, node_id)
        for v in n.outputs():
            self.producers[v.unique()] = (node_id,)
        if tensor_out and n.owningBlock().owningNode() is None:  # only top-level values can be probed
            self.probe[node_id] = tensor_out[0]  # for a layer: its last op, i.e. its output

    def group_outputs(self, graph: Any) -> None:
        """A group's output is the last top-level value made inside it and used outside it."""
        for n in graph.nodes():
            outs = [v for v in n.outputs() if isinstance(v.type(), torch._C.TensorType)]
            if not outs:
                continue
            path = self.path(n)
            prefixes = self._groups_above(path)
            for use in outs[0].uses():
                user = self.path(use.user)
                for g in prefixes:
                    if user != g and not user.startswith(g + "."):
                        self.probe[g] = outs[0]

    def _groups_above(self, path: str) -> list[str]:
        parts = path.split(".") if path else []
        found = []
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            node = self.b.nodes.get(prefix)
            if node is not None and node["kind"] == "group":
                found.append(prefix)
        return found


def from_torchscript(
    model: torch.jit.ScriptModule, inputs: tuple[tuple, dict] | None, loud: bool = True
) -> Graph:
    b = GraphBuilder()
    modules = add_module_nodes(b, model)
    graph = model.inlined_graph  # a fresh copy, safe to extend below
    walk = _ScriptWalk(b, modules)
    for v in list(graph.inputs())[1:]:  # the first input is the module itself
        node_id = b.unique(v.debugName().split(".")[0])
        b.add(node_id, type="input", kind="input", parent=None)
        walk.producers[v.unique()] = (node_id,)
        walk.probe[node_id] = v
    walk.walk(graph)
    out_id = b.unique("output")
    b.add(out_id, type="output", kind="output", parent=None)
    for s in walk.srcs(graph.return_node().inputs()):
        b.edge(s, out_id)
    walk.group_outputs(graph)
    if inputs is not None:
        _script_shapes(model, graph, {out_id: None, **walk.probe}, inputs, b)
    return b.graph(str(getattr(model, "original_name", type(model).__name__)))


def _script_shapes(
    model: Any, graph: Any, probe: dict[str, Any], inputs: tuple[tuple, dict], b: GraphBuilder
) -> None:
    """Re-run the graph with every probed value as an extra output, to read their shapes."""
    args, kwargs = inputs
    if kwargs:
        return
    probe = {k: v if v is not None else graph.return_node().inputsAt(0) for k, v in probe.items()}
    ids, values = list(probe), list(probe.values())
    try:
        tup = graph.create("prim::TupleConstruct", values)
        tup.insertBefore(graph.return_node())
        tup.output().setType(torch._C.TupleType([v.type() for v in values]))
        graph.eraseOutput(0)
        graph.registerOutput(tup.output())
        fn = torch._C._create_function_from_graph("cnnvis_shape_probe", graph)
        with inference(model):
            result = fn(model._c, *args)
    except Exception:  # shapes are a bonus; the structure above stands without them
        return
    for node_id, value in zip(ids, result, strict=True):
        b.nodes[node_id]["output_shape"] = shape_of(value)
