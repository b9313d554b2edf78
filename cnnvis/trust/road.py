"""ROAD: RemOve And Debias (Rong et al., ICML 2022, arXiv:2202.00449), as pytorch-grad-cam's
``metrics/road.py`` computes it.

Removed pixels are not set to a constant (which leaks the mask's shape to the model) but filled by
noisy linear imputation: each one becomes the weighted mean of its eight neighbours (1/6 sideways,
1/12 diagonally), solved as one sparse linear system per image, plus a little Gaussian noise.
Most-relevant-first (MoRF) removes the pixels the map ranks highest: a faithful map makes the score
drop. Least-relevant-first (LeRF) removes the lowest: the score should hold. Both are averaged over
removal percentiles; ``combined = (LeRF - MoRF) / 2`` per image, higher is better.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import CnnvisError
from ..tables import Table
from .scoring import maps_of, scores_of, targets_of

PERCENTILES = (10, 20, 30, 40, 50, 60, 70, 80, 90)
# (row offset, column offset) -> weight of that neighbour in the imputation.
NEIGHBOURS = (((1, 1), 1 / 12), ((0, 1), 1 / 6), ((-1, 1), 1 / 12), ((1, -1), 1 / 12), ((0, -1), 1 / 6),
              ((-1, -1), 1 / 12), ((1, 0), 1 / 6), ((-1, 0), 1 / 6))


@dataclass
class RoadResult:
    """Score changes after imputation, ``(N, len(percentiles))`` for each order."""

    percentiles: np.ndarray
    morf: np.ndarray
    lerf: np.ndarray
    targets: list[int]
    metric: str = "road"

    @property
    def combined(self) -> np.ndarray:
        """Per image: the mean over percentiles of (LeRF - MoRF) / 2."""
        return (self.lerf.mean(axis=1) - self.morf.mean(axis=1)) / 2

    @property
    def mean_combined(self) -> float:
        return float(self.combined.mean())

    @property
    def table(self) -> Table:
        """Plot-ready rows: the removal percentile and the mean score change of each order."""
        return Table({"percentile": int(p), "morf": float(m), "lerf": float(lf)} for p, m, lf in
                     zip(self.percentiles, self.morf.mean(axis=0), self.lerf.mean(axis=0), strict=True))

    def to_dict(self) -> dict:
        return {"metric": self.metric, "percentiles": self.percentiles.tolist(),
                "morf": self.morf.mean(axis=0).tolist(), "lerf": self.lerf.mean(axis=0).tolist(),
                "combined": self.combined.tolist(), "mean_combined": self.mean_combined}

    def __repr__(self) -> str:
        return f"RoadResult(images={len(self.morf)}, mean_combined={self.mean_combined:.4f})"


def impute(image: np.ndarray, keep: np.ndarray, noise: float = 0.01, rng: Any = None) -> np.ndarray:
    """``image`` ``(C, H, W)`` with the pixels where ``keep`` ``(H, W)`` is False filled by noisy linear
    imputation from their neighbours."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import spsolve

    height, width = keep.shape
    flat_keep = keep.reshape(-1)
    missing = np.flatnonzero(~flat_keep)
    if len(missing) == 0:
        return image.copy()
    unknown_index = np.full(flat_keep.shape, -1, dtype=np.int64)
    unknown_index[missing] = np.arange(len(missing))
    rows0, cols0 = np.divmod(missing, width)
    values = image.reshape(len(image), -1).astype(np.float64)
    rhs = np.zeros((len(missing), len(image)))
    diagonal = np.ones(len(missing))
    a_rows, a_cols, a_vals = [], [], []
    for (dr, dc), weight in NEIGHBOURS:
        r, c = rows0 + dr, cols0 + dc
        inside = (r >= 0) & (c >= 0) & (r < height) & (c < width)
        diagonal[~inside] -= weight
        where = np.flatnonzero(inside)
        neighbour = r[where] * width + c[where]
        known = flat_keep[neighbour]
        rhs[where[known]] -= weight * values[:, neighbour[known]].T
        a_rows.append(where[~known])
        a_cols.append(unknown_index[neighbour[~known]])
        a_vals.append(np.full(int((~known).sum()), weight))
    a_rows.append(np.arange(len(missing)))
    a_cols.append(np.arange(len(missing)))
    a_vals.append(-diagonal)
    system = coo_matrix((np.concatenate(a_vals), (np.concatenate(a_rows), np.concatenate(a_cols))),
                        shape=(len(missing), len(missing))).tocsc()
    solved = np.asarray(spsolve(system, rhs)).reshape(len(missing), len(image))
    out = values.copy()
    out[:, missing] = solved.T
    if noise:
        out[:, missing] += noise * (rng or np.random.default_rng(0)).standard_normal((len(image), len(missing)))
    return out.reshape(image.shape).astype(np.float32)


def removal_mask(cam: np.ndarray, percentile: float, most_relevant: bool) -> np.ndarray:
    """True where a pixel stays: MoRF keeps those below the percentile of the map, LeRF those above
    the percentile of its complement (the same rule as pytorch-grad-cam)."""
    ranked = cam if most_relevant else 1 - cam
    return ranked < np.percentile(ranked, percentile)


def road(
    model: Any,
    inputs: Any,
    explanation: Any,
    *,
    target: Any = None,
    percentiles: Sequence[float] = PERCENTILES,
    score: str = "probability",
    noise: float = 0.01,
    seed: int = 0,
    batch_size: int = 64,
    progress: bool | Callable[[int, int], None] = True,
) -> RoadResult:
    """ROAD of ``explanation`` (an Explanation or ``(N, H, W)`` maps in [0, 1]) on ``inputs``.

    ``score``: the target's softmax ``"probability"`` or pre-softmax ``"logit"``; ``noise``: the
    imputation noise's standard deviation (0.01 as in the paper); ``seed`` makes it repeatable.
    """
    from tqdm.auto import tqdm

    from ..adapters.base import resolve_adapter

    if score not in ("probability", "logit"):
        raise CnnvisError(f"score must be 'probability' or 'logit', not {score!r}.")
    if not percentiles or any(not 0 < float(p) < 100 for p in percentiles):
        raise CnnvisError("percentiles must be numbers between 0 and 100 (exclusive).")
    adapter = resolve_adapter(model)
    images = adapter.inputs_nchw(adapter.prepare_inputs(inputs)).astype(np.float32)
    maps = maps_of(explanation, images.shape)
    targets = targets_of(adapter, images, explanation, target)
    rng = np.random.default_rng(seed)
    before = scores_of(adapter, images, targets, score)
    jobs = [(most, k, i) for most in (True, False) for k in range(len(percentiles)) for i in range(len(images))]
    changes = np.empty(len(jobs))
    bar = tqdm(total=len(jobs), desc="ROAD", unit="img", disable=progress is not True, leave=False)
    for begin in range(0, len(jobs), batch_size):
        chunk = jobs[begin:begin + batch_size]
        batch = np.stack([impute(images[i], removal_mask(maps[i], percentiles[k], most), noise, rng)
                          for most, k, i in chunk])
        after = scores_of(adapter, batch, [targets[i] for _, _, i in chunk], score)
        changes[begin:begin + len(chunk)] = after - before[[i for _, _, i in chunk]]
        bar.update(len(chunk))
        if callable(progress):
            progress(min(begin + batch_size, len(jobs)), len(jobs))
    bar.close()
    morf, lerf = changes.reshape(2, len(percentiles), len(images)).transpose(0, 2, 1)
    return RoadResult(percentiles=np.asarray(percentiles, dtype=np.float64), morf=morf, lerf=lerf, targets=targets)
