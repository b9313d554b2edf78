"""REST route of the panel's first view: what is under the server's root (logdirs, model files,
TensorRT exports, batch results), from a bounded, cached background scan.

Authorized as ``cnnvis:status``: it lists names the contents API already shows to the same user,
and reads no file beyond a few KiB to recognise trtexec logs.
"""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..services.browse import service_for
from .base import CnnvisHandler
from .openapi_schema import op, param


class BrowseHandler(CnnvisHandler):
    """GET ?refresh=1: ``{items: [{path, name, kind, mtime, size}], truncated, scanning, scanned_at}``."""

    auth_resource = "cnnvis:status"

    @web.authenticated
    @authorized
    async def get(self) -> None:
        refresh = self.get_query_argument("refresh", "") in ("1", "true")
        service = service_for(self.ext.root_dir)
        self.write_json(await self.run(service.listing, refresh))


def browse_routes(api: str) -> list[tuple]:
    """``(pattern, handler)`` under the API prefix ``api``; ``browse_paths`` documents it."""
    return [(api + "browse", BrowseHandler)]


def browse_paths() -> dict:
    return {"/api/browse": {"get": op(
        "What is under the server's root, for the panel's first view: {items: [{path, name, kind "
        "(logdir, model, tensorrt or batch), mtime, size}], truncated, scanning, scanned_at}. A bounded "
        "background scan (depth and entry limits, symlinks kept inside the root), cached; refresh=1 "
        "scans again.", "cnnvis:status", params=[param("refresh", description="1 to scan again")])}}
