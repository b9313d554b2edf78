"""ARCC (arXiv:2605.14641, with RefineCAM): one number for a map, the harmonic mean of its coherency
(the map computed again on the input masked by it correlates with it), its simplicity (one minus
its mean value, the complexity) and its ROAD score (scaled to [0, 1]), as pytorch-grad-cam's
``metrics/arcc.py`` defines them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .road import road
from .scoring import maps_of, targets_of


@dataclass
class ArccResult:
    """Per image: ``arcc`` and its three parts."""

    arcc: np.ndarray
    complexity: np.ndarray
    coherency: np.ndarray
    road: np.ndarray

    @property
    def mean(self) -> float:
        return float(self.arcc.mean())

    def to_dict(self) -> dict:
        return {"metric": "arcc", "arcc": self.arcc.tolist(), "complexity": self.complexity.tolist(),
                "coherency": self.coherency.tolist(), "road": self.road.tolist(), "mean_arcc": self.mean}


def pearson_rows(a: np.ndarray, b: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    a = a.reshape(len(a), -1).astype(np.float64)
    b = b.reshape(len(b), -1).astype(np.float64)
    a, b = a - a.mean(axis=1, keepdims=True), b - b.mean(axis=1, keepdims=True)
    n = a.shape[1] - 1
    return ((a * b).sum(axis=1) / n) / (np.sqrt((a**2).sum(axis=1) / n) * np.sqrt((b**2).sum(axis=1) / n) + eps)


def arcc(
    model: Any,
    inputs: Any,
    explanation: Any,
    *,
    method: str | None = None,
    layer: str | None = None,
    target: Any = None,
    percentiles: Sequence[float] = (20, 40, 60, 80),
    noise: float = 0.01,
    seed: int = 0,
    progress: bool = False,
) -> ArccResult:
    """ARCC of ``explanation`` (its method and layer are reused for coherency unless given)."""
    from ..adapters.base import resolve_adapter
    from ..api import explain
    from ..layouts import to_native

    adapter = resolve_adapter(model)
    images = adapter.inputs_nchw(adapter.prepare_inputs(inputs)).astype(np.float32)
    maps = maps_of(explanation, images.shape)
    targets = targets_of(adapter, images, explanation, target)
    masked = images * maps[:, None]
    native = to_native(adapter, masked)
    again = explain(adapter, native, method or getattr(explanation, "method", None),
                    target=targets, layer=layer or getattr(explanation, "layer", None), progress=False)
    complexity = np.abs(maps.reshape(len(maps), -1)).sum(axis=1) / maps[0].size
    coherency = (pearson_rows(again.maps, maps) + 1) / 2
    road_scores = road(adapter, inputs, maps, target=targets, percentiles=percentiles, noise=noise, seed=seed,
                       progress=progress).combined
    road_scores = np.clip(road_scores * 2, 0, 1)
    score = 3 / (1 / (coherency + 1e-8) + 1 / ((1 - complexity) + 1e-8) + 1 / (road_scores + 1e-8))
    return ArccResult(arcc=score, complexity=complexity, coherency=coherency, road=road_scores)
