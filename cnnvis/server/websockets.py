"""WebSocket streams: new scalar points as event files grow, and job progress.

Both authenticate like jupyter_server's kernel channels: ``@ws_authenticated`` on ``get`` and the
server's authorizer in ``pre_get``, before the connection is upgraded. Messages are JSON text.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from ..errors import CnnvisError
from ..services.jobs import FINISHED
from ..services.paths import redact_paths
from ..services.scalars import json_floats
from . import params

MAX_POINTS_PER_MESSAGE = 10_000
MAX_CLIENT_MESSAGE = 64 << 10  # streams only push: a client's frame beyond this closes the connection


class _StreamHandler(ExtensionHandlerMixin, WebSocketMixin, WebSocketHandler, JupyterHandler):
    auth_resource = "cnnvis:status"
    _task: asyncio.Task | None = None

    def set_default_headers(self) -> None:
        """JupyterHandler's security headers make no sense on a WebSocket upgrade."""

    @property
    def ext(self) -> Any:
        return self.extensionapp

    async def pre_get(self) -> None:
        user = self.current_user
        allowed = await ensure_async(self.authorizer.is_authorized(self, user, "read", self.auth_resource))
        if not allowed:
            raise web.HTTPError(403, f"User is not authorized to read on resource: {self.auth_resource}.")

    async def check_request(self, **kwargs: Any) -> None:
        """Refuse bad parameters with an HTTP status, before the upgrade."""

    @ws_authenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        await self.pre_get()
        try:
            await self.check_request(**kwargs)
        except CnnvisError as exc:
            raise web.HTTPError(getattr(exc, "status", 400),
                                redact_paths(str(exc), self.ext.readable_roots())) from None
        await super().get(*args, **kwargs)

    def open(self, *args: Any, **kwargs: Any) -> None:
        super().open()  # starts the ping loop
        self._task = asyncio.ensure_future(self._guarded())

    async def _guarded(self) -> None:
        try:
            await self.stream()
        except (WebSocketClosedError, asyncio.CancelledError):
            pass
        except Exception as exc:  # a stream ends, the server does not
            self.log.exception("cnnvis stream %s failed", self.request.path)
            # cnnvis errors are written for users; anything else stays in the server log.
            message = (redact_paths(str(exc), self.ext.readable_roots()) if isinstance(exc, CnnvisError)
                       else "The stream failed; see the server log.")
            try:
                await self.send({"type": "error", "message": message})
                self.close(1011)
            except WebSocketClosedError:
                pass

    async def stream(self) -> None:
        raise NotImplementedError

    async def send(self, message: dict) -> None:
        if self.ws_connection is None or self.ws_connection.is_closing():
            raise WebSocketClosedError()
        await self.write_message(json.dumps(message, allow_nan=False))

    @property
    def max_message_size(self) -> int:
        return MAX_CLIENT_MESSAGE

    def on_message(self, message: str | bytes) -> None:
        """Streams only push; client messages are ignored."""

    def on_close(self) -> None:
        if self._task is not None:
            self._task.cancel()


class ScalarStreamHandler(_StreamHandler):
    """``stream/scalars?logdir=[&from=end|start]``: every new point, once, in order.

    The first message (``hello``) gives each run/tag's point count; with ``from=start`` (default
    ``end``) the existing points are sent too. Then ``points`` messages:
    ``{"type": "points", "run", "tag", "start", "steps", "values", "wall_times"}`` where ``start``
    is the index of the first point (the ``since`` cursor of the scalars route).
    """

    auth_resource = "cnnvis:scalars"

    async def check_request(self, **kwargs: Any) -> None:
        logdir = params.text(self.get_query_argument("logdir", None), "logdir")
        start = self.get_query_argument("from", "end")
        if start not in ("start", "end"):
            raise web.HTTPError(400, "from must be 'start' or 'end'.")
        loop = asyncio.get_running_loop()
        self.client_logdir = logdir  # echoed back: the resolved path is the server's business
        self.logdir = await loop.run_in_executor(self.ext.executor, self.ext.resolve_logdir, logdir)
        self.from_start = start == "start"

    async def stream(self) -> None:
        loop = asyncio.get_running_loop()
        cache = await loop.run_in_executor(self.ext.executor, self.ext.dispatcher.scalars.cache, self.logdir)
        counts = await loop.run_in_executor(self.ext.executor, _counts, cache)
        # Cursors follow the cache's full series, not refresh()'s return value: another client's
        # query may be the one that reads the appended records.
        cursors = {key: 0 if self.from_start else n for key, n in counts.items()}
        await self.send({"type": "hello", "logdir": self.client_logdir,
                         "counts": [{"run": r, "tag": t, "points": n} for (r, t), n in counts.items()]})
        while True:
            for (run, tag), points in await loop.run_in_executor(self.ext.executor, _new_points, cache, cursors):
                for start in range(0, len(points.steps), MAX_POINTS_PER_MESSAGE):
                    stop = start + MAX_POINTS_PER_MESSAGE
                    await self.send({
                        "type": "points", "run": run, "tag": tag, "start": cursors[(run, tag)] + start,
                        "steps": points.steps[start:stop].tolist(),
                        "values": json_floats(points.values[start:stop]),
                        "wall_times": points.wall_times[start:stop].tolist()})
                cursors[(run, tag)] += len(points.steps)
            await asyncio.sleep(self.ext.stream_interval)


def _counts(cache: Any) -> dict[tuple[str, str], int]:
    return {(run, tag): len(cache.series(run, tag)) for run, tags in cache.runs().items() for tag in tags}


def _new_points(cache: Any, cursors: dict) -> list[tuple[tuple[str, str], Any]]:
    cache.refresh()
    out = []
    for key, count in _counts(cache).items():
        seen = cursors.setdefault(key, 0)
        if count > seen:
            series = cache.series(*key)
            out.append((key, type(series)(series.steps[seen:], series.values[seen:], series.wall_times[seen:])))
    return out


class JobStreamHandler(_StreamHandler):
    """``stream/jobs/{id}``: the job's snapshot (as ``GET jobs/{id}``) on every change, then close."""

    auth_resource = "cnnvis:jobs"

    async def check_request(self, job_id: str = "", **kwargs: Any) -> None:
        self.job = self.ext.jobs.get(job_id)

    async def stream(self) -> None:
        seen = -1
        while True:
            job = self.job
            if job.version != seen:
                seen = job.version
                snapshot = job.snapshot()
                snapshot.pop("result", None)  # fetched with GET jobs/{id} once done
                await self.send({"type": "job", **snapshot})
                if snapshot["state"] in FINISHED:
                    self.close(1000)
                    return
            await asyncio.sleep(self.ext.job_poll_interval)
