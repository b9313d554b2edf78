"""Training media for the panel: live scalar updates, histograms over steps and image summaries.

``scalar_updates`` is how views follow a logdir while training runs. The client holds a cursor per
run/tag (how many points it already has); the reply carries only the points after it, so every
point reaches a view exactly once and in order, whoever else refreshes the shared cache meanwhile.
A run/tag the client has never seen starts at cursor 0 and is downsampled with the min/max envelope.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..scalars import HistogramSeries, ImageEvent, Series, downsample, read_histograms, read_images
from .dispatch_types import Reply
from .errors import BadRequest, NotFound
from .scalars import DEFAULT_POINTS, MAX_POINTS, ScalarService

# A live view polls about once a second; re-reading the logdir more often than this is wasted work.
MIN_REFRESH_S = 0.2
DEFAULT_HISTOGRAMS = 100  # TensorBoard keeps 500 per tag; 100 ridges already overlap on screen
DEFAULT_IMAGES = 20
MEDIA_TTL_S = 1.0
MEDIA_KEPT = 4  # whole-logdir reads kept at once (each can hold every image of a logdir)


def floats(values: np.ndarray) -> list:
    """JSON has no NaN/inf: they travel as the strings "NaN", "Infinity", "-Infinity"."""
    out = values.astype(object)
    if not np.isfinite(values).all():
        out[np.isnan(values)] = "NaN"
        out[np.isposinf(values)] = "Infinity"
        out[np.isneginf(values)] = "-Infinity"
    return out.tolist()


def _int(args: dict, name: str, default: int, low: int, high: int | None = None) -> int:
    value = args.get(name, default)
    try:
        number = int(default if value is None else value)
    except (TypeError, ValueError):
        raise BadRequest(f"{name} must be an integer, not {value!r}.") from None
    if number < low or (high is not None and number > high):
        raise BadRequest(f"{name} must be between {low} and {high if high is not None else 'any'}.")
    return number


# --- live scalars ---------------------------------------------------------------------------------

def scalar_updates(service: ScalarService, logdir: str, args: dict) -> Reply:
    """Points after each client cursor, for every run/tag (new ones included).

    ``cursors``: ``{run: {tag: count}}``. A series that shrank below its cursor (a restarted job
    whose old points were discarded) is sent again from 0 with ``reset: true``.
    """
    cursors = _cursors(args.get("cursors"))
    points = _int(args, "points", DEFAULT_POINTS, 3, MAX_POINTS)
    cache = service.cache(logdir)
    if time.monotonic() - cache.refreshed > MIN_REFRESH_S:
        cache.refresh()
    out = []
    for run, tags in cache.runs().items():
        seen = cursors.get(run) or {}
        for tag in tags:
            full = cache.series(run, tag)
            since = seen.get(tag, 0)
            reset = since > len(full)
            since = 0 if reset else since
            if since == len(full):
                continue
            out.append(_chunk(run, tag, full, since, points, reset))
    return Reply({"logdir": logdir, "series": out})


def _cursors(value: Any) -> dict[str, dict[str, int]]:
    """``{run: {tag: count}}`` checked, so a malformed cursor is a 400 and not a failure midway.
    Empty or null entries mean "nothing seen yet"."""
    message = "cursors must be an object {run: {tag: count}} with counts >= 0."
    if not value:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(message)
    out: dict[str, dict[str, int]] = {}
    for run, tags in value.items():
        if tags and not isinstance(tags, dict):
            raise BadRequest(message)
        for tag, count in (tags or {}).items():
            count = 0 if count is None else count
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise BadRequest(message)
            out.setdefault(str(run), {})[str(tag)] = count
    return out


def _chunk(run: str, tag: str, full: Series, since: int, points: int, reset: bool) -> dict:
    part = full if since == 0 else Series(full.steps[since:], full.values[since:], full.wall_times[since:])
    shown = downsample(part, points)
    return {
        "run": run, "tag": tag, "since": since, "cursor": len(full), "reset": reset,
        "downsampled": len(shown) < len(part),
        "steps": shown.steps.tolist(), "values": floats(shown.values), "wall_times": shown.wall_times.tolist(),
        "lo": floats(shown.lo), "hi": floats(shown.hi),
    }


# --- histograms and images ------------------------------------------------------------------------

class _Reads:
    """Whole-logdir reads of histograms / images, reused for a second so a view's burst of
    requests (the tag list, then each tag) reads the files once. Expired reads are dropped at
    every store and at most ``MEDIA_KEPT`` are kept, so the cache never outgrows a few logdirs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], tuple[float, Any]] = {}

    def get(self, what: str, logdir: str, read: Any) -> Any:
        key = (what, logdir)
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and time.monotonic() - hit[0] < MEDIA_TTL_S:
                return hit[1]
        try:
            value = read(logdir)
        except FileNotFoundError:
            value = {}
        with self._lock:
            now = time.monotonic()
            self._entries = {k: v for k, v in self._entries.items() if now - v[0] < MEDIA_TTL_S}
            while len(self._entries) >= MEDIA_KEPT:
                self._entries.pop(min(self._entries, key=lambda k: self._entries[k][0]))
            self._entries[key] = (now, value)
        return value

    def __len__(self) -> int:
        return len(self._entries)


_reads = _Reads()


def _evenly(count: int, limit: int) -> np.ndarray:
    """Indices of at most ``limit`` items spread over ``count``, always keeping the last."""
    if count <= limit:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, limit).round().astype(int))


def histograms(logdir: str, args: dict, roots: Sequence[str] | None = None) -> Reply:
    """Without ``run``/``tag``: the histogram tags per run. With them: the histograms over steps.
    ``roots``: the directories event files must really be in (a server's)."""
    data: dict[str, dict[str, HistogramSeries]] = _reads.get(
        "histograms", logdir, lambda path: read_histograms(path, roots))
    run, tag = args.get("run"), args.get("tag")
    if run is None and tag is None:
        return Reply({"logdir": logdir, "runs": [
            {"run": r, "tags": [{"tag": t, "count": len(h), "last_step": int(h.steps[-1])} for t, h in sorted(tags.items())]}
            for r, tags in sorted(data.items())]})
    h = data.get(str(run), {}).get(str(tag))
    if h is None:
        raise NotFound(f"No histogram {tag!r} in run {run!r} of this logdir.")
    keep = _evenly(len(h), _int(args, "limit", DEFAULT_HISTOGRAMS, 1, 10_000))
    return Reply({
        "run": run, "tag": tag, "total": len(h),
        "steps": h.steps[keep].tolist(), "wall_times": h.wall_times[keep].tolist(),
        "min": floats(h.min[keep]), "max": floats(h.max[keep]), "num": floats(h.num[keep]),
        "edges": [floats(h.edges[i]) for i in keep], "counts": [floats(h.counts[i]) for i in keep],
    })


def images(logdir: str, args: dict, roots: Sequence[str] | None = None) -> Reply:
    """Without ``run``/``tag``: the image tags per run. With them: the images (encoded bytes, usually
    PNG, one buffer each) of ``step`` or, by default, up to ``limit`` spread over the run."""
    data: dict[str, dict[str, list[ImageEvent]]] = _reads.get("images", logdir, lambda path: read_images(path, roots))
    run, tag = args.get("run"), args.get("tag")
    if run is None and tag is None:
        return Reply({"logdir": logdir, "runs": [
            {"run": r, "tags": [{"tag": t, "count": len(ev), "steps": sorted({e.step for e in ev})}
                                for t, ev in sorted(tags.items())]}
            for r, tags in sorted(data.items())]})
    events = data.get(str(run), {}).get(str(tag))
    if events is None:
        raise NotFound(f"No image {tag!r} in run {run!r} of this logdir.")
    if args.get("step") is not None:
        step = _int(args, "step", 0, -(2 ** 62))
        chosen = [e for e in events if e.step == step]
    else:
        chosen = [events[i] for i in _evenly(len(events), _int(args, "limit", DEFAULT_IMAGES, 1, 1000))]
    meta = [{"step": e.step, "wall_time": e.wall_time, "width": e.width, "height": e.height, "index": e.index,
             "mime": _mime(e.data), "buffer": i} for i, e in enumerate(chosen)]
    return Reply({"run": run, "tag": tag, "total": len(events), "images": meta}, [bytes(e.data) for e in chosen])


def _mime(data: bytes) -> str:
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:4] == b"GIF8":
        return "image/gif"
    return "application/octet-stream"
