"""Scalars for display: every point kept in memory, downsampled and smoothed per request.

A :class:`LogdirCache` tails its logdir, so a refresh reads only what was appended since.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from ..scalars import ScalarTail, Series, downsample, health_alerts, smooth
from .dispatch_types import Reply
from .errors import BadRequest, NotFound

DEFAULT_POINTS = 2000
MAX_POINTS = 100_000


class LogdirCache:
    """Every point of every run/tag of one logdir, refreshed incrementally."""

    def __init__(self, logdir: str, roots: Sequence[str] | None = None):
        self.logdir = logdir
        self._tail = ScalarTail(logdir, roots)
        self._parts: dict[str, dict[str, list[Series]]] = {}
        self._series: dict[str, dict[str, Series]] = {}
        self._smoothed: dict[tuple, tuple[int, np.ndarray]] = {}
        self._lock = threading.Lock()
        self.refreshed = 0.0

    def refresh(self) -> dict[str, dict[str, Series]]:
        """Read what was appended; return only the new points (same shape as read_scalars)."""
        with self._lock:
            new = self._tail.poll()
            for run, tags in new.items():
                for tag, series in tags.items():
                    if len(series):
                        self._parts.setdefault(run, {}).setdefault(tag, []).append(series)
                        self._series.setdefault(run, {}).pop(tag, None)
            self.refreshed = time.monotonic()
            return new

    def series(self, run: str, tag: str) -> Series:
        with self._lock:
            cached = self._series.setdefault(run, {}).get(tag)
            if cached is None:
                parts = self._parts.get(run, {}).get(tag)
                if parts is None:
                    # The client's logdir is not known here, and the server's real path is not for clients.
                    raise NotFound(f"No tag {tag!r} in run {run!r} of this logdir.")
                cached = Series.concat(parts)
                self._parts[run][tag] = [cached]  # keep one concatenated part from now on
                self._series[run][tag] = cached
            return cached

    def smoothed(self, run: str, tag: str, weight: float) -> np.ndarray:
        """The whole series smoothed, kept until the series grows (smoothing is O(points))."""
        series = self.series(run, tag)
        key = (run, tag, weight)
        with self._lock:
            count, values = self._smoothed.get(key, (-1, None))
            if count != len(series):
                values = smooth(series.values, weight)
                self._smoothed[key] = (len(series), values)
            return values

    def runs(self) -> dict[str, list[str]]:
        with self._lock:
            return {run: sorted(tags) for run, tags in sorted(self._parts.items())}

    def all_series(self) -> dict[str, dict[str, Series]]:
        return {run: {tag: self.series(run, tag) for tag in tags} for run, tags in self.runs().items()}


class ScalarService:
    """Answers runs / scalars / alerts for logdirs, each cached after its first read."""

    def __init__(self, max_age: float = 1.0, max_logdirs: int = 16):
        self._caches: OrderedDict[str, LogdirCache] = OrderedDict()
        self._lock = threading.Lock()
        self.max_age = max_age  # seconds between re-reads of a logdir on plain queries
        self.max_logdirs = max_logdirs  # least recently used logdirs are dropped beyond this
        self.roots: Sequence[str] | None = None  # a server's readable directories (symlinks followed)

    def cache(self, logdir: str) -> LogdirCache:
        with self._lock:
            cache = self._caches.get(logdir)
            if cache is None:
                cache = self._caches[logdir] = LogdirCache(logdir, self.roots)
            self._caches.move_to_end(logdir)
            while len(self._caches) > self.max_logdirs:
                self._caches.popitem(last=False)
        if time.monotonic() - cache.refreshed > self.max_age:
            cache.refresh()
        return cache

    def runs(self, logdir: str) -> Reply:
        cache = self.cache(logdir)
        runs = []
        for run, tags in cache.runs().items():
            info = []
            for tag in tags:
                s = cache.series(run, tag)
                info.append({"tag": tag, "points": len(s), "last_step": int(s.steps[-1]) if len(s) else None})
            runs.append({"run": run, "tags": info})
        return Reply({"logdir": logdir, "runs": runs})

    def scalars(self, logdir: str, run: str, tag: str, points: int = DEFAULT_POINTS,
                smoothing: float = 0.0, since: int = 0) -> Reply:
        points = _bounded_int(points, "points", 3, MAX_POINTS)
        since = _bounded_int(since, "since", 0, None)
        if not 0.0 <= float(smoothing) < 1.0:
            raise BadRequest("smoothing must be in [0, 1).")
        cache = self.cache(logdir)
        full = cache.series(run, tag)
        total = len(full)
        part = full if since == 0 else Series(full.steps[since:], full.values[since:], full.wall_times[since:])
        shown = downsample(part, points)
        result = {
            "run": run, "tag": tag, "total": total, "since": since, "cursor": total,
            "downsampled": len(shown) < len(part),
            "steps": shown.steps.tolist(),
            "values": json_floats(shown.values),
            "wall_times": shown.wall_times.tolist(),
            "lo": json_floats(shown.lo), "hi": json_floats(shown.hi),
        }
        if smoothing:
            # Smooth the whole series, then pick the kept points: smoothing must not depend on zoom.
            smoothed = cache.smoothed(run, tag, float(smoothing))[since:]
            index = np.searchsorted(part.steps, shown.steps) if _sorted(part.steps) else None
            result["smoothed"] = json_floats(smoothed[index] if index is not None else smooth(shown.values,
                                                                                                float(smoothing)))
        return Reply(result)

    def alerts(self, logdir: str) -> Reply:
        alerts = health_alerts(self.cache(logdir).all_series())
        return Reply({"logdir": logdir, "alerts": [a.to_dict() for a in alerts]})


def _sorted(steps: np.ndarray) -> bool:
    return bool(len(steps) < 2 or np.all(np.diff(steps) > 0))


def _bounded_int(value, name: str, low: int, high: int | None) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{name} must be an integer, not {value!r}.") from None
    if number < low or (high is not None and number > high):
        raise BadRequest(f"{name} must be between {low} and {high if high is not None else 'any'}.")
    return number


def json_floats(values: np.ndarray | None) -> list:
    """JSON has no NaN/inf: send them as strings the views understand."""
    if values is None:
        return []
    out = values.astype(object)
    bad = ~np.isfinite(values)
    if bad.any():
        out[np.isnan(values)] = "NaN"
        out[np.isposinf(values)] = "Infinity"
        out[np.isneginf(values)] = "-Infinity"
    return out.tolist()
