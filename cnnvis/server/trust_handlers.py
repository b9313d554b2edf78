"""REST routes giving the evidence for an explanation: the model-randomisation sanity check and
the deletion/insertion curves (the services' ``sanity`` and ``faithfulness`` kinds). A client that
goes away (the panel's Cancel aborts its request) stops the check at its next step.
"""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..services.errors import BadRequest
from . import params
from .base import ID, CancellableModelPost

MAX_STEPS = 256
METRICS = ("deletion", "insertion", "road")


class _CheckHandler(CancellableModelPost):
    """POST models/{id}/KIND: explain settings as for explain, plus the kind's own options."""

    @web.authenticated
    @authorized
    async def post(self, model_id: str) -> None:
        body = self.body()
        args = {"model": model_id, **params.explain_args(body), **self.options(body)}
        for key in ("alpha", "colormap", "top_k"):  # explain's display options mean nothing here
            args.pop(key, None)
        reply = await self.dispatch_on_inputs(args, body)
        self.write_json(reply.result)


class SanityHandler(_CheckHandler):
    kind = "sanity"

    def options(self, body: dict) -> dict:
        if body.get("threshold") is None:
            return {}
        return {"threshold": params.number(body["threshold"], "threshold", -1.0, 1.0)}


class FaithfulnessHandler(_CheckHandler):
    kind = "faithfulness"

    def options(self, body: dict) -> dict:
        out: dict = {}
        if body.get("steps") is not None:
            out["steps"] = params.integer(body["steps"], "steps", 1, MAX_STEPS)
        metrics = body.get("metrics")
        if metrics is not None:
            if not isinstance(metrics, list) or not all(m in METRICS for m in metrics) or not metrics:
                raise BadRequest("metrics must be a non-empty list of 'deletion', 'insertion' and 'road'.")
            out["metrics"] = metrics
        return out


def trust_routes(api: str) -> list[tuple]:
    """``(pattern, handler)`` under the API prefix ``api``; ``openapi.py`` documents each one."""
    model = ID.format("model_id")
    return [
        (api + f"models/{model}/sanity", SanityHandler),
        (api + f"models/{model}/faithfulness", FaithfulnessHandler),
    ]
