"""Read TensorBoard logdirs (local paths or fsspec URLs) into numpy arrays.

Runs are the directories holding event files (``*tfevents*``), named by their path relative to
the logdir ("." for the logdir itself). Within a run, files are read in name order and events
are accumulated the way TensorBoard's ``EventAccumulator`` does, including its purge of events
made stale by a ``SessionLog.START`` restart.
"""

from __future__ import annotations

import mmap
import os
import posixpath
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from cnnvis.scalars.scan import BatchResult, scan
from cnnvis.scalars.series import HistogramSeries, ImageEvent, LogdirError, Series

PathLike = str | os.PathLike

_SCALARS = frozenset({"simple", "tensor"})


def open_logdir(logdir: PathLike) -> tuple[Any, str]:
    """``(filesystem, root path)`` for a local path or fsspec URL; LogdirError if missing."""
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(os.fspath(logdir))
        exists = fs.exists(root)
    except (ImportError, ValueError, OSError) as exc:
        raise LogdirError(f"Cannot open logdir {os.fspath(logdir)!r}: {exc}. Check the path or URL, "
                          "and install the fsspec backend its protocol needs (e.g. s3fs for s3://).") from exc
    if not exists:
        raise LogdirError(f"Logdir {os.fspath(logdir)!r} does not exist. Pass the directory your "
                          "SummaryWriter or Keras TensorBoard callback writes to.")
    return fs, root.rstrip("/") or "/"


def event_files(fs: Any, root: str, roots: Sequence[str] | None = None) -> dict[str, list[tuple[str, int]]]:
    """``{run: [(path, size), ...]}`` with each run's files in name order.

    ``roots``: directories local files must really be in, symlinks followed (a server's root); a
    listed file that resolves elsewhere is skipped with a warning naming it relative to ``root``.
    """
    inside = _confinement(fs, roots)
    if fs.isfile(root):
        return {".": [(root, int(fs.size(root)))]} if inside(root, root) else {}
    runs: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for path, info in fs.find(root, detail=True).items():
        if "tfevents" not in posixpath.basename(path) or info.get("type") == "directory":
            continue
        if not inside(path, root):
            continue
        rel = posixpath.relpath(posixpath.dirname(path), root)
        runs[rel].append((path, int(info.get("size") or 0)))
    return {run: sorted(files) for run, files in sorted(runs.items())}


def _confinement(fs: Any, roots: Sequence[str] | None) -> Callable[[str, str], bool]:
    if roots is None or not _is_local(fs):
        return lambda path, root: True
    real_roots = [os.path.realpath(r) for r in roots]

    def inside(path: str, root: str) -> bool:
        real = os.path.realpath(path)
        if any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in real_roots):
            return True
        shown = posixpath.relpath(path, root) if path != root else posixpath.basename(path)
        warnings.warn(f"{shown} links outside the directories this server reads; skipped.", UserWarning,
                      stacklevel=3)
        return False

    return inside


def _is_local(fs: Any) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    return "file" in protocol or "local" in protocol


@contextmanager
def file_bytes(fs: Any, path: str, start: int, end: int) -> Iterator[tuple[np.ndarray, int]]:
    """``(buffer, base)``: file bytes ``[start, end)`` where ``buffer[i]`` is byte ``base + i``.

    Local files are memory-mapped, so reading never copies the whole file into Python memory.
    """
    if end <= start:
        yield np.empty(0, np.uint8), start
        return
    if _is_local(fs):
        with open(path, "rb") as f:
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            yield np.frombuffer(mm, np.uint8, count=min(end, len(mm))), 0
        finally:
            try:
                mm.close()
            except BufferError:  # a caller still holds a view; the map closes when it is freed
                pass
        return
    data = fs.cat_file(path, start=start, end=end)
    yield np.frombuffer(data, np.uint8), start


class RunData:
    """Accumulates one run's events in file order, as TensorBoard's EventAccumulator does."""

    def __init__(self, want: frozenset[str] = _SCALARS):
        self.want = want
        self.file_version: float | None = None
        self.plugins: dict[str, str] = {}
        self.scalars: dict[tuple[str, str], list[Series]] = defaultdict(list)
        self.other: dict[str, list[tuple[int, float, str, Any]]] = defaultdict(list)

    def add(self, batch: BatchResult) -> None:
        for c in batch.chunks:
            if c.plugin and c.tag not in self.plugins:
                self.plugins[c.tag] = c.plugin
        points: dict[tuple[str, str], list[tuple[np.ndarray, Series]]] = defaultdict(list)
        for c in batch.chunks:
            points[(c.tag, c.kind)].append((c.rec, Series(c.steps, c.values, c.walls)))
        slow_pts: dict[tuple[str, str], list[tuple[int, int, float, float]]] = defaultdict(list)
        purges: list[tuple[int, int]] = []
        for rec, ev in batch.slow:
            if ev.file_version is not None:
                self.file_version = _parse_version(ev.file_version)
            if ev.session_start and self.file_version is not None and self.file_version >= 2:
                purges.append((rec, ev.step))
                self._purge_other(ev.step)
            for v in ev.values:
                if v.plugin and v.tag not in self.plugins:
                    self.plugins[v.tag] = v.plugin
                point = _scalar_point(v)
                if point is not None:
                    slow_pts[(v.tag, v.kind)].append((rec, ev.step, ev.wall_time, point))
                elif self.want != _SCALARS and v.kind != "simple" and v.payload is not None:
                    self.other[v.tag].append((ev.step, ev.wall_time, v.kind, v.payload))
        for key, pts in slow_pts.items():
            rec, steps, walls, values = (np.array(col) for col in zip(*pts, strict=True))
            points[key].append((rec.astype(np.int64), Series(steps.astype(np.int64), values.astype(np.float64),
                                                             walls.astype(np.float64))))
        self._merge(points, purges)

    def _merge(self, points: dict[tuple[str, str], list[tuple[np.ndarray, Series]]],
               purges: list[tuple[int, int]]) -> None:
        merged: dict[tuple[str, str], tuple[np.ndarray, Series]] = {}
        for key, parts in points.items():
            if len(parts) == 1:
                merged[key] = parts[0]
                continue
            rec = np.concatenate([p[0] for p in parts])
            order = np.argsort(rec, kind="stable")
            s = Series.concat([p[1] for p in parts])
            merged[key] = (rec[order], Series(s.steps[order], s.values[order], s.wall_times[order]))
        lo = -1
        for cut, step in [*purges, (np.iinfo(np.int64).max, None)]:
            for key, (rec, s) in merged.items():
                sel = (rec > lo) & (rec < cut) if purges else slice(None)
                part = s if isinstance(sel, slice) else Series(s.steps[sel], s.values[sel], s.wall_times[sel])
                if len(part):
                    self.scalars[key].append(part)
            if step is not None:
                self._purge_scalars(step)
            lo = cut

    def _purge_scalars(self, step: int) -> None:
        for key, parts in self.scalars.items():
            kept = []
            for p in parts:
                keep = p.steps < step
                kept.append(p if keep.all() else Series(p.steps[keep], p.values[keep], p.wall_times[keep]))
            self.scalars[key] = kept

    def _purge_other(self, step: int) -> None:
        for tag, items in self.other.items():
            self.other[tag] = [it for it in items if it[0] < step]

    def series(self) -> dict[str, Series]:
        """Scalars: simple values, plus tensor values of tags whose plugin is ``scalars``."""
        out: dict[str, Series] = {}
        for (tag, kind), parts in sorted(self.scalars.items()):
            if kind == "tensor" and self.plugins.get(tag) != "scalars":
                continue
            if tag in out:  # the same tag written both ways: keep the simple values
                continue
            out[tag] = Series.concat(parts)
            self.scalars[(tag, kind)] = []  # free the pieces as soon as they are joined
        self.scalars.clear()  # what was returned is not kept (ScalarTail polls again later)
        return out


def _parse_version(text: str) -> float:
    try:
        return float(text.split("brain.Event:")[-1])
    except ValueError:
        return -1.0


def _scalar_point(v: Any) -> float | None:
    if v.kind == "simple":
        return float(v.payload)
    if v.kind == "tensor" and isinstance(v.payload, np.ndarray) and v.payload.size == 1 \
            and v.payload.dtype.kind in "fiub":
        return float(v.payload.reshape(()))
    return None


def read_run_files(fs: Any, files: list[tuple[str, int]], want: frozenset[str]) -> RunData:
    data = RunData(want)
    for path, size in files:
        with file_bytes(fs, path, 0, size) as (buf, base):
            scan(buf, 0, len(buf), path, data.add, final=True, base=base, want=want)
            del buf
    return data


def _read(logdir: PathLike, want: frozenset[str], roots: Sequence[str] | None) -> dict[str, RunData]:
    fs, root = open_logdir(logdir)
    return {run: read_run_files(fs, files, want) for run, files in event_files(fs, root, roots).items()}


def read_scalars(logdir: PathLike, roots: Sequence[str] | None = None) -> dict[str, dict[str, Series]]:
    """Every scalar of every run under ``logdir``: ``{run: {tag: Series}}``.

    Reads what ``torch.utils.tensorboard``, tensorboardX, ``tf.summary.scalar`` and the Keras
    ``TensorBoard`` callback write. Damaged records are skipped with a
    :class:`~cnnvis.scalars.CorruptEventFileWarning`. ``roots``: see :func:`event_files`.
    """
    return {run: data.series() for run, data in _read(logdir, _SCALARS, roots).items()}


def read_histograms(logdir: PathLike, roots: Sequence[str] | None = None) -> dict[str, dict[str, HistogramSeries]]:
    """Histogram summaries (``add_histogram``, ``tf.summary.histogram``): ``{run: {tag: ...}}``."""
    out: dict[str, dict[str, HistogramSeries]] = {}
    for run, data in _read(logdir, frozenset({"histo", "tensor"}), roots).items():
        tags = {tag: _histograms(items) for tag, items in data.other.items()
                if any(k == "histo" for _, _, k, _ in items) or data.plugins.get(tag) == "histograms"}
        if tags := {t: h for t, h in tags.items() if h is not None}:
            out[run] = tags
    return out


def _histograms(items: list[tuple[int, float, str, Any]]) -> HistogramSeries | None:
    rows = [r for r in (_histogram_row(kind, payload) for _, _, kind, payload in items)]
    keep = [i for i, r in enumerate(rows) if r is not None]
    if not keep:
        return None
    rows = [rows[i] for i in keep]
    stats = np.array([r[3] for r in rows], np.float64).reshape(-1, 5)
    return HistogramSeries(
        steps=np.array([items[i][0] for i in keep], np.int64),
        wall_times=np.array([items[i][1] for i in keep], np.float64),
        edges=[r[0] for r in rows], counts=[r[1] for r in rows], bucket_limits=[r[2] for r in rows],
        min=stats[:, 0], max=stats[:, 1], num=stats[:, 2], sum=stats[:, 3], sum_squares=stats[:, 4])


def _histogram_row(kind: str, payload: Any):
    if kind == "histo":
        limits, counts = payload["bucket_limit"], payload["bucket"]
        lo, hi = payload["min"], payload["max"]
        edges = np.clip(np.concatenate([[lo], limits]), lo, max(hi, lo)) if len(limits) else np.array([lo, hi])
        stats = [lo, hi, payload["num"], payload["sum"], payload["sum_squares"]]
        return edges, counts, limits, stats
    if kind == "tensor" and isinstance(payload, np.ndarray) and payload.ndim == 2 and payload.shape[1] == 3:
        t = payload.astype(np.float64)
        if not len(t):
            return np.empty(0), np.empty(0), np.empty(0), [np.nan, np.nan, 0.0, np.nan, np.nan]
        edges = np.concatenate([t[:1, 0], t[:, 1]])
        return edges, t[:, 2], t[:, 1], [t[0, 0], t[-1, 1], t[:, 2].sum(), np.nan, np.nan]
    return None


def read_images(logdir: PathLike, roots: Sequence[str] | None = None) -> dict[str, dict[str, list[ImageEvent]]]:
    """Image summaries as encoded bytes (usually PNG): ``{run: {tag: [ImageEvent, ...]}}``."""
    out: dict[str, dict[str, list[ImageEvent]]] = {}
    for run, data in _read(logdir, frozenset({"image", "tensor"}), roots).items():
        tags: dict[str, list[ImageEvent]] = {}
        for tag, items in data.other.items():
            if data.plugins.get(tag, "images") != "images":
                continue
            images = [img for step, wall, kind, payload in items for img in _images(step, wall, kind, payload)]
            if images:
                tags[tag] = images
        if tags:
            out[run] = tags
    return out


def _images(step: int, wall: float, kind: str, payload: Any) -> list[ImageEvent]:
    if kind == "image":
        return [ImageEvent(step, wall, payload["width"], payload["height"], payload["data"],
                           0, payload["colorspace"])]
    if kind == "tensor" and isinstance(payload, np.ndarray) and payload.dtype == object and payload.size >= 2:
        flat = payload.ravel()
        try:
            width, height = int(flat[0]), int(flat[1])
        except (TypeError, ValueError):
            return []
        return [ImageEvent(step, wall, width, height, bytes(b), i) for i, b in enumerate(flat[2:])]
    return []
