"""The parts every PyTorch graph builder shares: the node/edge builder, module nodes, shapes, probe runs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

from cnnvis.graph_model import Graph, make_node

_CONTAINERS = (torch.nn.Sequential, torch.nn.ModuleList, torch.nn.ModuleDict)
_INFERRED_SIZE = 224

# ---------------------------------------------------------------------------- shared helpers


class GraphBuilder:
    """Collects nodes and de-duplicated edges; hands out ids that do not collide."""

    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}
        self.edges: list[tuple[str, str]] = []
        self._edge_set: set[tuple[str, str]] = set()
        self._counters: dict[str, int] = {}

    def unique(self, base: str) -> str:
        if base not in self.nodes:
            return base
        k = self._counters.get(base, 0)
        while True:
            k += 1
            candidate = f"{base}_{k}"
            if candidate not in self.nodes:
                self._counters[base] = k
                return candidate

    def add(self, node_id: str, **fields: Any) -> dict[str, Any]:
        node = make_node(node_id, **fields)
        self.nodes[node_id] = node
        return node

    def edge(self, src: str, dst: str) -> None:
        if (src, dst) not in self._edge_set:
            self._edge_set.add((src, dst))
            self.edges.append((src, dst))

    def graph(self, name: str) -> Graph:
        return Graph(nodes=list(self.nodes.values()), edges=self.edges, framework="torch", name=name)


def shape_of(value: Any) -> Any:
    """A tensor's shape as a list; a list of shapes for several tensor outputs; None otherwise."""
    if isinstance(value, torch.Tensor):
        return [d if type(d) is int else str(d) for d in value.shape]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        shapes = [s for s in (shape_of(v) for v in value) if s is not None]
        if not shapes:
            return None
        return shapes[0] if len(shapes) == 1 else shapes
    return None


def type_name(module: torch.nn.Module) -> str:
    if isinstance(module, torch.jit.ScriptModule):
        return str(getattr(module, "original_name", type(module).__name__))
    return type(module).__name__


def _class_path(module: torch.nn.Module) -> str:
    if isinstance(module, torch.jit.ScriptModule):
        return module._c._type().qualified_name().removeprefix("__torch__.")
    return f"{type(module).__module__}.{type(module).__qualname__}"


def is_leaf(module: torch.nn.Module) -> bool:
    """Leaves are drawn as one box: modules without children, and torch.nn built-ins that run as a
    unit although they own submodules (MultiheadAttention, Transformer layers), as torch.fx does."""
    if next(iter(module.children()), None) is None:
        return True
    if type(module) is torch.nn.Module or isinstance(module, _CONTAINERS):
        return False  # plain containers (export rebuilds the hierarchy from bare Modules)
    if type_name(module) in ("Sequential", "ModuleList", "ModuleDict"):
        return False
    return _class_path(module).startswith(("torch.nn.", "torch.ao.nn."))


def param_count(module: torch.nn.Module) -> int:
    # A leaf's own parameters equal its subtree's; a group counts its whole subtree.
    return sum(p.numel() for p in module.parameters())


# Hyper-parameters the node properties panel shows, where the module has them.
_ATTRS = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups",
          "in_features", "out_features", "num_features", "eps", "output_size", "p")


def module_attrs(module: torch.nn.Module) -> dict[str, Any]:
    """``attrs`` (kernel, stride, padding, ...) and ``weights`` (own parameter shapes), when any."""
    attrs = {}
    for key in _ATTRS:
        value = getattr(module, key, None)
        if isinstance(value, (int, float, str)) or (isinstance(value, tuple) and all(isinstance(v, int) for v in value)):
            attrs[key] = list(value) if isinstance(value, tuple) else value
    weights = {name: list(p.shape) for name, p in module.named_parameters(recurse=False)}
    return {k: v for k, v in (("attrs", attrs), ("weights", weights)) if v}


def parent_path(path: str) -> str | None:
    return path.rsplit(".", 1)[0] if "." in path else None


def add_module_nodes(b: GraphBuilder, model: torch.nn.Module, skip: Iterable[str] = ()) -> dict[str, Any]:
    """One node per module (shared instances once, under their first name); the root is no node."""
    skipped = tuple(skip)
    modules = {}
    for path, module in model.named_modules():
        if not path or (skipped and path.startswith(skipped)):
            continue
        modules[path] = module
        b.add(
            path,
            type=type_name(module),
            kind="layer" if is_leaf(module) else "group",
            parent=parent_path(path),
            params=param_count(module),
            **module_attrs(module),
        )
    return modules


def tensors_in(value: Any) -> Iterator[torch.Tensor]:
    for leaf in torch.utils._pytree.tree_leaves(value):
        if isinstance(leaf, torch.Tensor):
            yield leaf


def as_inputs(example_inputs: Any) -> tuple[tuple, dict] | None:
    """Normalise ``example_inputs`` to ``(args, kwargs)``."""
    if example_inputs is None:
        return None
    if isinstance(example_inputs, dict):
        return (), dict(example_inputs)
    if isinstance(example_inputs, (tuple, list)):
        return tuple(example_inputs), {}
    if not isinstance(example_inputs, torch.Tensor):
        example_inputs = torch.as_tensor(example_inputs)
    return (example_inputs,), {}


def infer_inputs(model: torch.nn.Module) -> tuple[tuple, dict] | None:
    """A plausible input from the first layer: N=1, 224 pixels a side for convolutions."""
    for module in model.modules():
        kind = type_name(module)
        weight = getattr(module, "weight", None)
        if kind in ("Conv1d", "Conv2d", "Conv3d"):
            spatial = (_INFERRED_SIZE,) * int(kind[4])
            shape = (1, int(module.in_channels), *spatial)
        elif kind == "Linear":
            shape = (1, int(module.in_features))
        else:
            continue
        dtype = weight.dtype if isinstance(weight, torch.Tensor) and weight.is_floating_point() else None
        device = weight.device if isinstance(weight, torch.Tensor) else None
        # A private generator keeps the caller's global RNG state untouched.
        gen = torch.Generator().manual_seed(0)
        x = torch.rand(shape, generator=gen, dtype=dtype or torch.float32).to(device or "cpu")
        return (x,), {}
    return None


@contextmanager
def inference(model: torch.nn.Module) -> Iterator[None]:
    """Eval mode and no_grad for a probing run, so BatchNorm statistics are not updated."""
    modes = [(m, m.training) for m in model.modules()]
    for m, _ in modes:  # not model.eval(): exported modules refuse it
        m.training = False
    try:
        with torch.no_grad():
            yield
    finally:
        for m, training in modes:
            m.training = training
