"""A PyTorch model as a side of ``compare``: its leaf modules, in the order one forward pass calls
them, with the dataflow between them told from the tensors each call reads and returns.

A module called more than once (torchvision's shared ``relu``) is no row of its own; a BatchNorm
reading only a convolution's output is folded into it (exporters fold it the same way), and an
activation right after a layer is kept for when the other model folded it in (INT8 builds).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import CnnvisError
from .categories import category_of
from .layers import Layer, Side, nearest

_NORMS = ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d")
_ACTIVATIONS = ("ReLU", "ReLU6", "Hardtanh")


@dataclass
class _Call:
    module: str
    kind: str
    number: int  # the how-many-th call of this module
    inputs: list[Any]
    output: Any


class TorchSide(Side):
    framework = "torch"

    def __init__(self, label: str, handle: Any, adapter: Any):
        super().__init__(label, handle, adapter)
        import torch

        self.torch = torch
        self.model = adapter.model
        self._example: Any = None

    def prepare(self, inputs: Any) -> Any:
        batch = super().prepare(inputs)
        if not self.layers:
            self.layers = self._layers(batch[:1])
        return batch

    def _layers(self, example: Any) -> list[Layer]:
        calls = self._trace(example)
        counts = defaultdict(int)
        for call in calls:
            counts[call.module] += 1
        owner: dict[int, str] = {}
        layers: list[Layer] = []
        for i, call in enumerate(calls):
            if counts[call.module] != 1:
                continue
            previous = layers[-1] if layers else None
            if call.kind in _NORMS and previous is not None and self._reads(call, calls, previous):
                previous.keys, previous.probe = (*previous.keys, *_keys(call.module)), (call.module, 0)
                owner[i] = previous.name
                continue
            owner[i] = call.module
            layers.append(Layer(call.module, call.kind, category_of(call.kind, "other"), _keys(call.module),
                                (call.module, 0)))
        producers = _producers(calls)
        position = {name: i for i, name in owner.items() if name == calls[i].module}
        for k, layer in enumerate(layers):
            start = position[layer.name]
            found = nearest([start], lambda i: producers[i], lambda i, s=start: owner.get(i) if i != s else None)
            layer.upstream = found or ((layers[k - 1].name,) if k else ())  # a functional op broke the trail
            layer.after = _activations_after(calls, max(i for i, n in owner.items() if n == layer.name))
        return layers

    @staticmethod
    def _reads(call: _Call, calls: list[_Call], previous: Layer) -> bool:
        if not previous.op_type.startswith("Conv"):
            return False
        conv = next(c for c in calls if c.module == previous.name)
        return conv.output is not None and conv.output in call.inputs

    def _trace(self, example: Any) -> list[_Call]:
        """One forward pass on one input, recording each leaf module call. A tensor is known by its
        id and version, so one changed in place (``out += identity``) is not taken for the original."""
        calls: list[_Call] = []
        keep: list[Any] = []  # holds every tensor seen, so no id is reused during the pass
        numbers: dict[str, int] = defaultdict(int)
        pending: list[list[Any]] = []
        tensor = self.torch.Tensor

        def before(module: Any, args: Any) -> None:
            tensors = [a for a in args if isinstance(a, tensor)]
            keep.extend(tensors)
            pending.append([(id(t), t._version) for t in tensors])

        def hook(name: str, kind: str) -> Any:
            def record(module: Any, args: Any, output: Any) -> None:
                out = (id(output), output._version) if isinstance(output, tensor) else None
                keep.append(output)
                calls.append(_Call(name, kind, numbers[name], pending.pop() if pending else [], out))
                numbers[name] += 1
            return record

        modules = dict(self.model.named_modules())
        handles = [modules[n].register_forward_pre_hook(before) for n, _ in self._leaves()]
        try:
            self._forward(example, {n: hook(n, type(m).__name__) for n, m in self._leaves()})
        finally:
            for handle in handles:
                handle.remove()
        return calls

    def _leaves(self) -> list[tuple[str, Any]]:
        return [(n, m) for n, m in self.model.named_modules() if n and not any(True for _ in m.children())]

    def _forward(self, batch: Any, hooks: dict[str, Any]) -> Any:
        modules = dict(self.model.named_modules())
        handles = [modules[n].register_forward_hook(h) for n, h in hooks.items()]
        try:
            with self.torch.no_grad():
                return self.model(batch)
        finally:
            for handle in handles:
                handle.remove()

    def read(self, batch: Any, probes: list[Any]) -> tuple[np.ndarray, list[np.ndarray]]:
        wanted: dict[str, set[int]] = defaultdict(set)
        for module, number in probes:
            wanted[module].add(number)
        found: dict[tuple[str, int], np.ndarray] = {}

        def hook(name: str) -> Any:
            seen = [0]

            def capture(module: Any, args: Any, output: Any) -> None:
                if seen[0] in wanted[name] and isinstance(output, self.torch.Tensor):
                    # copied now: an in-place activation later in the pass would change it
                    found[(name, seen[0])] = output.detach().float().cpu().numpy().copy()
                seen[0] += 1
            return capture

        output = self._forward(batch, {n: hook(n) for n in wanted})
        return _logits(output, self.torch), [found[p] for p in probes]


def _keys(module: str) -> tuple[str, ...]:
    """A module path, and as Keras twins spell it (``stem.0`` -> ``stem_0``)."""
    return tuple(dict.fromkeys((module, module.replace(".", "_"))))


def _producers(calls: list[_Call]) -> list[list[int]]:
    """For each call, the calls that last produced the tensors it reads (in-place modules return
    their input, so only producers before the call count)."""
    latest: dict[Any, int] = {}
    result = []
    for i, call in enumerate(calls):
        result.append([latest[t] for t in call.inputs if t in latest])
        if call.output is not None:
            latest[call.output] = i
    return result


def _activations_after(calls: list[_Call], position: int) -> list[tuple[tuple[str, ...], Any]]:
    """The activation call right after ``position`` reading its output, as ``(keys, probe)``."""
    output = calls[position].output
    for call in calls[position + 1:position + 2]:
        if call.kind in _ACTIVATIONS and output in call.inputs:
            return [(_keys(call.module), (call.module, call.number))]
    return []


def _logits(output: Any, torch: Any) -> np.ndarray:
    if isinstance(output, torch.Tensor):
        return output.detach().float().cpu().numpy()
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0].detach().float().cpu().numpy()
    if isinstance(output, dict) and output:
        first = next(iter(output.values()))
        if isinstance(first, torch.Tensor):
            return first.detach().float().cpu().numpy()
    raise CnnvisError(f"compare needs the model to return scores; it returned {type(output).__name__}.")
