"""REST route for the results of a ``cnnvis batch`` run (the services' ``batch_results`` kind).

Authorized as ``cnnvis:jobs``: a batch run is a long job's output, read back like a job's
artifacts. ``dir`` resolves under root_dir (or an allowed logdir root), as logdirs do.
"""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..services.batch_results import MAX_LIMIT
from ..services.codec import REPLY_MIME
from . import params
from .base import CnnvisHandler


class BatchResultsHandler(CnnvisHandler):
    """GET ?dir=&method=&class=&metric=&limit=: rows per class, worst first. With ``Accept:
    application/x-cnnvis-reply`` the PNG thumbnails come inline; plain JSON leaves them out."""

    auth_resource = "cnnvis:jobs"

    @web.authenticated
    @authorized
    async def get(self) -> None:
        query = self.query()
        args: dict = {"dir": params.text(query.get("dir"), "dir")}
        for key in ("method", "metric"):
            if query.get(key):
                args[key] = params.text(query[key], key)
        if query.get("class"):
            args["class"] = params.integer(query["class"], "class", -(2**31), 2**31)
        if query.get("limit"):
            args["limit"] = params.integer(query["limit"], "limit", 1, MAX_LIMIT)
        # Thumbnails only when they can travel in the same body (JSON has no place for bytes).
        args["thumbnails"] = REPLY_MIME in self.request.headers.get("Accept", "")
        reply = await self.dispatch("batch_results", args)
        self.write_reply(reply, lambda: self.write_json(reply.result))


def batch_routes(api: str) -> list[tuple]:
    """``(pattern, handler)`` under the API prefix ``api``; ``openapi.py`` documents each one."""
    return [(api + "batch/results", BatchResultsHandler)]
