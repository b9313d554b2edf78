"""``cnnvis.faithfulness``: deletion and insertion curves (Petsiuk et al. 2018, RISE).

Deletion replaces the pixels the map ranks highest with a baseline, a growing fraction at a time,
and follows the target class probability: a faithful map makes it fall fast (low AUC). Insertion
starts from the baseline image and puts the pixels back in the same order (high AUC is good).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from tqdm.auto import tqdm

from ..errors import CnnvisError
from ..tables import Table
from .road import RoadResult, road
from .scoring import maps_of, scores_of, targets_of

METRICS = ("deletion", "insertion")


@dataclass
class FaithfulnessResult:
    """``curves`` ``(N, steps + 1)``: the target score after perturbing ``fractions`` of the pixels."""

    metric: str
    fractions: np.ndarray
    curves: np.ndarray
    targets: list[int]

    @property
    def auc(self) -> np.ndarray:
        """Area under each image's curve (the x axis is the fraction of pixels, 0 to 1)."""
        return np.trapezoid(self.curves, self.fractions, axis=1)

    @property
    def mean_auc(self) -> float:
        return float(self.auc.mean())

    @property
    def table(self) -> Table:
        """Plot-ready rows: fraction of pixels and the mean score over images."""
        means = self.curves.mean(axis=0)
        return Table({"fraction": float(f), "score": float(s)} for f, s in zip(self.fractions, means, strict=True))

    def to_dict(self) -> dict:
        return {"metric": self.metric, "fractions": self.fractions.tolist(),
                "mean_curve": self.curves.mean(axis=0).tolist(), "auc": self.auc.tolist(),
                "mean_auc": self.mean_auc}

    def __repr__(self) -> str:
        return f"FaithfulnessResult(metric={self.metric!r}, images={len(self.curves)}, mean_auc={self.mean_auc:.4f})"


def faithfulness(
    model: Any,
    inputs: Any,
    explanation: Any,
    metric: str = "deletion",
    *,
    target: Any = None,
    steps: int = 32,
    baseline: float | str = 0.0,
    score: str = "probability",
    batch_size: int = 64,
    progress: bool | Callable[[int, int], None] = True,
) -> FaithfulnessResult | RoadResult:
    """Deletion or insertion curve and AUC of ``explanation`` (an Explanation or ``(N, H, W)`` maps).

    ``baseline``: the value removed pixels take (all channels), or ``"blur"`` for a blurred copy of
    the image (the usual start for insertion). ``score``: the target's softmax ``"probability"`` or
    its pre-softmax ``"logit"``. ``target``: defaults to the explanation's classes, else the top class.
    Perturbed images go through the model ``batch_size`` at a time.
    """
    from ..adapters.base import resolve_adapter

    if metric == "road":  # ROAD's imputation instead of a constant: its own result, see trust.road
        return road(model, inputs, explanation, target=target, score=score, batch_size=batch_size,
                    progress=progress)
    if metric not in METRICS:
        raise CnnvisError(f"metric must be one of {', '.join(METRICS)} or road, not {metric!r}.")
    if score not in ("probability", "logit"):
        raise CnnvisError(f"score must be 'probability' or 'logit', not {score!r}.")
    if not isinstance(steps, int) or steps < 1:
        raise CnnvisError(f"steps must be a positive integer, not {steps!r}.")
    adapter = resolve_adapter(model)
    images = adapter.inputs_nchw(adapter.prepare_inputs(inputs)).astype(np.float32)
    maps = maps_of(explanation, images.shape)
    targets = targets_of(adapter, images, explanation, target)
    fractions = np.linspace(0.0, 1.0, steps + 1)
    order = np.argsort(-maps.reshape(len(maps), -1), axis=1, kind="stable")  # most important first
    start = _baseline_images(images, baseline)
    curves = np.empty((len(images), steps + 1), dtype=np.float64)
    jobs = [(i, k) for i in range(len(images)) for k in range(steps + 1)]
    bar = tqdm(total=len(jobs), desc=metric, unit="img", disable=progress is not True, leave=False)
    for begin in range(0, len(jobs), batch_size):
        chunk = jobs[begin:begin + batch_size]
        batch = np.stack([_perturbed(images[i], start[i], order[i], fractions[k], metric) for i, k in chunk])
        rows = [i for i, _ in chunk]
        values = scores_of(adapter, batch, [targets[i] for i in rows], score)
        for (i, k), value in zip(chunk, values, strict=True):
            curves[i, k] = value
        bar.update(len(chunk))
        if callable(progress):
            progress(min(begin + batch_size, len(jobs)), len(jobs))
    bar.close()
    return FaithfulnessResult(metric=metric, fractions=fractions, curves=curves, targets=targets)


def _baseline_images(images: np.ndarray, baseline: float | str) -> np.ndarray:
    if isinstance(baseline, str):
        if baseline != "blur":
            raise CnnvisError(f"baseline must be a number or 'blur', not {baseline!r}.")
        # A heavy Gaussian blur keeps colours but removes the shapes the model could use.
        sigma = max(images.shape[-2:]) / 16
        return np.stack([[cv2.GaussianBlur(c, (0, 0), sigma) for c in img] for img in images])
    return np.full_like(images, float(baseline))


def _perturbed(image: np.ndarray, start: np.ndarray, order: np.ndarray, fraction: float, metric: str) -> np.ndarray:
    count = int(round(fraction * len(order)))
    chosen = np.zeros(len(order), dtype=bool)
    chosen[order[:count]] = True
    chosen = chosen.reshape(image.shape[1:])[None]  # the same pixels in every channel
    if metric == "deletion":
        return np.where(chosen, start, image)
    return np.where(chosen, image, start)
