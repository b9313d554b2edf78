"""downsample, smooth and x_axis."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from cnnvis.errors import CnnvisError
from cnnvis.scalars import Series, downsample, smooth, x_axis


def make_series(values) -> Series:
    values = np.asarray(values, np.float64)
    steps = np.arange(len(values), dtype=np.int64) * 10
    return Series(steps, values, 1.7e9 + steps * 0.5)


def tensorboard_smoothing(values, weight):
    """TensorBoard's scalar-dashboard smoothing, transcribed from its TypeScript."""
    last, num_accum = (0.0 if len(values) else math.nan), 0
    is_constant = all(v == values[0] for v in values)
    out = []
    for v in values:
        if is_constant or not math.isfinite(v):
            out.append(v)
            continue
        last = last * weight + (1 - weight) * v
        num_accum += 1
        debias = 1.0 if weight == 1 else 1 - math.pow(weight, num_accum)
        out.append(last / debias)
    return out


def test_downsample_keeps_first_last_and_extremes():
    rng = np.random.default_rng(0)
    values = rng.normal(size=1_000_000).cumsum()
    values[123_457] = values.max() + 100  # global max in the middle of a bucket
    values[987_001] = values.min() - 100
    s = make_series(values)
    d = downsample(s, 2000)
    assert 1000 < len(d) <= 2000
    assert d.steps[0] == s.steps[0] and d.steps[-1] == s.steps[-1]
    assert d.values.max() == values.max() and d.values.min() == values.min()
    assert np.all(np.diff(d.steps) > 0)
    # Every kept interior point is its bucket's min or max, and the band brackets it.
    assert np.all((d.values == d.lo) | (d.values == d.hi))
    assert np.all(d.lo <= d.values) and np.all(d.values <= d.hi)
    assert d.counts.sum() - 2 == pytest.approx(2 * (len(values) - 2), rel=0.01)  # two points per bucket


def test_downsample_every_bucket_extreme_and_nan():
    values = np.sin(np.arange(10_000) / 50.0)
    values[5000] = np.nan
    d = downsample(make_series(values), 100)
    assert np.isnan(d.values).sum() == 1
    size = -(-(len(values) - 2) // 49)
    inner = values[1:-1]
    for b in range(49):
        chunk = inner[b * size:(b + 1) * size]
        assert np.nanmax(chunk) in d.values and np.nanmin(chunk) in d.values


def test_downsample_short_series_unchanged():
    s = make_series([3.0, 1.0, 2.0])
    d = downsample(s, 2000)
    np.testing.assert_array_equal(d.values, s.values)
    np.testing.assert_array_equal(d.lo, s.values)


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.6, 0.9, 0.99, 0.999, 1.0])
def test_smooth_equals_tensorboard(weight):
    rng = np.random.default_rng(1)
    values = rng.normal(size=5000).cumsum()
    values[[10, 11, 400]] = [np.nan, np.inf, -np.inf]
    got = smooth(values, weight)
    np.testing.assert_array_equal(got, tensorboard_smoothing(values.tolist(), weight))
    if weight == 0.0:
        np.testing.assert_array_equal(got, values)


def test_smooth_without_scipy_is_identical(monkeypatch):
    values = np.random.default_rng(2).normal(size=3000)
    expected = tensorboard_smoothing(values.tolist(), 0.95)
    monkeypatch.setitem(sys.modules, "scipy.signal", None)  # makes the import fail
    np.testing.assert_array_equal(smooth(values, 0.95), expected)


def test_smooth_constant_and_series_input():
    np.testing.assert_array_equal(smooth(np.full(10, 2.5), 0.9), np.full(10, 2.5))
    s = make_series([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(smooth(s, 0.5), tensorboard_smoothing([1.0, 2.0, 3.0], 0.5))
    with pytest.raises(CnnvisError):
        smooth(s, 1.5)


def test_x_axis():
    s = make_series([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(x_axis(s, "step"), [0, 10, 20])
    np.testing.assert_array_equal(x_axis(s, "relative"), [0.0, 5.0, 10.0])
    np.testing.assert_array_equal(x_axis(s, "wall"), s.wall_times)
    with pytest.raises(CnnvisError, match="relative"):
        x_axis(s, "epoch")
