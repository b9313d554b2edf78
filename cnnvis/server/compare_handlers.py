"""REST routes for two models side by side and the INT8 search (the services' ``compare_models``
and ``quantize`` kinds). Both start a job (``202`` with its URL and stream): progress and the
result through ``jobs/{id}`` and ``stream/jobs/{id}``, ``DELETE jobs/{id}`` cancels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..services.errors import BadRequest
from ..services.paths import resolve_under_root
from . import params
from .base import CnnvisHandler
from .openapi_schema import INT, NUM, STR, obj, op

LABELS = {"type": "array", "items": INT}


class _JobStarter(CnnvisHandler):
    auth_resource = "cnnvis:jobs"
    kind = ""

    def start(self, args: dict, buffers: list[bytes], finish: Any = None) -> None:
        dispatcher, kind = self.ext.dispatcher, self.kind

        def work(progress: Any, cancel: Any) -> Any:
            reply = dispatcher.handle(kind, args, buffers, progress=progress, cancel=cancel)
            return finish(reply) if finish else reply

        job = self.ext.jobs.submit(kind, work, {k: v for k, v in args.items() if k not in ("labels", "mapping")})
        self.set_header("Location", self.api_url("jobs", job.id))
        self.write_json({"id": job.id, "state": job.state, "url": self.api_url("jobs", job.id),
                         "stream": self.api_url("stream/jobs", job.id)}, status=202)


class CompareModelsHandler(_JobStarter):
    """POST compare/models: two open models (a, b) compared layer by layer (cnnvis.compare)."""

    kind = "compare_models"

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.body()
        args: dict = {"a": params.text(body.get("a"), "a", 64), "b": params.text(body.get("b"), "b", 64)}
        for key in ("a", "b"):
            await self.run(self.ext.dispatcher.session, {"model": args[key]})  # a 404 now, not in the job
        if body.get("names") is not None:
            args["names"] = params.model_labels(body["names"], "names", count=2)
        if body.get("labels") is not None:
            args["labels"] = params.int_list(body["labels"], "labels")
        if body.get("method") is not None:
            args["method"] = params.text(body["method"], "method", 64)
        if body.get("mapping") is not None:
            args["mapping"] = body["mapping"]  # checked by the service
        if isinstance(body.get("latency"), dict):  # {model name: id of an open TensorRT export}
            args["latency"] = {params.text(k, "latency", 64): params.text(v, "latency", 64)
                               for k, v in body["latency"].items()}
        elif body.get("latency") is not None:
            args["latency"] = bool(body["latency"])
        self.start(args, await self.run(self.input_buffers, body))


class QuantizeHandler(_JobStarter):
    """POST quantize: an open ONNX model quantized with the fewest layers kept in float (cnnvis.quantize)."""

    kind = "quantize"

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.body()
        model_id = params.text(body.get("model"), "model", 64)
        session = await self.run(self.ext.dispatcher.session, {"model": model_id})
        args: dict = {"model": model_id, "labels": params.int_list(body.get("labels"), "labels")}
        if body.get("target_retention") is not None:
            args["target_retention"] = params.number(body["target_retention"], "target_retention", 0.0, 1.5)
        if body.get("max_rounds") is not None:
            args["max_rounds"] = params.integer(body["max_rounds"], "max_rounds", 2, 32)
        client_out = body.get("out") or (str(Path(session.source).with_suffix(".mixed.onnx")) if session.source else None)
        if not isinstance(client_out, str) or not client_out.endswith(".onnx"):
            raise BadRequest("out must be a path under the root ending in .onnx (where the model is written).")
        real_out = resolve_under_root(self.ext.root_dir, client_out, must_exist=False)
        if not real_out.parent.is_dir():
            raise BadRequest(f"The folder of {client_out!r} does not exist.")
        args["out"] = str(real_out)

        def client_path(reply: Any) -> Any:
            reply.result["path"] = client_out  # the client's path, never the server's layout
            return reply

        self.start(args, await self.run(self.input_buffers, body), client_path)


def compare_routes(api: str) -> list[tuple]:
    """``(pattern, handler)`` under the API prefix ``api``; ``compare_paths`` documents each one."""
    return [(api + "compare/models", CompareModelsHandler), (api + "quantize", QuantizeHandler)]


def compare_paths() -> dict:
    source = {"inputs": STR, "inputs_limit": INT}
    return {
        "/api/compare/models": {"post": op(
            "Start a job comparing two open models of one network layer by layer (cnnvis.compare) on model "
            "a's inputs (or inputs=, a .npy under root_dir): the result has {names, alignment (names, compute "
            "order or mapping), rows [{layer, layer_b, op_type, cosine, relative_error, max_abs_error, damage, "
            "rank, latency_a, latency_b (latency: true times ONNX models with onnxruntime; {name: id of an open TensorRT "
            "export} takes that side's times from the engine)}], summary {top1_agreement, accuracy_<name>, retention, "
            "retention_ok, ranked, latency_source}, "
            "unaligned, explanations (with method=: per-image spearman and ssim, most different first)}.",
            "cnnvis:jobs", ok="202", too_many=True,
            body=obj(a_=STR, b_=STR, names={"type": "array", "items": STR}, labels=LABELS, method=STR,
                     latency={"oneOf": [{"type": "boolean"}, {"type": "object", "additionalProperties": STR}]},
                     mapping={"type": "object", "additionalProperties": STR}, **source))},
        "/api/quantize": {"post": op(
            "Start a job quantizing an open ONNX model to INT8 (QDQ) with the fewest layers kept in float "
            "(cnnvis.quantize), calibrated on its inputs (or inputs=) with labels= (one class per input): "
            "the result has {path (out=, default <model>.mixed.onnx), retention, reached, kept_float, ranked, "
            "flagged, candidates [{kept_float, accuracy, retention, size_bytes, latency_ms (onnxruntime profile, per "
            "input), passed}], latency_fp32_ms, rounds}.",
            "cnnvis:jobs", ok="202", too_many=True,
            body=obj(model_=STR, labels_=LABELS, target_retention=NUM, max_rounds=INT, out=STR, **source))},
    }
