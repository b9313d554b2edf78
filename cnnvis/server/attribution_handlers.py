"""REST routes for pixel attributions and concepts (the services' ``attribute`` and ``concepts``
kinds). Like explain, they answer JSON whose ``artifacts`` list a URL per ``.npy`` array, or the
whole reply framed when the client asks for ``application/x-cnnvis-reply`` (the panel does). A client
that goes away stops a long attribution at its next step.
"""

from __future__ import annotations

import uuid

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..services import Reply
from ..services.attribution import MAX_COMPONENTS, MAX_STEPS
from ..services.codec import NPY_MIME
from . import params
from .base import ID, CancellableModelPost, CnnvisHandler, artifacts
from .openapi_schema import INDEX, INT, JSON, MODEL, NPY, NUM, REPLY, STR, TRUST_BODY, obj, op, param

ARTIFACT = "(?P<index>[0-9]{1,6})"


class _ArrayReplyHandler(CancellableModelPost):
    """POST models/{id}/KIND: the kind's options in, arrays out (framed, or as artifact URLs)."""

    @web.authenticated
    @authorized
    async def post(self, model_id: str) -> None:
        body = self.body()
        args: dict = {"model": model_id, **self.options(body)}
        if body.get("indices") is not None:
            args["indices"] = params.int_list(body["indices"], "indices")
        if body.get("layer") is not None:
            args["layer"] = params.text(body["layer"], "layer")
        reply = await self.dispatch_on_inputs(args, body)
        self.write_reply(reply, lambda: self.write_with_artifacts(model_id, reply))

    def write_with_artifacts(self, model_id: str, reply: Reply) -> None:
        """JSON with a URL per .npy buffer, kept for the follow-up GETs."""
        result_id = uuid.uuid4().hex[:12]
        self.ext.results.put(result_id, model_id, reply)
        self.write_json({**reply.result, "id": result_id, "artifacts": artifacts(
            reply.result["buffers"], lambda i: self.api_url("models", model_id, self.kind, result_id, str(i)))})


class AttributeHandler(_ArrayReplyHandler):
    kind = "attribute"

    def options(self, body: dict) -> dict:
        args = {k: v for k, v in params.explain_args(body).items() if k in ("method", "target")}
        for key in ("steps", "samples"):
            if body.get(key) is not None:
                args[key] = params.integer(body[key], key, 1, MAX_STEPS)
        if body.get("seed") is not None:
            args["seed"] = params.integer(body["seed"], "seed", 0, 2**31 - 1)
        if body.get("noise") is not None:
            args["noise"] = params.number(body["noise"], "noise", 0.0, 10.0)
        return args


class ConceptsHandler(_ArrayReplyHandler):
    kind = "concepts"

    def options(self, body: dict) -> dict:
        args = {}
        if body.get("n_components") is not None:
            args["n_components"] = params.integer(body["n_components"], "n_components", 1, MAX_COMPONENTS)
        if body.get("top_k") is not None:
            args["top_k"] = params.integer(body["top_k"], "top_k", 1, 20)
        return args


class ArtifactHandler(CnnvisHandler):
    """GET models/{id}/KIND/{result}/{index}: one array of an earlier reply."""

    auth_resource = "cnnvis:models"

    @web.authenticated
    @authorized
    async def get(self, model_id: str, result_id: str, index: str) -> None:
        reply = self.ext.results.get(result_id, model_id)
        i = int(index)
        if not 0 <= i < len(reply.buffers):
            raise web.HTTPError(404, f"No artifact {i}; there are {len(reply.buffers)}.")
        self.write_binary(reply.buffers[i], NPY_MIME)


def attribution_routes(api: str) -> list[tuple]:
    """``(pattern, handler)`` under the API prefix ``api``; ``attribution_paths`` documents each one."""
    model, result = ID.format("model_id"), ID.format("result_id")
    return [
        (api + f"models/{model}/attribute", AttributeHandler),
        (api + f"models/{model}/attribute/{result}/{ARTIFACT}", ArtifactHandler),
        (api + f"models/{model}/concepts", ConceptsHandler),
        (api + f"models/{model}/concepts/{result}/{ARTIFACT}", ArtifactHandler),
    ]


def attribution_paths() -> dict:
    source = {"indices": {"type": "array", "items": INT}, "layer": STR,
              "inputs": TRUST_BODY["properties"]["inputs"], "inputs_limit": INT}
    artifact = op("One array of an earlier reply (.npy).", "cnnvis:models",
                  params=[MODEL, param("result_id", "path"), INDEX], content=(NPY,))
    return {
        "/api/models/{model_id}/attribute": {"post": op(
            "Pixel attributions (cnnvis.attribute): method saliency, smoothgrad, integrated_gradients, "
            "guided_backprop or guided_gradcam; {method, target, signed, shape (N, H, W), buffers: [maps (the "
            "magnitude in [0, 1] per input), raw (as computed, signed for integrated_gradients), images (uint8 "
            "N, H, W, 3)]}. JSON with an artifact URL per array, or 'Accept: application/x-cnnvis-reply' for "
            "one framed reply. Needs gradients (PyTorch and Keras models). Closing the connection cancels it.",
            "cnnvis:models", params=[MODEL], content=(JSON, REPLY),
            body=obj(method=STR, target=TRUST_BODY["properties"]["target"], steps=INT, samples=INT, seed=INT,
                     noise=NUM, **source))},
        "/api/models/{model_id}/attribute/{result_id}/{index}": {"get": artifact},
        "/api/models/{model_id}/concepts": {"post": op(
            "Deep Feature Factorization (cnnvis.concepts) at layer= (default: explain's): {layer, shape (N, K, H, "
            "W), concepts: [{index, top_classes: [{index, name, score}]}], buffers: [maps (float32 N, K, H, W), "
            "regions (uint8 N, H, W: the strongest concept per pixel), images]}.",
            "cnnvis:models", params=[MODEL], content=(JSON, REPLY),
            body=obj(n_components=INT, top_k=INT, **source))},
        "/api/models/{model_id}/concepts/{result_id}/{index}": {"get": artifact},
    }
