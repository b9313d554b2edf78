"""Who is connected: Jetson agents by device, panel subscribers by device, and token revocation.

Everything here runs on the server's event loop; database calls go through the extension's thread
pool. Tokens can be revoked by another process (``jupyter cnnvis token revoke``), so the hub polls
the store's active token hashes every ``token_check_interval`` seconds while agents are connected
and closes the connections whose token is gone.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from tornado.ioloop import PeriodicCallback

from ..services.device_store import DeviceStore

SUBSCRIBER_QUEUE = 1000
REVOKED = 4403  # close code the agent takes as "do not retry"


class DeviceHub:
    """Connected agents (one per device: a reconnecting agent replaces its old connection) and the
    queues of the panels watching each device."""

    def __init__(self, store: DeviceStore, executor: Any, connected: set[str], log: logging.Logger,
                 check_interval: float = 0.5):
        self.store, self.executor, self.log = store, executor, log
        self.connected = connected  # shared with DeviceService, so `devices` shows who is live
        self.agents: dict[str, Any] = {}
        self.subscribers: dict[str, set[asyncio.Queue]] = {}
        self._checking = False
        self._watch = PeriodicCallback(self._check_tokens, max(0.05, check_interval) * 1000)

    async def run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    # -- agents ---------------------------------------------------------------------------------

    def agent_connected(self, device: str, handler: Any) -> None:
        old = self.agents.get(device)
        if old is not None and old is not handler:
            self.log.info("cnnvis: device %r reconnected; closing its previous connection", device)
            old.close(1000, "replaced by a new connection")
        self.agents[device] = handler
        self.connected.add(device)
        self.publish(device, {"type": "status", "connected": True})
        if not self._watch.is_running():
            self._watch.start()

    def agent_closed(self, device: str, handler: Any) -> None:
        if self.agents.get(device) is handler:
            del self.agents[device]
            self.connected.discard(device)
            self.publish(device, {"type": "status", "connected": False})
        if not self.agents and self._watch.is_running():
            self._watch.stop()

    async def _check_tokens(self) -> None:
        if self._checking or not self.agents:
            return
        self._checking = True
        try:
            active = await self.run(self.store.active_hashes)
        except Exception:  # a locked or vanished database must not stop the check for good
            self.log.exception("cnnvis: could not read device tokens")
            return
        finally:
            self._checking = False
        for device, handler in list(self.agents.items()):
            if handler.token_hash not in active:
                self.log.warning("cnnvis: device token %r was revoked; closing device %r (%s)",
                                 handler.token_name, device, handler.request.remote_ip)
                handler.close(REVOKED, "device token revoked")
                self.agent_closed(device, handler)

    # -- panel subscribers ----------------------------------------------------------------------

    def subscribe(self, device: str) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(SUBSCRIBER_QUEUE)
        self.subscribers.setdefault(device, set()).add(queue)
        return queue

    def unsubscribe(self, device: str, queue: asyncio.Queue) -> None:
        queues = self.subscribers.get(device)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self.subscribers[device]

    def publish(self, device: str, message: dict) -> None:
        for queue in list(self.subscribers.get(device, ())):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:  # a stalled viewer loses its stream, not the server its memory
                self.unsubscribe(device, queue)
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait({"type": "overflow"})

    def stop(self) -> None:
        self._watch.stop()
        for handler in list(self.agents.values()):
            handler.close(1001, "server shutting down")
