"""Building blocks of the OpenAPI document: content types, operations, parameters, shared bodies.

Each route module describes its own paths with these; ``openapi.spec`` merges them into one document.
"""

from __future__ import annotations

from typing import Any

JSON = "application/json"
NPY = "application/x-npy"
PNG = "image/png"
REPLY = "application/x-cnnvis-reply"  # the whole protocol reply: JSON + buffers, framed (see services.codec)


def param(name: str, where: str = "query", required: bool = False, schema: dict | None = None,
           description: str = "") -> dict:
    return {"name": name, "in": where, "required": required or where == "path",
            "schema": schema or {"type": "string"}, "description": description}


def op(summary: str, resource: str, *, params: list | None = None, body: dict | None = None,
        ok: str = "200", content: tuple[str, ...] = (JSON,), websocket: bool = False, too_many: bool = False) -> dict:
    op: dict[str, Any] = {
        "summary": summary,
        "x-cnnvis-auth-resource": resource,
        "parameters": params or [],
        "responses": {ok: {"description": "OK", "content": {c: {} for c in content}},
                      "400": {"$ref": "#/components/responses/Error"},
                      "403": {"$ref": "#/components/responses/Error"},
                      "404": {"$ref": "#/components/responses/Error"}},
    }
    if body is not None:
        op["requestBody"] = {"required": True, "content": {JSON: {"schema": body}}}
        op["responses"]["413"] = {"$ref": "#/components/responses/Error"}
    if too_many:
        op["responses"]["429"] = {"$ref": "#/components/responses/Error"}
    if websocket:
        op["x-websocket"] = True
        op["responses"] = {"101": {"description": "Switching protocols; JSON text messages follow."},
                           "403": {"$ref": "#/components/responses/Error"}}
    return op


def obj(**props: Any) -> dict:
    required = [k.rstrip("_") for k in props if k.endswith("_")]
    return {"type": "object", "properties": {k.rstrip("_"): v for k, v in props.items()}, "required": required}


STR, INT, NUM = {"type": "string"}, {"type": "integer"}, {"type": "number"}
LOGDIR = param("logdir", required=True, description="Relative to root_dir (or an allowed root / URL).")
MODEL = param("model_id", "path")
JOB = param("job_id", "path")
INDEX = param("index", "path", schema=INT)
EXPLAIN_BODY = obj(
    method=STR, layer=STR, target={"oneOf": [INT, {"type": "array", "items": INT}, obj(box=INT), obj(**{"class": INT})],
                                   "description": "a class index, one per input, {box: i} (a detector's i-th box) "
                                                  "or {class: c} (a segmentation class)"},
    indices={"type": "array", "items": INT}, alpha=NUM, colormap=STR, top_k=INT,
    eigen_smooth={"type": "boolean", "description": "weighted activations projected on their first principal "
                                                    "component instead of summed"},
    aug_smooth={"type": "boolean", "description": "maps averaged over flips and brightness x0.9/1/1.1 (6 passes)"},
    options={"type": "object", "description": "the method's own options: seed (randomcam), alpha and "
                                              "comparison_categories (finercam), layers and base (refinecam), k (fem), "
                                              "kernel and gamma (kpca_cam)"},
    inputs={"type": "string", "description": ".npy/.npz under root_dir used instead of the model's inputs"},
    inputs_limit=INT)

TRUST_BODY = obj(method=STR, layer=STR, target=EXPLAIN_BODY["properties"]["target"],
                  indices={"type": "array", "items": INT}, threshold=NUM, steps=INT,
                  metrics={"type": "array", "items": {"enum": ["deletion", "insertion", "road"]}},
                  inputs=EXPLAIN_BODY["properties"]["inputs"], inputs_limit=INT)
