"""One model as ``compare`` sees it: its layers in execution order, the names each answers to, the
layers feeding it, and how to read their outputs for a batch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputShapeError


@dataclass
class Layer:
    """A layer one side can read. ``keys``: every name it answers to (its own, the module path
    an exporter recorded, a normalization folded into it); ``upstream``: the layers feeding it;
    ``after``: activations reading only its output, as ``(keys, probe)``, for when the other
    model folded them in."""

    name: str
    op_type: str
    category: str
    keys: tuple[str, ...]
    probe: Any
    upstream: tuple[str, ...] = ()
    after: list[tuple[tuple[str, ...], Any]] = field(default_factory=list)


class Side:
    """Base of the per-framework sides: a label, an adapter, the layers and a batch reader."""

    framework = "model"

    def __init__(self, label: str, handle: Any, adapter: Any):
        self.label, self.handle, self.adapter = label, handle, adapter
        self.layers: list[Layer] = []

    def by_name(self) -> dict[str, Layer]:
        return {layer.name: layer for layer in self.layers}

    def all_keys(self) -> set[str]:
        return {k for layer in self.layers for k in layer.keys}

    def prepare(self, inputs: Any) -> Any:
        """The inputs as this model takes them; a 4-D batch in the other layout is transposed."""
        try:
            return self.adapter.prepare_inputs(inputs)
        except InputShapeError as first:
            array = np.asarray(inputs.detach().cpu().numpy() if hasattr(inputs, "detach") else inputs)
            if array.ndim != 4:
                raise
            for axes in ((0, 3, 1, 2), (0, 2, 3, 1)):
                try:
                    return self.adapter.prepare_inputs(np.ascontiguousarray(array.transpose(axes)))
                except InputShapeError:
                    continue
            raise first

    def rows(self, batch: Any) -> int:
        return int(batch.shape[0])

    def take(self, batch: Any, start: int, stop: int) -> Any:
        return batch[start:stop]

    def read(self, batch: Any, probes: list[Any]) -> tuple[np.ndarray, list[np.ndarray]]:
        """The scores and each probe's output (channels-first where the layout is known)."""
        raise NotImplementedError


def nearest(start: list[Any], producers: Any, is_layer: Any) -> tuple[str, ...]:
    """Walks the dataflow back from ``start`` through non-layer steps to the first layers."""
    found: list[str] = []
    seen: set[Any] = set()
    stack = list(start)
    while stack:
        item = stack.pop()
        if item in seen:
            continue
        seen.add(item)
        name = is_layer(item)
        if name is not None:
            found.append(name)
        else:
            stack.extend(producers(item))
    return tuple(dict.fromkeys(found))
