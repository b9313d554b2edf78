"""The base of every cnnvis REST handler: size limit, JSON bodies, service calls off the loop, errors.

It imports no handler module; each route module imports it and lists its own routes.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from jupyter_server.utils import url_path_join
from tornado import web

from ..errors import CnnvisError
from ..services import Reply
from ..services.codec import (
    NPY_MIME,
    PNG_MIME,
    REPLY_MIME,
    read_inputs_file,
    to_npy,
    to_reply_frames,
)
from ..services.errors import PayloadTooLarge
from ..services.paths import redact_paths
from . import params

ID = r"(?P<{}>[A-Za-z0-9_-]{{1,64}})"


class CnnvisHandler(ExtensionHandlerMixin, APIHandler):
    """Base of the API handlers: size limit, JSON bodies, service calls off the loop, error mapping."""

    auth_resource = "cnnvis:status"

    @property
    def ext(self) -> Any:
        return self.extensionapp

    async def prepare(self) -> None:
        await super().prepare()
        limit = self.ext.max_request_bytes
        declared = self.request.headers.get("Content-Length", "0")
        if len(self.request.body or b"") > limit or (declared.isdigit() and int(declared) > limit):
            raise PayloadTooLarge(f"The request body is larger than this server accepts ({limit} bytes).")

    def body(self) -> dict:
        return params.parse_json_object(self.request.body)

    def query(self) -> dict:
        return {k: self.get_query_argument(k) for k in self.request.query_arguments}

    async def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn`` in the extension's thread pool, so the event loop keeps answering."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.ext.executor, partial(fn, *args, **kwargs))
        except (web.HTTPError, CnnvisError):
            raise
        except Exception as exc:
            self.log.exception("cnnvis: unexpected error in %s %s", self.request.method, self.request.path)
            raise web.HTTPError(500, f"Internal error in cnnvis ({type(exc).__name__}); see the server log.") \
                from None

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        # cnnvis errors carry their own status (400 unless they say otherwise) and a useful message.
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, CnnvisError):
            status_code = getattr(exc, "status", 400)
        super().send_error(status_code, **kwargs)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, CnnvisError):
            self.set_header("Content-Type", "application/json")
            message = redact_paths(str(exc), self.ext.readable_roots())  # paths as the client knows them
            self.finish(json.dumps({"message": message, "reason": type(exc).__name__}))
            return
        super().write_error(status_code, **kwargs)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, CnnvisError):  # the client's mistake: one line, no traceback
            self.log.info("cnnvis %s %s: %s", self.request.method, self.request.path, value)
            return
        super().log_exception(typ, value, tb)

    async def dispatch(self, kind: str, args: dict, buffers: list[bytes] = (), **context: Any) -> Reply:
        """``context``: what long work takes besides its args (``cancel``, ``progress``)."""
        return await self.run(self.ext.dispatcher.handle, kind, args, list(buffers), **context)

    def write_json(self, result: dict, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(result, allow_nan=False))

    def write_binary(self, data: bytes, mime: str) -> None:
        self.set_header("Cache-Control", "no-store")
        self.finish(data, set_content_type=mime)

    def api_url(self, *parts: str) -> str:
        return url_path_join(self.base_url, "cnnvis/api", *parts)

    def input_buffers(self, body: dict) -> list[bytes]:
        """``inputs``: an optional .npy (or .npz: its ``inputs`` array, else its only one) under
        root_dir, sent to the model instead of its own; ``inputs_limit`` keeps the first N."""
        if body.get("inputs") is None:
            return []
        path = self.ext.resolve_path(params.text(body["inputs"], "inputs"))
        limit = body.get("inputs_limit")
        limit = None if limit is None else params.integer(limit, "inputs_limit", 1, 2**31)
        # Sizes are checked from the array's header and only the first ``limit`` entries are read;
        # pickled or malformed arrays are a 400, oversized ones a 413.
        return [to_npy(read_inputs_file(path, limit, self.ext.max_input_bytes))]

    def write_reply(self, reply: Reply, fallback: Callable[[], None]) -> None:
        """The whole reply (JSON + buffers) framed, when the client asks for it (the panel does)."""
        if REPLY_MIME in self.request.headers.get("Accept", ""):
            self.write_binary(to_reply_frames(reply.result, reply.buffers), REPLY_MIME)
        else:
            fallback()


class CancellableModelPost(CnnvisHandler):
    """POST models/{id}/KIND for long work on the inputs: the kind's own options in, and a client that
    goes away stops the work at its next step."""

    auth_resource = "cnnvis:models"
    kind = ""

    def initialize(self, *args: Any, **kwargs: Any) -> None:
        super().initialize(*args, **kwargs)
        self.cancel = threading.Event()

    def on_connection_close(self) -> None:
        self.cancel.set()  # nobody is waiting for the answer any more

    def options(self, body: dict) -> dict:
        """The kind's own arguments, checked; none by default."""
        return {}

    async def dispatch_on_inputs(self, args: dict, body: dict) -> Reply:
        """The kind run on the body's ``inputs`` (or the model's own), cancelled if the client leaves."""
        buffers = await self.run(self.input_buffers, body)
        return await self.dispatch(self.kind, args, buffers, cancel=self.cancel)


def artifacts(names: list[str], url: Callable[[int], str]) -> list[dict]:
    return [{"index": i, "name": n, "type": PNG_MIME if n.startswith("overlay") else NPY_MIME, "url": url(i)}
            for i, n in enumerate(names)]


class ScalarsBase(CnnvisHandler):
    auth_resource = "cnnvis:scalars"
    kind = ""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        args = self.logdir_args(self.query())
        result = (await self.dispatch(self.kind, args)).result
        self.write_json(self.echo_logdir(result, args))

    def logdir_args(self, query: dict) -> dict:
        return {"logdir": params.text(query.get("logdir"), "logdir")}

    def echo_logdir(self, result: dict, args: dict) -> dict:
        # The client's logdir, never the server's real path.
        return {**result, "logdir": args["logdir"]} if "logdir" in result else result
