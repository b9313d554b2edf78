"""REST handlers. They only decode requests, call the services off the event loop and encode replies.

Binary replies: arrays are ``.npy`` (``application/x-npy``), images PNG. ``activations`` answers
JSON statistics, or the array itself when the request's ``Accept`` names ``application/x-npy``.
``explain`` answers JSON whose ``artifacts`` list a URL per PNG overlay / ``.npy`` array.
"""

from __future__ import annotations

import json
import uuid
from functools import partial

from jupyter_server.auth.decorator import authorized
from jupyter_server.utils import url_path_join
from tornado import web

from ..services import Reply
from ..services.codec import (
    NPY_MIME,
    PNG_MIME,
    from_npy,
)
from ..services.errors import BadRequest
from ..services.jobs import chunked_explain
from ..services.paths import redact_paths
from . import params
from .base import ID, CnnvisHandler, ScalarsBase, artifacts

SLOW_METHODS = {"scorecam", "ablationcam"}

class StatusHandler(CnnvisHandler):
    auth_resource = "cnnvis:status"

    @web.authenticated
    @authorized
    async def get(self) -> None:
        reply = await self.dispatch("status", {})
        ext = self.ext
        self.write_json({**reply.result, "server": {
            "job_concurrency": ext.job_concurrency, "max_request_bytes": ext.max_request_bytes,
            "max_scalar_points": ext.max_scalar_points, "allow_fsspec_urls": ext.allow_fsspec_urls,
            "max_input_bytes": ext.max_input_bytes, "max_sessions": ext.max_sessions,
            "max_session_bytes": ext.max_session_bytes}})


class OpenAPIHandler(CnnvisHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        from .openapi import spec

        self.write_json(spec(url_path_join(self.base_url, "cnnvis")))


class RunsHandler(ScalarsBase):
    kind = "runs"


class AlertsHandler(ScalarsBase):
    kind = "alerts"


class ScalarsHandler(ScalarsBase):
    kind = "scalars"

    @web.authenticated
    @authorized
    async def get(self) -> None:
        args = params.scalar_args(self.query(), self.ext.max_scalar_points)
        self.finish(await self.run(self.encoded, args), set_content_type="application/json")

    def encoded(self, args: dict) -> bytes:
        ext = self.ext
        cache = ext.dispatcher.scalars.cache(ext.resolve_logdir(args["logdir"]))  # re-reads when stale
        key = tuple(sorted(args.items()))
        body = ext.scalar_replies.get((*key, len(cache.series(args["run"], args["tag"]))))
        if body is None:
            result = ext.dispatcher.handle("scalars", args).result
            body = json.dumps({**result, "logdir": args["logdir"]}, allow_nan=False).encode()
            ext.scalar_replies.put((*key, result["total"]), body)
        return body


class ModelsHandler(CnnvisHandler):
    auth_resource = "cnnvis:models"

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json((await self.dispatch("models", {})).result)

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.body()
        path = params.text(body.get("path"), "path")
        name = params.text(body["name"], "name", 200) if body.get("name") is not None else None
        names = body.get("class_names")
        if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
            raise BadRequest("class_names must be a list of strings.")
        model_id, summary, evicted = await self.run(self._open, path, body, name, names)
        for old in evicted:
            self.ext.results.drop(old)
        self.set_header("Location", self.api_url("models", model_id))
        # ``evicted``: models closed to stay within the server's caps (the panel forgets them).
        self.write_json({"id": model_id, **summary, "evicted": evicted}, status=201)

    def _open(self, path: str, body: dict, name: str | None, names: list[str] | None) -> tuple:
        from ..api import load
        from ..services import ModelSession

        model_file = self.ext.resolve_path(path)
        inputs = self.input_buffers(body)
        handle = load(model_file)
        session = ModelSession(handle, from_npy(inputs[0]) if inputs else None,
                               name=name or model_file.name, class_names=names, source=path)
        summary = session.summary()
        ignored = getattr(handle, "info", {}).get("ignored")
        if ignored:  # members of the file left unread (pickled sample inputs): said, not hidden
            summary["ignored"] = [f"{m}: not plain tensors, never unpickled" for m in ignored]
        model_id = uuid.uuid4().hex[:12]
        return model_id, summary, self.ext.dispatcher.open_session(model_id, session)


class ModelHandler(CnnvisHandler):
    auth_resource = "cnnvis:models"

    @web.authenticated
    @authorized
    async def delete(self, model_id: str) -> None:
        """Close an open model: its memory and its kept explain results go."""
        reply = await self.dispatch("close", {"model": model_id})
        self.ext.results.drop(model_id)
        self.write_json(reply.result)


class GraphHandler(CnnvisHandler):
    auth_resource = "cnnvis:models"

    @web.authenticated
    @authorized
    async def get(self, model_id: str) -> None:
        self.write_json((await self.dispatch("graph", {"model": model_id})).result)


class ActivationsHandler(CnnvisHandler):
    auth_resource = "cnnvis:models"

    @web.authenticated
    @authorized
    async def post(self, model_id: str) -> None:
        body = self.body()
        args = {"model": model_id, "layer": params.text(body.get("layer"), "layer"),
                "index": params.integer(body.get("index", 0), "index", -2**31, 2**31)}
        buffers = await self.run(self.input_buffers, body)
        reply = await self.dispatch("activations", args, buffers)
        if NPY_MIME in self.request.headers.get("Accept", ""):
            self.set_header("X-Cnnvis-Shape", json.dumps(reply.result["shape"]))
            self.write_binary(reply.buffers[0], NPY_MIME)
        else:
            self.write_reply(reply, lambda: self.write_json(reply.result))


class ExplainHandler(CnnvisHandler):
    auth_resource = "cnnvis:models"

    @web.authenticated
    @authorized
    async def post(self, model_id: str) -> None:
        body = self.body()
        args = {"model": model_id, **params.explain_args(body)}
        buffers = await self.run(self.input_buffers, body)
        reply = await self.dispatch("explain", args, buffers)
        self.write_reply(reply, lambda: self.write_with_artifacts(model_id, reply))

    def write_with_artifacts(self, model_id: str, reply: Reply) -> None:
        """JSON with a URL per PNG/.npy buffer, kept for the follow-up GETs."""
        result_id = uuid.uuid4().hex[:12]
        self.ext.results.put(result_id, model_id, reply)
        self.write_json({**reply.result, "id": result_id, "artifacts": artifacts(
            reply.result["buffers"], lambda i: self.api_url("models", model_id, "explain", result_id, str(i)))})


class _ArtifactMixin:
    def write_artifact(self, reply: Reply, index: str) -> None:
        i = int(index)
        if not 0 <= i < len(reply.buffers):
            raise web.HTTPError(404, f"No artifact {i}; there are {len(reply.buffers)}.")
        name = reply.result["buffers"][i]
        self.write_binary(reply.buffers[i], PNG_MIME if name.startswith("overlay") else NPY_MIME)


class ExplainArtifactHandler(_ArtifactMixin, CnnvisHandler):
    auth_resource = "cnnvis:models"

    @web.authenticated
    @authorized
    async def get(self, model_id: str, result_id: str, index: str) -> None:
        self.write_artifact(self.ext.results.get(result_id, model_id), index)


class JobsHandler(CnnvisHandler):
    auth_resource = "cnnvis:jobs"

    @web.authenticated
    @authorized
    async def get(self) -> None:
        roots = self.ext.readable_roots()
        jobs = [_redacted({k: v for k, v in j.snapshot().items() if k != "result"}, roots) for j in self.ext.jobs.list()]
        self.write_json({"jobs": jobs})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.body()
        kind = body.get("kind", "explain")
        if kind not in ("explain", "dataset"):
            raise BadRequest("kind must be 'explain' (overlays and maps) or 'dataset' (maps of every input).")
        model_id = params.text(body.get("model"), "model", 64)
        args = {"model": model_id, **params.explain_args(body)}
        session = await self.run(self.ext.dispatcher.session, {"model": model_id})
        await self.run(_check_method, args.get("method", "gradcam"))
        if session.inputs is None:
            raise BadRequest("Jobs run on the model's own inputs: open the model with an inputs .npy.")
        count = session.summary()["inputs"][0]
        indices = args.pop("indices", None) or list(range(count))
        for i in indices:
            if not -count <= i < count:
                raise BadRequest(f"Input index {i} is out of range: there are {count} inputs.")
        slow = args.get("method", "gradcam").lower().replace("-", "") in SLOW_METHODS
        chunk = params.integer(body.get("chunk", 1 if slow else 16), "chunk", 1, 4096)
        work = partial(chunked_explain, self.ext.dispatcher, args, indices, chunk, keep_images=kind == "explain")
        job = self.ext.jobs.submit(kind, lambda progress, cancel: work(progress, cancel),
                                   {**args, "kind": kind, "inputs": len(indices), "chunk": chunk})
        self.set_header("Location", self.api_url("jobs", job.id))
        self.write_json({"id": job.id, "state": job.state, "url": self.api_url("jobs", job.id),
                         "stream": self.api_url("stream/jobs", job.id)}, status=202)


def _redacted(snapshot: dict, roots: list[str]) -> dict:
    """A job's message and error as the client may see them: paths relative to the root."""
    for key in ("message", "error"):
        if isinstance(snapshot.get(key), str):
            snapshot[key] = redact_paths(snapshot[key], roots)
    return snapshot


def _check_method(name: str) -> None:
    from ..cam.engine import get_method

    get_method(name)


class JobHandler(CnnvisHandler):
    auth_resource = "cnnvis:jobs"

    def snapshot(self, job_id: str) -> dict:
        job = self.ext.jobs.get(job_id)
        out = _redacted(job.snapshot(), self.ext.readable_roots())
        if job.result is not None:
            out["artifacts"] = artifacts(job.result.result["buffers"],
                                         lambda i: self.api_url("jobs", job_id, "artifacts", str(i)))
        return out

    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        self.write_json(self.snapshot(job_id))

    @web.authenticated
    @authorized
    async def delete(self, job_id: str) -> None:
        self.ext.jobs.cancel(job_id)
        self.write_json(self.snapshot(job_id))


class JobArtifactHandler(_ArtifactMixin, CnnvisHandler):
    auth_resource = "cnnvis:jobs"

    @web.authenticated
    @authorized
    async def get(self, job_id: str, index: str) -> None:
        job = self.ext.jobs.get(job_id)
        if job.result is None:
            raise web.HTTPError(404, f"Job {job_id!r} has no result (yet): it is {job.state}.")
        self.write_artifact(job.result, index)


def core_routes(api: str) -> list[tuple]:
    """Status, scalars, models, explanations and jobs; ``routes.py`` gathers every module's routes."""
    model, job = ID.format("model_id"), ID.format("job_id")
    return [
        (api + "openapi.json", OpenAPIHandler),
        (api + "status", StatusHandler),
        (api + "runs", RunsHandler),
        (api + "scalars", ScalarsHandler),
        (api + "alerts", AlertsHandler),
        (api + "models", ModelsHandler),
        (api + f"models/{model}", ModelHandler),
        (api + f"models/{model}/graph", GraphHandler),
        (api + f"models/{model}/activations", ActivationsHandler),
        (api + f"models/{model}/explain", ExplainHandler),
        (api + f"models/{model}/explain/{ID.format('result_id')}/(?P<index>[0-9]{{1,6}})", ExplainArtifactHandler),
        (api + "jobs", JobsHandler),
        (api + f"jobs/{job}", JobHandler),
        (api + f"jobs/{job}/artifacts/(?P<index>[0-9]{{1,6}})", JobArtifactHandler),
    ]
