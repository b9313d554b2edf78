"""What is under the server's root, for the panel's first view: logdirs (folders of event files),
model files, TensorRT exports and batch results.

A bounded scan: at most ``max_depth`` folders deep and ``max_entries`` directory entries looked at,
hidden and tool folders skipped, symlinks resolved and followed only when they stay inside the root
(each real folder visited once, so a link loop ends). It runs in a background thread; the result is
cached until a refresh is asked for. Paths in the result are relative to the root.
"""

from __future__ import annotations

import heapq
import os
import threading
import time
from pathlib import Path
from typing import Any

MODEL_SUFFIXES = (".pt2", ".pt", ".onnx", ".keras", ".h5", ".engine")
# trtexec's JSON exports (--exportLayerInfo / --exportProfile / the graph export), named by suffix.
TENSORRT_JSON = ("graph.json", "layer_info.json", "profile.json")
# trtexec console logs are recognised by content: one of these in their first few KiB.
TENSORRT_LOG_SUFFIXES = (".out", ".log", ".txt")
TENSORRT_LOG_MARKS = (b"&&&& RUNNING TensorRT", b"trtexec", b"[TRT]")
LOG_PEEK_BYTES = 4096
EVENT_FILE = "events.out.tfevents."
BATCH_FILE = "results.parquet"
SKIPPED_DIRS = {"node_modules", "__pycache__", "site-packages", "venv", "lib", "build", "dist"}
KNOWN_SUFFIXES = MODEL_SUFFIXES + TENSORRT_JSON + TENSORRT_LOG_SUFFIXES
KIND_ORDER = {"logdir": 0, "model": 1, "tensorrt": 2, "batch": 3}


class BrowseService:
    """The cached listing of one root; ``listing()`` answers at once, scanning in the background."""

    def __init__(self, root: str | os.PathLike, max_depth: int = 6, max_entries: int = 200_000,
                 max_items: int = 500, first_wait_s: float = 3.0):
        self.root = Path(root).resolve()
        self.max_depth, self.max_entries, self.max_items = max_depth, max_entries, max_items
        self.first_wait_s = first_wait_s
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._result: dict[str, Any] | None = None

    def listing(self, refresh: bool = False) -> dict[str, Any]:
        """The latest scan, with ``scanning`` true while a newer one runs. The very first call
        waits a little for its scan, so a small root lists at once."""
        with self._lock:
            first = self._result is None
            if (first or refresh) and not (self._thread and self._thread.is_alive()):
                self._done.clear()
                self._thread = threading.Thread(target=self._scan, name="cnnvis-browse", daemon=True)
                self._thread.start()
            scanning = bool(self._thread and self._thread.is_alive())
        if first or refresh:
            self._done.wait(self.first_wait_s)
            scanning = bool(self._thread and self._thread.is_alive())
        result = self._result or {"items": [], "truncated": False, "scanned_at": None}
        return {**result, "scanning": scanning}

    def _scan(self) -> None:
        try:
            self._result = scan(self.root, self.max_depth, self.max_entries, self.max_items)
        finally:
            self._done.set()


def scan(root: Path, max_depth: int, max_entries: int, max_items: int) -> dict[str, Any]:
    """Walks ``root`` within the bounds; returns ``{items, truncated, scanned_at}``.

    Folders are visited shallow first, and crowded subtrees (below a folder of thousands of entries:
    a dataset) after the others, so the entry bound is spent on where logdirs and models usually are.
    """
    found: dict[str, dict[str, Any]] = {}
    run_dirs: list[Path] = []
    seen = {root}
    # (crowding: log2 of the largest folder above, depth, order, folder)
    queue: list[tuple[int, int, int, Path]] = [(0, 0, 0, root)]
    order = entries = 0
    truncated = False
    while queue:
        crowd, depth, _, folder = heapq.heappop(queue)
        try:
            children = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue  # unreadable: skipped, as the file browser does
        if entries + len(children) > max_entries:
            truncated = True
            break
        entries += len(children)
        crowd = max(crowd, len(children).bit_length())
        names = {e.name for e in children}
        if any(n.startswith(EVENT_FILE) for n in names):
            run_dirs.append(folder)
        if BATCH_FILE in names and folder != root:
            _add(found, root, folder, "batch")
        for entry in children:
            if entry.name.startswith("."):
                continue
            # Only links need resolving (folders are walked by real paths); DirEntry answers the rest
            # from the directory listing itself, without a system call per file.
            real = _inside(root, entry.path) if entry.is_symlink() else Path(entry.path)
            if real is None:
                continue  # a link out of the root, or a broken one
            is_dir = real.is_dir() if entry.is_symlink() else entry.is_dir(follow_symlinks=False)
            if is_dir:
                if depth + 1 <= max_depth and real not in seen and entry.name not in SKIPPED_DIRS:
                    seen.add(real)
                    order += 1
                    heapq.heappush(queue, (crowd, depth + 1, order, real))
            elif entry.name.lower().endswith(KNOWN_SUFFIXES):
                kind = file_kind(real)
                if kind:
                    _add(found, root, real, kind, entry.path)
    for run in run_dirs:
        # TensorBoard's layout: the logdir holds one folder per run; a lone run at the top is its own.
        logdir = run.parent if run.parent != root and run.parent in seen else run
        _add(found, root, logdir, "logdir")
    items = sorted(found.values(), key=lambda i: (KIND_ORDER[i["kind"]], i["path"]))
    if len(items) > max_items:
        items, truncated = items[:max_items], True
    return {"items": items, "truncated": truncated, "scanned_at": time.time()}


def file_kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(MODEL_SUFFIXES):
        return "model"
    if name.endswith(TENSORRT_JSON):
        return "tensorrt"
    if name.endswith(TENSORRT_LOG_SUFFIXES):
        try:
            with open(path, "rb") as f:
                head = f.read(LOG_PEEK_BYTES)
        except OSError:
            return None
        return "tensorrt" if any(m in head for m in TENSORRT_LOG_MARKS) else None
    return None


def _inside(root: Path, path: str) -> Path | None:
    """The real path of ``path`` when it exists and stays under ``root``."""
    try:
        real = Path(os.path.realpath(path))
    except (OSError, ValueError):
        return None
    if real != root and root not in real.parents:
        return None
    return real if real.exists() else None


def _add(found: dict, root: Path, real: Path, kind: str, shown: str | None = None) -> None:
    # A link inside the root is listed under its own name (what the user sees in the file browser);
    # folders are walked by their real paths, so ``shown`` is always under the root.
    rel = Path(shown or real).relative_to(root).as_posix()
    try:
        stat = real.stat()
    except OSError:
        return
    found.setdefault(rel, {"path": rel, "name": real.name if not shown else Path(shown).name, "kind": kind,
                           "mtime": stat.st_mtime, "size": stat.st_size if real.is_file() else None})


_services: dict[str, BrowseService] = {}
_services_lock = threading.Lock()


def service_for(root: str | os.PathLike) -> BrowseService:
    """One cached service per root directory (a server has one root)."""
    key = os.path.realpath(root)
    with _services_lock:
        if key not in _services:
            _services[key] = BrowseService(key)
        return _services[key]
