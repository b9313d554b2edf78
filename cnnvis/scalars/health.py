"""Training health checks over read scalars (and, optionally, gradient histograms)."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

from cnnvis.scalars.series import HistogramSeries, Series

_LR = re.compile(r"(^|[/_\-. ])lr($|[/_\-. \d])|learning.?rate", re.I)
_VAL = re.compile(r"(^|[/_\-.])(val|valid|validation|eval|evaluation|test)([/_\-.]|$)", re.I)
_TRAIN_RUNS = ("train", "training")
_VAL_RUNS = ("validation", "val", "valid", "eval", "evaluation", "test")
_MAX_PER_TAG = 5


@dataclass
class Alert:
    """One finding. ``kind``: nan, spike, overfitting, exploding_gradient, vanishing_gradient,
    zero_lr. ``severity``: "error" (training is broken) or "warning" (worth a look)."""

    kind: str
    run: str
    tag: str
    first_step: int
    last_step: int
    message: str
    severity: str = "warning"

    def to_dict(self) -> dict:
        return asdict(self)


def health_alerts(runs: Mapping[str, Mapping[str, Series]] | str,
                  histograms: Mapping[str, Mapping[str, HistogramSeries]] | None = None, *,
                  window: int = 50, z_threshold: float = 8.0, patience: int = 3,
                  grad_ratio: float = 100.0) -> list[Alert]:
    """Alerts for NaN/inf values, loss spikes, validation loss rising while training loss
    falls, exploding/vanishing gradients and a zero learning rate. Empty for a healthy run.

    ``runs`` is what :func:`read_scalars` returns (or a logdir, read for you). Spikes are points
    whose robust z-score (against the median and MAD of the previous ``window`` points) exceeds
    ``z_threshold``; overfitting needs ``patience`` consecutive rising evaluations; a gradient
    explodes above ``grad_ratio`` x its early median and vanishes below 1/``grad_ratio**2`` of it.
    """
    if isinstance(runs, str):
        from cnnvis.scalars.reader import read_scalars

        runs = read_scalars(runs)
    alerts: list[Alert] = []
    for run, tags in runs.items():
        for tag, s in tags.items():
            alerts += _non_finite(run, tag, s)
            low = tag.lower()
            if "loss" in low and "scale" not in low:  # AMP's loss_scale jumps by design
                alerts += _spikes(run, tag, s, window, z_threshold)
            if "grad" in low and "norm" in low:
                alerts += _gradients(run, tag, s.steps, s.values, grad_ratio)
            if _LR.search(tag):
                alerts += _zero_lr(run, tag, s)
    for run, train_tag, val_run, val_tag in _loss_pairs(runs):
        alerts += _overfitting(runs[run][train_tag], runs[val_run][val_tag], val_run, val_tag, patience)
    for run, tags in (histograms or {}).items():
        for tag, h in tags.items():
            if "grad" in tag.lower() and len(h):
                peak = np.maximum(np.abs(h.min), np.abs(h.max))
                alerts += _gradients(run, tag, h.steps, peak, grad_ratio)
    return alerts


def _stretches(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) index pairs (inclusive) of the runs of True in ``mask``."""
    if not mask.any():
        return []
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), (np.flatnonzero(d == -1) - 1).tolist(), strict=True))


def _non_finite(run: str, tag: str, s: Series) -> list[Alert]:
    bad = ~np.isfinite(s.values)
    if not bad.any():
        return []
    where = np.flatnonzero(bad)
    kinds = sorted({"NaN" if np.isnan(x) else "inf" for x in s.values[where[:1000]]})
    return [Alert("nan", run, tag, int(s.steps[where[0]]), int(s.steps[where[-1]]),
                  f"{tag}: {len(where)} {'/'.join(kinds)} value(s) from step {s.steps[where[0]]}; "
                  "check the learning rate, the loss inputs and for division by zero.", "error")]


def _spikes(run: str, tag: str, s: Series, window: int, z: float) -> list[Alert]:
    finite = np.isfinite(s.values)
    v, steps = s.values[finite], s.steps[finite]
    nblocks = len(v) // window
    if nblocks < 2:
        return []
    # Each point is scored against the median/MAD of the previous full block of ``window``
    # points: one median per block keeps this linear in the series length.
    blocks = v[: nblocks * window].reshape(nblocks, window)
    med = np.median(blocks, axis=1)
    mad = np.median(np.abs(blocks - med[:, None]), axis=1)
    scale = np.maximum(1.4826 * mad, 1e-3 * np.abs(med) + 1e-12)
    ref = np.arange(window, len(v)) // window - 1
    x = v[window:]
    score = (x - med[ref]) / scale[ref]
    alerts = []
    for a, b in _stretches(score > z)[:_MAX_PER_TAG]:
        i = a + int(np.argmax(x[a: b + 1]))
        alerts.append(Alert("spike", run, tag, int(steps[window + a]), int(steps[window + b]),
                            f"{tag} spiked to {x[i]:.4g} at step {steps[window + i]} (recent median "
                            f"{med[ref[i]]:.4g}, robust z {score[i]:.1f}); consider a lower learning rate "
                            "or gradient clipping."))
    return alerts


def _gradients(run: str, tag: str, steps: np.ndarray, values: np.ndarray, ratio: float) -> list[Alert]:
    ok = np.isfinite(values)
    v, st = np.abs(values[ok]), steps[ok]
    if len(v) < 3:
        return []
    base = float(np.median(v[: max(3, len(v) // 10)]))
    alerts = []
    big = (v > ratio * base) | (v > 1e6) if base > 0 else v > 1e6
    if big.any():
        i = np.flatnonzero(big)
        alerts.append(Alert("exploding_gradient", run, tag, int(st[i[0]]), int(st[i[-1]]),
                            f"{tag} reached {v[i].max():.4g} (early median {base:.4g}); gradients are "
                            "exploding: lower the learning rate or clip gradients.", "error"))
    small = (v < base / ratio**2) | (v < 1e-10) if base > 0 else v < 1e-10
    tail = _stretches(small)
    if tail and tail[-1][1] == len(v) - 1 and tail[-1][1] - tail[-1][0] + 1 >= 2:
        a, b = tail[-1]
        alerts.append(Alert("vanishing_gradient", run, tag, int(st[a]), int(st[b]),
                            f"{tag} fell to {v[b]:.3g} (early median {base:.4g}); gradients are "
                            "vanishing: check activations, initialisation and normalisation."))
    return alerts


def _zero_lr(run: str, tag: str, s: Series) -> list[Alert]:
    zero = s.values == 0
    if len(zero) and zero[-1] and zero.sum() == 1:
        return []  # a schedule that ends at exactly zero on its final step is normal
    return [Alert("zero_lr", run, tag, int(s.steps[a]), int(s.steps[b]),
                  f"{tag} is 0 from step {s.steps[a]} to {s.steps[b]}: the weights are not being updated.",
                  "error") for a, b in _stretches(zero)[:_MAX_PER_TAG]]


def _loss_pairs(runs: Mapping[str, Mapping[str, Series]]) -> list[tuple[str, str, str, str]]:
    """(train run, train tag, validation run, validation tag) for every loss seen both ways."""
    pairs = []
    for run, tags in runs.items():
        parent, leaf = posixpath.split(run)
        if leaf.lower() in _TRAIN_RUNS:
            for other in runs:
                p2, l2 = posixpath.split(other)
                if p2 == parent and l2.lower() in _VAL_RUNS:
                    pairs += [(run, t, other, t) for t in tags if "loss" in t.lower() and t in runs[other]]
        for tag in tags:
            if "loss" not in tag.lower() or not _VAL.search(tag):
                continue
            for cand in _train_names(tag):
                if cand in tags and cand != tag:
                    pairs.append((run, cand, run, tag))
                    break
    return pairs


def _train_names(val_tag: str) -> list[str]:
    """``val_loss`` -> ``train_loss``, ``training_loss``, ``loss`` (``val/loss`` alike)."""
    m = _VAL.search(val_tag)
    if m is None:
        return []
    before, after = val_tag[: m.start(2)], val_tag[m.end(2):]
    names = [before + word + after for word in ("train", "training")]
    if after[:1] in ("/", "_", "-", "."):
        names.append(before + after[1:])
    elif before[-1:] in ("/", "_", "-", "."):
        names.append(before[:-1] + after)
    return names


def _binned(steps: np.ndarray, values: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``bins`` equal-count bin means: frequent evaluations reduced to a trend."""
    if len(values) <= bins:
        return steps, values
    edges = np.linspace(0, len(values), bins + 1).astype(np.int64)
    means = np.add.reduceat(values, edges[:-1]) / np.diff(edges)
    return steps[edges[1:] - 1], means


def _overfitting(train: Series, val: Series, run: str, tag: str, patience: int) -> list[Alert]:
    ok_v = np.isfinite(val.values)
    vs, vv = _binned(val.steps[ok_v], val.values[ok_v], 200)
    ok_t = np.isfinite(train.values)
    ts, tv = train.steps[ok_t], train.values[ok_t]
    if len(vv) <= max(patience, 3) or len(tv) < 2:
        return []
    order = np.argsort(ts, kind="stable")
    ts, tv = ts[order], tv[order]
    # Noise level from second differences (a linear trend cancels out): a rise must clear it
    # clearly, or a noisy validation curve would "rise" three times in a row by chance.
    dd = np.diff(vv, 2)
    noise = 1.4826 * np.median(np.abs(dd - np.median(dd))) / np.sqrt(6.0)
    rising = np.diff(vv) > 0
    alerts = []
    for a, b in _stretches(rising):
        if b - a + 1 < patience or vv[b + 1] - vv[a] <= 5 * noise:
            continue
        s0, s1 = vs[a], vs[b + 1]
        t0, t1 = np.interp([s0, s1], ts, tv)
        if t1 < t0:
            alerts.append(Alert("overfitting", run, tag, int(s0), int(s1),
                                f"{tag} rose for {b - a + 1} evaluations (steps {s0}-{s1}, {vv[a]:.4g} -> "
                                f"{vv[b + 1]:.4g}) while the training loss fell ({t0:.4g} -> {t1:.4g}): "
                                "the model is overfitting; consider early stopping or regularisation."))
    return alerts[:_MAX_PER_TAG]
