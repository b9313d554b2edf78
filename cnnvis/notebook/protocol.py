"""The services' message protocol over any kernel-side channel (the widget's comm, the sidebar's comm).

Requests arrive as ``{id, kind, args}`` with binary buffers and are answered from worker threads,
so the kernel keeps reading messages while one runs (a ``{cancel: id}`` can stop ScoreCAM midway).
Replies: ``{id, ok: true, result}`` + buffers, ``{id, ok: false, error: {type, message}}``, and
``{id, progress: {done, total}}`` while long work runs. Arrays travel as binary buffers, never as
base64 inside JSON.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..errors import CnnvisError
from ..services import Dispatcher

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.1

# ``send(content, buffers)``: puts one message on the channel; called from worker threads.
Send = Callable[[dict, list], None]


class MessageProtocol:
    """Answers protocol messages with a :class:`Dispatcher` and sends the replies through ``send``.

    It holds no reference to the channel object itself, only ``send``: a widget can pass a sender
    that refers to it weakly and still shut the workers down when it is collected.
    """

    def __init__(self, dispatcher: Dispatcher, send: Send, *, max_workers: int = 2,
                 thread_name: str = "cnnvis-protocol"):
        self.dispatcher = dispatcher
        self.send = send
        self._cancels: dict[str, threading.Event] = {}
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=thread_name)

    def on_message(self, content: Any, buffers: Sequence[Any] = ()) -> None:
        """One incoming message: a request (answered on a worker thread) or a cancel."""
        if not isinstance(content, dict):
            return
        if "cancel" in content:
            event = self._cancels.get(str(content["cancel"]))
            if event is not None:
                event.set()
            return
        request_id = content.get("id")
        kind = content.get("kind")
        if request_id is None or not isinstance(kind, str):
            self._reply_error(request_id, "BadRequest", "A request needs an id and a kind.")
            return
        request_id = str(request_id)
        cancel = threading.Event()
        self._cancels[request_id] = cancel  # before submitting, so an early cancel finds it
        args = content.get("args") or {}
        data = [bytes(b) for b in buffers or ()]
        self._pool.submit(self._answer, request_id, kind, args, data, cancel)

    def handle_request(self, request_id: str, kind: str, args: dict | None = None,
                       buffers: Sequence[bytes] = (), cancel: threading.Event | None = None) -> None:
        """Answers one request on the calling thread (the worker threads and tests use this)."""
        self._answer(request_id, kind, args or {}, list(buffers), cancel or threading.Event())

    def _answer(self, request_id: str, kind: str, args: Any, buffers: list[bytes],
                cancel: threading.Event) -> None:
        self._cancels[request_id] = cancel
        try:
            progress = _ThrottledProgress(lambda done, total: self._send_progress(request_id, done, total))
            reply = self.dispatcher.handle(kind, args, buffers, progress=progress, cancel=cancel)
            self.send({"id": request_id, "ok": True, "result": reply.result}, reply.buffers)
        except CnnvisError as exc:
            self._reply_error(request_id, type(exc).__name__, str(exc))
        except Exception as exc:  # a view must get an answer, never a silent hang
            log.exception("cnnvis request %s failed", kind)
            self._reply_error(request_id, type(exc).__name__, f"{kind} failed: {exc}")
        finally:
            self._cancels.pop(request_id, None)

    def _reply_error(self, request_id: Any, kind: str, message: str) -> None:
        self.send({"id": request_id, "ok": False, "error": {"type": kind, "message": message}}, [])

    def _send_progress(self, request_id: str, done: int, total: int) -> None:
        self.send({"id": request_id, "progress": {"done": done, "total": total}}, [])

    def close(self) -> None:
        """Cancels running work and stops the workers; requests still queued are dropped."""
        for event in list(self._cancels.values()):  # workers remove entries as they finish
            event.set()
        self._pool.shutdown(wait=False, cancel_futures=True)


class _ThrottledProgress:
    """The engine's ``progress(done, total)`` callable, forwarded at most every PROGRESS_INTERVAL_S."""

    def __init__(self, report: Callable[[int, int], None]):
        self.report = report
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last >= PROGRESS_INTERVAL_S or done >= total:
            self.last = now
            self.report(done, total)
