"""Preparing series for plotting: envelope downsampling, TensorBoard smoothing, x axes."""

from __future__ import annotations

import math

import numpy as np

from cnnvis.errors import CnnvisError
from cnnvis.scalars.series import Series

_AXES = {"step": "step", "steps": "step", "relative": "relative", "relative_time": "relative",
         "wall": "wall", "wall_time": "wall", "wall_times": "wall"}


def downsample(series: Series, points: int = 2000) -> Series:
    """At most about ``points`` points that keep the shape of ``series``.

    The interior is cut into equal-count buckets; each bucket keeps its minimum and maximum
    point (and its first non-finite point, so NaN/inf stay visible), and the first and last
    points are always kept, so the global extremes survive. Kept points stay in their original
    order. The result also has ``lo``/``hi`` (the finite min/max of the bucket each kept point
    comes from, for drawing an envelope band) and ``counts`` (that bucket's size).
    """
    n = len(series)
    if n <= max(points, 3):
        return Series(series.steps, series.values, series.wall_times, lo=series.values.copy(),
                      hi=series.values.copy(), counts=np.ones(n, np.int64))
    inner = series.values[1:-1]
    buckets = max(1, (points - 2) // 2)
    size = -(-len(inner) // buckets)
    buckets = -(-len(inner) // size)
    padded = np.full(buckets * size, np.nan)
    padded[: len(inner)] = inner
    grid = padded.reshape(buckets, size)
    finite = np.isfinite(grid)
    lo_grid = np.where(finite, grid, np.inf)
    hi_grid = np.where(finite, grid, -np.inf)
    starts = np.arange(buckets) * size
    keep = [starts + lo_grid.argmin(axis=1), starts + hi_grid.argmax(axis=1)]
    real = np.arange(buckets * size).reshape(buckets, size) < len(inner)
    odd = ~finite & real
    if odd.any():
        rows = np.flatnonzero(odd.any(axis=1))
        keep.append(starts[rows] + odd[rows].argmax(axis=1))
    idx = np.unique(np.concatenate(keep)) + 1  # back to indices into the full series
    idx = np.concatenate([[0], idx, [n - 1]])
    bucket_lo, bucket_hi = lo_grid.min(axis=1), hi_grid.max(axis=1)
    bucket_n = np.minimum(size, len(inner) - starts)
    which = (idx[1:-1] - 1) // size
    v = series.values
    lo = np.concatenate([[v[0]], bucket_lo[which], [v[-1]]])
    hi = np.concatenate([[v[0]], bucket_hi[which], [v[-1]]])
    counts = np.concatenate([[1], bucket_n[which], [1]]).astype(np.int64)
    empty = ~np.isfinite(lo) & ~np.isfinite(hi)  # buckets without any finite value
    lo[empty], hi[empty] = np.nan, np.nan
    return Series(series.steps[idx], v[idx], series.wall_times[idx], lo=lo, hi=hi, counts=counts)


def smooth(values: np.ndarray | Series, weight: float) -> np.ndarray:
    """TensorBoard's smoothing: a debiased exponential moving average.

    Same as TensorBoard's scalar dashboard: ``last = last * weight + (1 - weight) * v``,
    divided by ``1 - weight ** n`` (n = finite values so far). Non-finite values pass through
    unchanged and do not update the average; a constant series is returned as is; weight 0 is
    the identity. ``weight`` must be in [0, 1].
    """
    v = np.asarray(values.values if isinstance(values, Series) else values, np.float64)
    if not 0.0 <= weight <= 1.0:
        raise CnnvisError(f"Smoothing weight {weight!r} is outside [0, 1]; TensorBoard's slider uses 0-0.999.")
    if len(v) == 0 or weight == 0.0 or np.all(v == v[0]):
        return v.copy()
    finite = np.isfinite(v)
    x = v[finite]
    last = _ema(x, weight)
    debias = np.ones(len(x))
    if weight != 1.0:
        # 1 - w**n is exactly 1.0 once w**n < 2**-54, so only the head needs pow().
        head = len(x) if weight == 0.0 else min(len(x), int(60 / -math.log2(weight)) + 2)
        debias[:head] = [1.0 - weight ** k for k in range(1, head + 1)]
    out = v.copy()
    out[finite] = last / debias
    return out


def _ema(x: np.ndarray, weight: float) -> np.ndarray:
    """``last_k = last_{k-1} * weight + (1 - weight) * x_k`` from ``last_0 = 0``, sequentially."""
    try:
        from scipy.signal import lfilter
    except ImportError:
        lfilter = None
    if lfilter is not None:
        # Direct form II transposed computes (1-w)*x_k + w*last_{k-1}: the same two products
        # and one addition per step as TensorBoard, so the results are bit-identical.
        return lfilter([1.0 - weight], [1.0, -weight], x)
    out = np.empty(len(x))
    last, b = 0.0, 1.0 - weight
    for i, xi in enumerate(x.tolist()):
        last = last * weight + b * xi
        out[i] = last
    return out


def x_axis(series: Series, kind: str = "step") -> np.ndarray:
    """The x values to plot ``series`` against.

    ``"step"``: the steps (int64); ``"relative"``: seconds since the series' first point, as
    TensorBoard's "Relative" axis; ``"wall"``: seconds since the Unix epoch (float64;
    ``.astype("datetime64[s]")`` for dates).
    """
    axis = _AXES.get(kind.lower())
    if axis is None:
        raise CnnvisError(f"Unknown x axis {kind!r}; use 'step', 'relative' or 'wall'.")
    if axis == "step":
        return series.steps
    if axis == "relative":
        return series.wall_times - series.wall_times[0] if len(series) else series.wall_times.copy()
    return series.wall_times
