"""REST handlers for a logdir's training media: live scalar updates, histograms and images.

They answer the same request kinds as the widget (``scalar_updates``, ``histograms``, ``images``).
Images cannot ride inside JSON as the widget's binary buffers do, so ``images`` answers metadata
with a ``url`` per image, and ``images/data`` returns one image's stored bytes (usually PNG): the
URLs work directly as ``<img src>`` in an authenticated page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..services.errors import BadRequest, NotFound
from ..services.scalars import DEFAULT_POINTS, MAX_POINTS
from . import params
from .base import ScalarsBase

MAX_HISTOGRAMS = 10_000
MAX_IMAGES = 1000
STEP_RANGE = (-(2**62), 2**62)


class _TrainingHandler(ScalarsBase):
    def series_args(self, query: dict, what: str, most: int) -> dict:
        """``run`` and ``tag`` together (one series), or neither (the list of tags per run);
        an optional ``limit`` of at most ``most``."""
        args = self.logdir_args(query)
        run, tag = query.get("run"), query.get("tag")
        if (run is None) != (tag is None):
            raise BadRequest(f"{what} needs both run= and tag=, or neither for the list of tags.")
        if run is not None:
            args.update(run=params.text(run, "run"), tag=params.text(tag, "tag"))
        if query.get("limit") is not None:
            args["limit"] = params.integer(query["limit"], "limit", 1, most)
        return args


class ScalarUpdatesHandler(_TrainingHandler):
    """Every run/tag's points after the client's cursors (the polling form of ``stream/scalars``)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        query = self.query()
        args: dict[str, Any] = self.logdir_args(query)
        if query.get("cursors") is not None:
            args["cursors"] = params.parse_json_object(query["cursors"].encode())
        most = min(self.ext.max_scalar_points, MAX_POINTS)
        points = query.get("points")
        args["points"] = min(most, DEFAULT_POINTS if points is None else params.integer(points, "points", 3))
        reply = await self.dispatch("scalar_updates", args)
        self.write_json(self.echo_logdir(reply.result, args))


class HistogramsHandler(_TrainingHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        args = self.series_args(self.query(), "histograms", MAX_HISTOGRAMS)
        reply = await self.dispatch("histograms", args)
        self.write_json(self.echo_logdir(reply.result, args))


class ImagesHandler(_TrainingHandler):
    """The image tags per run, or one tag's images as metadata with a URL each."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        query = self.query()
        args = self.series_args(query, "images", MAX_IMAGES)
        if query.get("step") is not None:
            args["step"] = params.integer(query["step"], "step", *STEP_RANGE)
        result = (await self.dispatch("images", args)).result
        if "images" in result:
            result = {**result, "images": [self.with_url(meta, args) for meta in result["images"]]}
        self.write_json(self.echo_logdir(result, args))

    def with_url(self, meta: dict, args: dict) -> dict:
        where = {"logdir": args["logdir"], "run": args["run"], "tag": args["tag"],
                 "step": meta["step"], "index": meta["index"]}
        url = self.api_url("images", "data") + "?" + urlencode(where)
        return {k: v for k, v in meta.items() if k != "buffer"} | {"url": url}


class ImageDataHandler(_TrainingHandler):
    """One image's stored bytes, found by run, tag, step and its index within that step."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        query = self.query()
        args = {**self.logdir_args(query), "run": params.text(query.get("run"), "run"),
                "tag": params.text(query.get("tag"), "tag"),
                "step": params.integer(query.get("step"), "step", *STEP_RANGE)}
        index = params.integer(query.get("index", "0"), "index", 0, 2**31)
        reply = await self.dispatch("images", args)
        # A run restarted from a checkpoint can hold a step twice: the last one written wins.
        found = [i for i, meta in enumerate(reply.result["images"]) if meta["index"] == index]
        if not found:
            raise NotFound(f"No image {index} at step {args['step']} of {args['tag']!r} in run {args['run']!r}.")
        meta = reply.result["images"][found[-1]]
        self.write_binary(reply.buffers[meta["buffer"]], meta["mime"])


def training_routes(api: str) -> list[tuple]:
    """``(pattern, handler)`` under the API prefix ``api``; ``openapi.py`` documents each one."""
    return [
        (api + "scalars/updates", ScalarUpdatesHandler),
        (api + "histograms", HistogramsHandler),
        (api + "images", ImagesHandler),
        (api + "images/data", ImageDataHandler),
    ]
