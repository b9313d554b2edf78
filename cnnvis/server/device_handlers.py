"""Jetson routes: devices and their samples, device tokens, the agent file, and two WebSockets.

``agent`` is where on-device agents connect. It is the one cnnvis route that takes no Jupyter
authentication: an agent presents a device token (``X-Cnnvis-Device-Token``), checked against the
hashed tokens in the device store before the upgrade. Protocol (JSON text): the agent sends
``hello`` (device info), the server answers ``welcome`` with the last sequence number it holds;
the agent sends ``samples`` batches, and the server stores them (each ``seq`` once) and answers
``ack`` with the sequence number up to which everything is on disk.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from ..errors import CnnvisError
from ..services.device_store import check_name, token_hash
from ..services.devices import decode_batch, to_csv, to_parquet
from ..services.errors import BadRequest
from . import params
from .base import CnnvisHandler
from .websockets import _StreamHandler

TOKEN_HEADER = "X-Cnnvis-Device-Token"
DEVICE = r"(?P<device_id>[A-Za-z0-9_.-]{1,64})"
AGENT_FILE = Path(__file__).resolve().parent.parent / "jetson" / "cnnvis_agent.py"
EXPORT_PAGE = 10_000
MAX_AGENT_MESSAGE = 4 << 20  # an agent batches at most 2 MiB of samples per message


class DevicesHandler(CnnvisHandler):
    auth_resource = "cnnvis:devices"

    @web.authenticated
    @authorized
    async def get(self) -> None:
        devices = (await self.dispatch("devices", {})).result["devices"]
        self.finish(json.dumps(devices), set_content_type="application/json")  # a list, as the contract says


class DeviceSamplesHandler(CnnvisHandler):
    """JSON pages of samples after ``since``; ``format=csv|parquet`` exports everything after it."""

    auth_resource = "cnnvis:devices"

    @web.authenticated
    @authorized
    async def get(self, device_id: str) -> None:
        query = self.query()
        fmt = query.pop("format", "json")
        args = {"device": device_id, **{k: query[k] for k in ("since", "limit") if k in query}}
        if fmt == "json":
            self.write_json((await self.dispatch("device_samples", args)).result)
        elif fmt in ("csv", "parquet"):
            data = await self.run(self._export, args, fmt)
            mime = "text/csv" if fmt == "csv" else "application/vnd.apache.parquet"
            self.set_header("Content-Disposition", f'attachment; filename="{device_id}.{fmt}"')
            self.write_binary(data, mime)
        else:
            raise BadRequest("format must be json, csv or parquet.")

    def _export(self, args: dict, fmt: str) -> bytes:
        if fmt == "parquet":
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise BadRequest("Parquet export needs pyarrow on the server; ask for format=csv.") from None
        samples: list[dict] = []
        args = {**args, "limit": EXPORT_PAGE}
        while True:
            page = self.ext.dispatcher.handle("device_samples", args).result
            samples += page["samples"]
            if not page["more"]:
                break
            args["since"] = page["cursor"]
        return to_csv(samples) if fmt == "csv" else to_parquet(samples)


class TokensHandler(CnnvisHandler):
    """Device tokens, as ``jupyter cnnvis token list/create``; a created token is shown once."""

    auth_resource = "cnnvis:devices"

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json({"tokens": await self.run(self.ext.device_store.tokens)})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        name = check_name(self.body().get("name"), "token name")
        token = await self.run(self.ext.device_store.create_token, name)
        self.write_json({"name": name, "token": token}, status=201)


class TokenHandler(CnnvisHandler):
    auth_resource = "cnnvis:devices"

    @web.authenticated
    @authorized
    async def delete(self, name: str) -> None:
        await self.run(self.ext.device_store.revoke_token, name)
        self.write_json({"name": name, "revoked": True})


class AgentFileHandler(CnnvisHandler):
    """The agent, to copy onto a device (the same file `cnnvis agent --write` writes)."""

    auth_resource = "cnnvis:devices"

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.set_header("Content-Disposition", 'attachment; filename="cnnvis_agent.py"')
        self.write_binary(AGENT_FILE.read_bytes(), "text/x-python")


class DeviceLiveHandler(_StreamHandler):
    """``devices/{id}/live[?since=SEQ]``: ``hello`` (the device), stored samples after ``since`` if
    given, then every new sample as it is stored (``samples``) and ``status`` on (dis)connection."""

    auth_resource = "cnnvis:devices"

    async def check_request(self, device_id: str = "", **kwargs: Any) -> None:
        self.device = device_id
        since = self.get_query_argument("since", None)
        self.since = None if since is None else params.integer(since, "since", 0, 2**62)
        loop = asyncio.get_running_loop()
        self.summary = await loop.run_in_executor(self.ext.executor, self.ext.device_store.device, device_id)

    async def stream(self) -> None:
        hub = self.ext.device_hub
        queue = hub.subscribe(self.device)  # before reading the backlog, so nothing falls in between
        try:
            await self.send({"type": "hello", "device": {**self.summary,
                                                        "connected": self.device in hub.connected}})
            cursor = await self._backlog() if self.since is not None else 0
            while True:
                message = await queue.get()
                if message["type"] == "overflow":
                    self.close(1013, "too slow: reconnect with since=")
                    return
                if message["type"] == "samples":
                    fresh = [s for s in message["samples"] if s["seq"] > cursor]
                    if not fresh:
                        continue
                    message = {"type": "samples", "samples": fresh}
                await self.send(message)
        finally:
            hub.unsubscribe(self.device, queue)

    async def _backlog(self) -> int:
        cursor = self.since
        loop = asyncio.get_running_loop()
        while True:
            page = await loop.run_in_executor(self.ext.executor, self.ext.device_store.samples,
                                              self.device, cursor, 1000)
            if not page:
                return cursor
            await self.send({"type": "samples", "samples": page})
            cursor = page[-1]["seq"]


class AgentHandler(ExtensionHandlerMixin, WebSocketHandler):
    """``agent?name=NAME``: a Jetson agent's connection, authenticated by its device token."""

    auth_resource = "device-token"  # not the Jupyter authorizer: see the module docstring
    device = ""
    token_hash = ""
    token_name = ""
    _attached = False

    @property
    def ext(self) -> Any:
        return self.extensionapp

    async def get(self, *args: Any, **kwargs: Any) -> None:
        token = self.request.headers.get(TOKEN_HEADER, "")
        name = self.get_query_argument("name", "")
        loop = asyncio.get_running_loop()
        token_name = await loop.run_in_executor(self.ext.executor, self.ext.device_store.verify, token)
        if token_name is None:
            self.log.warning("cnnvis: refused a Jetson agent from %s (device %r): %s device token",
                             self.request.remote_ip, name[:64], "an unknown or revoked" if token else "no")
            raise web.HTTPError(403, "A valid device token is required (X-Cnnvis-Device-Token).")
        try:
            self.device = check_name(name, "device name")
        except CnnvisError as exc:
            raise web.HTTPError(400, str(exc)) from None
        if name != token_name:  # a token speaks for the one device it was created for
            self.log.warning("cnnvis: refused a Jetson agent from %s: token %r claimed device %r",
                             self.request.remote_ip, token_name, name)
            raise web.HTTPError(403, f"This device token was created for device {token_name!r}; it cannot "
                                     f"connect as {name!r}. Run the agent with --name {token_name}, or create "
                                     f"a token for {name!r} with `jupyter cnnvis token create {name}`.")
        self.token_hash, self.token_name = token_hash(token), token_name
        await super().get(*args, **kwargs)

    @property
    def max_message_size(self) -> int:
        return MAX_AGENT_MESSAGE

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Refusals as ``{"message"}``: the agent prints it, so its user learns why."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = exc.log_message if isinstance(exc, web.HTTPError) and exc.log_message else self._reason
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": message}))

    async def on_message(self, message: str | bytes) -> None:
        # A coroutine: tornado reads the next message only once this one is stored and acknowledged,
        # so batches are stored in the order they were sent.
        try:
            data = json.loads(message)
            kind = data.get("type") if isinstance(data, dict) else None
            if kind == "hello":
                await self._hello(data)
            elif kind == "samples" and self._attached:
                await self._samples(data)
            else:
                raise BadRequest(f"Unexpected message {kind!r} (hello first, then samples).")
        except (ValueError, CnnvisError) as exc:
            self.log.warning("cnnvis: closing device %r: %s", self.device, exc)
            self.close(1008, str(exc)[:120])
        except WebSocketClosedError:
            pass

    async def _hello(self, data: dict) -> None:
        info = data.get("info") if isinstance(data.get("info"), dict) else {}
        info = {str(k)[:64]: v for k, v in info.items() if isinstance(v, (str, int, float)) and len(str(v)) < 300}
        loop = asyncio.get_running_loop()
        last = await loop.run_in_executor(self.ext.executor, self.ext.device_store.attach, self.device,
                                          self.device, self.token_name, info)
        self._attached = True
        self.log.info("cnnvis: Jetson agent %r connected from %s (token %r)", self.device,
                      self.request.remote_ip, self.token_name)
        self.ext.device_hub.agent_connected(self.device, self)
        await self.write_message(json.dumps({"type": "welcome", "device": self.device, "last_seq": last}))

    async def _samples(self, data: dict) -> None:
        loop = asyncio.get_running_loop()
        store = self.ext.device_store
        samples = await loop.run_in_executor(self.ext.executor, decode_batch, data.get("samples"))
        last, stored = await loop.run_in_executor(self.ext.executor, store.add, self.device, samples)
        if self.ws_connection is not None:  # stored either way: a lost ack means a resend, deduplicated
            await self.write_message(json.dumps({"type": "ack", "seq": last}))
        if stored:
            self.ext.device_hub.publish(self.device, {"type": "samples", "samples": stored})

    def on_close(self) -> None:
        if self._attached:
            self.log.info("cnnvis: Jetson agent %r disconnected", self.device)
        self.ext.device_hub.agent_closed(self.device, self)


def device_routes(api: str) -> list[tuple]:
    """``(pattern, handler)`` under the API prefix ``api``; ``openapi.py`` documents each one."""
    return [
        (api + "devices", DevicesHandler),
        (api + f"devices/{DEVICE}/samples", DeviceSamplesHandler),
        (api + f"devices/{DEVICE}/live", DeviceLiveHandler),
        (api + "tokens", TokensHandler),
        (api + r"tokens/(?P<name>[A-Za-z0-9_.-]{1,64})", TokenHandler),
        (api + "agent/cnnvis_agent.py", AgentFileHandler),
        (api + "agent", AgentHandler),
    ]
