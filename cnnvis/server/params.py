"""Checks on request parameters, so bad input is a 400 with a message before any service runs."""

from __future__ import annotations

import json
import math
from typing import Any

from ..services.errors import BadRequest


def parse_json_object(body: bytes) -> dict:
    if not body or not body.strip():
        return {}
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"Malformed JSON body: {exc}.") from None
    if not isinstance(value, dict):
        raise BadRequest("The request body must be a JSON object.")
    return value


def integer(value: Any, name: str, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise BadRequest(f"{name} must be an integer, not {value!r}.") from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{name} must be an integer.")
    if (low is not None and value < low) or (high is not None and value > high):
        raise BadRequest(f"{name} must be between {low} and {high if high is not None else 'any'}.")
    return value


def number(value: Any, name: str, low: float, high: float, *, high_open: bool = False) -> float:
    try:
        if isinstance(value, bool):
            raise ValueError
        result = float(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{name} must be a number, not {value!r}.") from None
    if not math.isfinite(result) or result < low or result > high or (high_open and result == high):
        raise BadRequest(f"{name} must be in [{low}, {high}{')' if high_open else ']'}.")
    return result


def text(value: Any, name: str, max_length: int = 1024) -> str:
    if not isinstance(value, str) or not value or len(value) > max_length or "\x00" in value:
        raise BadRequest(f"{name} must be a non-empty string (at most {max_length} characters).")
    return value


def int_list(value: Any, name: str, max_length: int = 100_000) -> list[int]:
    if not isinstance(value, list) or len(value) > max_length:
        raise BadRequest(f"{name} must be a list of integers.")
    return [integer(v, name, -2**31, 2**31) for v in value]


def model_labels(value: Any, name: str, count: int | None = None) -> list[str]:
    """One short label per model; exactly ``count`` of them where the route takes a fixed number."""
    if not isinstance(value, list) or (count is not None and len(value) != count):
        how_many = "a list of" if count is None else {2: "two"}.get(count, str(count))
        raise BadRequest(f"{name} must be {how_many} labels, one per model.")
    return [text(n, name, 200) for n in value]


def explain_args(body: dict) -> dict:
    """The explain options the services take, checked; unknown keys are ignored."""
    args: dict[str, Any] = {}
    if body.get("method") is not None:
        args["method"] = text(body["method"], "method", 64)
    if body.get("layer") is not None:
        args["layer"] = text(body["layer"], "layer")
    target = body.get("target")
    if isinstance(target, dict):  # a detected box or a segmentation class: {"box": i} / {"class": c}
        if len(target) != 1 or next(iter(target)) not in ("box", "class"):
            raise BadRequest("target must be a class index, a list of them, {\"box\": i} or {\"class\": c}.")
        key = next(iter(target))
        args["target"] = {key: integer(target[key], f"target.{key}", 0, 2**31 - 1)}
    elif target is not None:
        args["target"] = int_list(target, "target") if isinstance(target, list) else integer(target, "target", 0)
        if isinstance(target, list) and any(t < 0 for t in args["target"]):
            raise BadRequest("target must be non-negative class indices.")
    if body.get("indices") is not None:
        args["indices"] = int_list(body["indices"], "indices")
        if not args["indices"]:
            raise BadRequest("indices must name at least one input.")
    if body.get("alpha") is not None:
        args["alpha"] = number(body["alpha"], "alpha", 0.0, 1.0)
    if body.get("colormap") is not None:
        args["colormap"] = text(body["colormap"], "colormap", 32)
    if body.get("top_k") is not None:
        args["top_k"] = integer(body["top_k"], "top_k", 1, 1000)
    for key in ("eigen_smooth", "aug_smooth"):
        if body.get(key) is not None:
            if not isinstance(body[key], bool):
                raise BadRequest(f"{key} must be true or false.")
            args[key] = body[key]
    if body.get("options") is not None:  # a method's own options, checked by the service
        if not isinstance(body["options"], dict):
            raise BadRequest("options must be an object of method options.")
        args["options"] = body["options"]
    return args


def scalar_args(query: dict, max_points: int) -> dict:
    """Query parameters of ``scalars``: points are clamped to the server's maximum."""
    args: dict[str, Any] = {"logdir": text(query.get("logdir"), "logdir"),
                            "run": text(query.get("run"), "run"), "tag": text(query.get("tag"), "tag")}
    if query.get("points") is not None:
        args["points"] = min(integer(query["points"], "points", 3), max_points)
    else:
        args["points"] = min(2000, max_points)
    if query.get("smoothing") is not None:
        args["smoothing"] = number(query["smoothing"], "smoothing", 0.0, 1.0, high_open=True)
    if query.get("since") is not None:
        args["since"] = integer(query["since"], "since", 0)
    return args
