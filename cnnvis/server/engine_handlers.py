"""REST routes about deployed models (ONNX files, TensorRT exports): per-layer profiles with the
per-iteration latency distribution, the source ONNX graph painted with an engine's latency, and
engine comparisons. They answer the services' ``profile``, ``run_profile``, ``source_graph`` and
``compare`` kinds; paths in requests are resolved under root_dir here, before any service runs.
"""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..services.errors import BadRequest
from . import params
from .base import ID, CnnvisHandler

MAX_RUNS = 1000


class ProfileHandler(CnnvisHandler):
    """GET: what is known without running (a TensorRT export's table and timing distribution, or an
    ONNX model's last profile); POST: time an ONNX model on its inputs with onnxruntime's profiler."""

    auth_resource = "cnnvis:models"

    @web.authenticated
    @authorized
    async def get(self, model_id: str) -> None:
        self.write_json((await self.dispatch("profile", {"model": model_id})).result)

    @web.authenticated
    @authorized
    async def post(self, model_id: str) -> None:
        body = self.body()
        args = {"model": model_id,
                "runs": params.integer(body.get("runs", 10), "runs", 1, MAX_RUNS),
                "warmup": params.integer(body.get("warmup", 2), "warmup", 0, MAX_RUNS)}
        if body.get("optimized") is not None:
            if not isinstance(body["optimized"], bool):
                raise BadRequest("optimized must be true or false.")
            args["optimized"] = body["optimized"]
        buffers = await self.run(self.input_buffers, body)
        self.write_json((await self.dispatch("run_profile", args, buffers)).result)


class SourceGraphHandler(CnnvisHandler):
    """The ONNX graph an engine was built from, each node painted with the latency of the engine
    layer it was fused into: ``source=`` a .onnx file under root_dir, or ``source_model=`` an open one."""

    auth_resource = "cnnvis:models"

    @web.authenticated
    @authorized
    async def get(self, model_id: str) -> None:
        query = self.query()
        args = {"model": model_id}
        if query.get("source_model") is not None:
            args["source_model"] = params.text(query["source_model"], "source_model", 64)
        else:
            source = params.text(query.get("source"), "source")
            args["source"] = str(await self.run(self.ext.resolve_path, source))
        self.write_json((await self.dispatch("source_graph", args)).result)


class CompareHandler(CnnvisHandler):
    """Two or more open engines aligned row by row (cnnvis.compare_engines)."""

    auth_resource = "cnnvis:models"

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.body()
        models = body.get("models")
        if not isinstance(models, list):
            raise BadRequest("models must be a list of open model ids (from POST models).")
        args: dict = {"models": [params.text(m, "models", 64) for m in models]}
        if body.get("names") is not None:
            args["names"] = params.model_labels(body["names"], "names")
        self.write_json((await self.dispatch("compare", args)).result)


def engine_routes(api: str) -> list[tuple]:
    """``(pattern, handler)`` under the API prefix ``api``; ``openapi.py`` documents each one."""
    model = ID.format("model_id")
    return [
        (api + f"models/{model}/profile", ProfileHandler),
        (api + f"models/{model}/source-graph", SourceGraphHandler),
        (api + "compare", CompareHandler),
    ]
