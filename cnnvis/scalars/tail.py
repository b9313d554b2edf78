"""Follow a logdir while training writes to it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cnnvis.scalars.reader import RunData, event_files, file_bytes, open_logdir
from cnnvis.scalars.scan import scan
from cnnvis.scalars.series import LogdirError, Series


@dataclass
class _FileState:
    run: str
    offset: int = 0  # bytes consumed: everything before is decoded, an incomplete record after


class ScalarTail:
    """Incremental reader: each :meth:`poll` returns only the points written since the last one.

    It remembers how far it has read in every event file, picks up new files and new run
    directories, and leaves a record that is still being written for the next poll. The first
    poll returns everything so far (the same as :func:`read_scalars`). A logdir that does not
    exist yet is fine: polls return ``{}`` until it appears.

    TensorBoard's purge of events made stale by a restart is not applied to points already
    returned.
    """

    def __init__(self, logdir: str | os.PathLike, roots: Sequence[str] | None = None):
        self.logdir = os.fspath(logdir)
        self.roots = roots  # files must resolve inside these (see event_files)
        self._fs: Any = None
        self._root = ""
        self._files: dict[str, _FileState] = {}
        self._runs: dict[str, RunData] = {}

    def _listing(self) -> dict[str, list[tuple[str, int]]]:
        if self._fs is None:
            try:
                self._fs, self._root = open_logdir(self.logdir)
            except LogdirError:
                return {}
        if not self._fs.exists(self._root):
            return {}
        return event_files(self._fs, self._root, self.roots)

    def poll(self) -> dict[str, dict[str, Series]]:
        """New points since the previous poll: ``{run: {tag: Series}}`` (only runs/tags with news)."""
        touched: set[str] = set()
        for run, files in self._listing().items():
            data = self._runs.setdefault(run, RunData())
            for path, size in files:
                state = self._files.setdefault(path, _FileState(run))
                if size < state.offset:  # the file was replaced or truncated: start over
                    state.offset = 0
                if size > state.offset:
                    self._read(path, size, state, data)
                    touched.add(run)
        out = {}
        for run in sorted(touched):
            series = self._runs[run].series()
            if series := {tag: s for tag, s in series.items() if len(s)}:
                out[run] = series
        return out

    def _read(self, path: str, size: int, state: _FileState, data: RunData) -> None:
        with file_bytes(self._fs, path, state.offset, size) as (buf, base):
            start = state.offset - base
            end = min(len(buf), size - base)
            framing = scan(buf, start, end, path, data.add, final=False, base=base)
            state.offset = base + framing.end
            del buf
