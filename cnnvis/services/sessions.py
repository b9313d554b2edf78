"""The open model sessions: closable, and capped in number and memory, least recently used out first.

A server keeps every model a client opens until it is closed; without a cap, clients that never
close (a closed browser tab, a script) would grow the server's memory without end.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Any

from .errors import NotFound


class SessionTable(OrderedDict):
    """``{id: ModelSession}`` in least-recently-used order. ``max_count`` / ``max_bytes`` (None: no
    cap) bound what stays open; the session just opened is never the one evicted."""

    def __init__(self, max_count: int | None = None, max_bytes: int | None = None):
        super().__init__()
        self.max_count = max_count
        self.max_bytes = max_bytes
        self._lock = threading.RLock()
        self._sizes: dict[str, int] = {}

    def open(self, session_id: str, session: Any) -> list[str]:
        """Add (or replace) a session; return the ids evicted to stay within the caps."""
        size = session_bytes(session)
        with self._lock:
            self[session_id] = session
            self.move_to_end(session_id)
            self._sizes[session_id] = size
            evicted = []
            while len(self) > 1 and self._over():
                oldest = next(iter(self))
                self.close(oldest)
                evicted.append(oldest)
            return evicted

    def close(self, session_id: str) -> Any:
        """Forget a session (its memory goes once nothing else uses it); NotFound when not open."""
        with self._lock:
            session = self.pop(session_id, None)
            self._sizes.pop(session_id, None)
        if session is None:
            raise NotFound(f"No model {session_id!r} is open (already closed, or never opened).")
        return session

    def use(self, session_id: str) -> Any:
        """The session, marked as the most recently used."""
        with self._lock:
            session = self[session_id]
            self.move_to_end(session_id)
            return session

    def total_bytes(self) -> int:
        with self._lock:
            return sum(self._sizes.values())

    def _over(self) -> bool:
        if self.max_count is not None and len(self) > self.max_count:
            return True
        return self.max_bytes is not None and sum(self._sizes.values()) > self.max_bytes


def session_bytes(session: Any) -> int:
    """An estimate of what a session holds: its inputs plus its model's weights (the model file's
    size for a loaded file, the parameters of an in-memory torch module)."""
    return _array_bytes(getattr(session, "inputs", None)) + _model_bytes(getattr(session, "model", None))


def _array_bytes(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, (list, tuple)):
        return sum(_array_bytes(v) for v in value)
    if isinstance(value, dict):
        return sum(_array_bytes(v) for v in value.values())
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int):
        return nbytes
    numel, size = getattr(value, "numel", None), getattr(value, "element_size", None)
    return int(numel() * size()) if callable(numel) and callable(size) else 0


def _model_bytes(model: Any) -> int:
    path = getattr(model, "path", None)
    if isinstance(path, str) and os.path.isfile(path):
        return os.path.getsize(path)
    parameters = getattr(model, "parameters", None)
    if callable(parameters):
        try:
            return sum(_array_bytes(p) for p in parameters())
        except Exception:  # not a torch module after all
            return 0
    return 0
