"""The same CAM method on both models, image by image: how alike the two maps are."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tables import Table


class ExplanationComparison(Table):
    """One row per image, the images where the models look at the most different evidence first:
    ``image`` (its index), ``spearman`` and ``ssim`` of the two maps, ``target_a``/``target_b``
    (the class each explained). ``method``, ``layers``, ``maps`` (a, b) and ``explained`` (the two
    ``cnnvis.Explanation`` objects, for overlays) are kept beside the rows."""

    def __init__(self, rows: list[dict], method: str, layers: tuple[str, str], maps: tuple[np.ndarray, np.ndarray],
                 explained: tuple[Any, Any] | None = None):
        super().__init__(rows)
        self.method, self.layers, self.maps, self.explained = method, layers, maps, explained


def compare_explanations(side_a: Any, side_b: Any, batch_a: Any, batch_b: Any, method: str,
                         cancel: Any = None) -> ExplanationComparison:
    from ..api import explain
    from ..trust.similarity import per_image, spearman, ssim

    first = explain(side_a.handle, batch_a, method=method, progress=False, cancel=cancel)
    second = explain(side_b.handle, batch_b, method=method, progress=False, cancel=cancel)
    maps_a, maps_b = first.maps, _same_size(second.maps, first.maps.shape[1:])
    rank = per_image(spearman, maps_a, maps_b)
    structure = per_image(ssim, maps_a, maps_b) if min(maps_a.shape[1:]) >= 7 else np.full(len(rank), np.nan)
    targets_a, targets_b = first.targets or [None] * len(rank), second.targets or [None] * len(rank)
    rows = [{"image": i, "spearman": float(rank[i]), "ssim": float(structure[i]),
             "target_a": targets_a[i], "target_b": targets_b[i]} for i in range(len(rank))]
    rows.sort(key=lambda r: (r["spearman"], r["image"]))
    return ExplanationComparison(rows, first.method, (first.layer, second.layer), (maps_a, maps_b), (first, second))


def _same_size(maps: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    """Maps resized to ``size`` (models fed different input sizes explain at their own)."""
    if maps.shape[1:] == tuple(size):
        return maps
    import cv2

    return np.stack([cv2.resize(m, (size[1], size[0]), interpolation=cv2.INTER_LINEAR) for m in maps])
