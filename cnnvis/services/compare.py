"""Request kinds for two models side by side and the INT8 search. Registered on every
:class:`~cnnvis.services.Dispatcher`, so the widget, the kernel comm and the server answer them alike.

Kinds: ``compare_models`` (``cnnvis.compare`` of two open models on the first one's inputs, or
the sent ones: rows per aligned layer, summary, unaligned layers, and with ``method`` the CAMs'
per-image agreement) and ``quantize`` (``cnnvis.quantize`` of an open ONNX model on its inputs
and the given ``labels``: the written model, its retention, the layers kept in float and every
candidate). Both report progress and stop when cancelled. (``compare`` is the engines' kind.)
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any

import numpy as np

from .codec import from_npy, to_png
from .dispatch_types import KindGroup, Reply
from .errors import BadRequest

MAX_ROUNDS = 32
MAX_MAPPED = 10_000
SHOWN = 8  # images whose two overlays a compare_models reply carries (the least alike)


class CompareKinds(KindGroup):
    kinds = ("compare_models", "quantize")

    def compare_models(self, args: dict, buffers: list[bytes], progress: Any = None, cancel: Any = None,
                       **_: Any) -> Reply:
        from ..comparison import compare

        first, second = (self.dispatcher.session({"model": _text(args.get(k), k)}) for k in ("a", "b"))
        inputs = _inputs(first, buffers)
        names = args.get("names") or [first.name, second.name]
        if names[0] == names[1]:
            names = ["a", "b"]
        method = args.get("method")
        if method is not None and not isinstance(method, str):
            raise BadRequest("method must be the name of a CAM method.")
        with contextlib.ExitStack() as stack:  # both models' hooks stay theirs for the pass
            for lock in dict.fromkeys([first._lock, second._lock]):
                stack.enter_context(lock)
            result = compare(first.model, second.model, inputs, labels=_labels(args.get("labels")),
                             names=tuple(names), mapping=_mapping(args.get("mapping")), method=method,
                             latency=self._latency(args.get("latency", False)),
                             progress=_reporter(progress), cancel=cancel)
        explanations, names, pngs = None, [], []
        if result.explanations is not None:
            explanations, names, pngs = _overlays(result.explanations)
        return Reply(finite({"names": list(result.names), "alignment": result.alignment, "rows": list(result),
                             "summary": result.summary, "unaligned": result.unaligned,
                             "explanations": explanations, "models": [args["a"], args["b"]],
                             "buffers": names}), pngs)  # job snapshots list a result's buffers by name

    def _latency(self, latency: Any) -> Any:
        """True/False, or ``{model name: id of an open TensorRT export}`` (its per-layer profile)."""
        if not isinstance(latency, dict):
            return bool(latency)
        if len(latency) > 2:
            raise BadRequest("latency maps at most the two model names to open TensorRT exports.")
        return {str(name): self.dispatcher.session({"model": _text(engine, "latency")}).model
                for name, engine in latency.items()}

    def quantize(self, args: dict, buffers: list[bytes], progress: Any = None, cancel: Any = None,
                 **_: Any) -> Reply:
        from ..comparison import quantize

        session = self.dispatcher.session({"model": _text(args.get("model"), "model")})
        path = getattr(session.model, "path", None)
        if session.adapter.framework != "onnx" or not path:
            raise BadRequest(f"quantize works on ONNX files; {session.name} is a {session.adapter.framework} model.")
        labels = _labels(args.get("labels"))
        if labels is None:
            raise BadRequest("quantize needs labels: the class of each calibration input (a list of integers).")
        calibration = _inputs(session, buffers)
        target = args.get("target_retention", 0.98)
        if isinstance(target, bool) or not isinstance(target, int | float) or not 0 < target <= 1.5:
            raise BadRequest("target_retention must be a number in (0, 1.5].")
        rounds = args.get("max_rounds", 12)
        if isinstance(rounds, bool) or not isinstance(rounds, int) or not 2 <= rounds <= MAX_ROUNDS:
            raise BadRequest(f"max_rounds must be an integer from 2 to {MAX_ROUNDS}.")
        out = args.get("out") or str(Path(path).with_suffix(".mixed.onnx"))
        result = quantize(path, calibration, labels, float(target), out=out, max_rounds=rounds,
                          progress=_reporter(progress), cancel=cancel)
        return Reply(finite({"model": args["model"], "path": str(result.path), "retention": result.retention,
                             "reached": result.reached, "target_retention": result.target,
                             "accuracy_fp32": result.accuracy_fp32, "accuracy": result.accuracy,
                             "latency_fp32_ms": result.latency_fp32_ms,
                             "kept_float": result.kept_float, "ranked": result.ranked, "flagged": result.flagged,
                             "candidates": list(result.candidates), "rounds": result.rounds, "buffers": []}))


def _overlays(table: Any) -> tuple[dict, list[str], list[bytes]]:
    """The rows, and both models' overlays (PNG) of the ``SHOWN`` images they disagree on most,
    referred to from their row by buffer position (``overlay_a``, ``overlay_b``)."""
    first, second = table.explained
    overlays = (first.overlay(), second.overlay())
    rows, names, pngs = [dict(r) for r in table], [], []
    for row in rows[:SHOWN]:
        for side, images in zip(("a", "b"), overlays, strict=True):
            row[f"overlay_{side}"] = len(pngs)
            names.append(f"overlay {side} {row['image']}")
            pngs.append(to_png(images[row["image"]]))
    return {"method": table.method, "layers": list(table.layers), "rows": rows}, names, pngs


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{name}= must be the id of an open model.")
    return value


def _inputs(session: Any, buffers: list[bytes]) -> Any:
    if buffers:
        return from_npy(buffers[0])
    if session.inputs is None:
        raise BadRequest(f"{session.name} was opened without inputs: open it with an inputs .npy, or send one.")
    return session.inputs


def _labels(value: Any) -> np.ndarray | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise BadRequest("labels must be a list of integer classes, one per input.")
    return np.asarray(value, dtype=np.int64)


def _mapping(value: Any) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) > MAX_MAPPED or \
            not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise BadRequest("mapping must be an object {layer of model a: layer of model b}.")
    return value


def _reporter(progress: Any) -> Any:
    """The callable form of progress cnnvis.compare/quantize take; no bar in a server's log."""
    if not callable(progress):
        return False

    def report(done: int, total: int) -> None:
        progress(done, total)
    return report


def finite(value: Any) -> Any:
    """JSON has no NaN or infinity: undefined numbers (retention of an all-wrong model) go as null."""
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, dict):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
