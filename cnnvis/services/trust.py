"""Request kinds giving the evidence for an explanation, next to the map: the model-randomisation
sanity check and the deletion/insertion curves. Registered on every
:class:`~cnnvis.services.Dispatcher`, so the widget, the kernel comm and the server answer them alike.

Kinds: ``sanity`` (``cnnvis.sanity_check``: per-stage Spearman/SSIM and the verdict) and
``faithfulness`` (``cnnvis.faithfulness`` for each of ``metrics``: curve and AUC; ``road``: the
MoRF/LeRF score changes per removal percentile and their combined score). Both explain the
session's inputs (or the sent ones, or ``indices`` of them) with the settings given, falling back to
the session's last explain request, so the evidence is about the map the user is looking at.
Both report progress and stop at the next step when cancelled.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import CancelledError
from .dispatch_types import KindGroup, Reply
from .errors import BadRequest

if TYPE_CHECKING:
    from .models import ModelSession

METRICS = ("deletion", "insertion", "road")
DEFAULT_METRICS = ("deletion", "insertion")  # ROAD imputes every removed pixel: asked for by name
# Insertion starts from a blurred copy (a black image makes any insertion look faithful); ROAD
# imputes removed pixels from their neighbours and takes no baseline.
BASELINES = {"deletion": 0.0, "insertion": "blur", "road": 0.0}
MAX_STEPS = 256


class TrustKinds(KindGroup):
    kinds = ("sanity", "faithfulness")

    def sanity(self, args: dict, buffers: list[bytes], progress: Any = None, cancel: Any = None, **_: Any) -> Reply:
        from ..trust import sanity_check

        session = self.dispatcher.session(args)
        inputs, settings = _request(session, args, buffers)
        threshold = _number(args.get("threshold", 0.5), "threshold")
        with session._lock:  # the first pass explains the user's model itself
            report = sanity_check(session.adapter, inputs, settings["method"], settings["target"], settings["layer"],
                                  threshold=threshold, keep_maps=False, progress=_reporter(progress, cancel),
                                  cancel=cancel, output=settings["output"])
        return Reply(_finite({**report.to_dict(), "targets": report.targets, "inputs": _count(session, inputs)}))

    def faithfulness(self, args: dict, buffers: list[bytes], progress: Any = None, cancel: Any = None,
                     **_: Any) -> Reply:
        from ..api import explain
        from ..trust import faithfulness

        session = self.dispatcher.session(args)
        inputs, settings = _request(session, args, buffers)
        metrics = _metrics(args.get("metrics", list(DEFAULT_METRICS)))
        steps = args.get("steps", 32)
        if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
            raise BadRequest(f"steps must be an integer from 1 to {MAX_STEPS}.")
        report = _reporter(progress, cancel)
        with session._lock:
            exp = explain(session.adapter, inputs, settings["method"], settings["target"], settings["layer"],
                          progress=False, cancel=cancel, output=settings["output"])
            curves = {}
            for k, metric in enumerate(metrics):
                # One bar over all metrics: metric k covers [k, k + 1) of the total.
                def part(done: int, total: int, k: int = k) -> None:
                    report(k * total + done, len(metrics) * total)

                result = faithfulness(session.adapter, inputs, exp, metric, steps=steps,
                                      baseline=BASELINES[metric], progress=part)
                curves[metric] = result.to_dict()
        return Reply(_finite({"method": exp.method, "layer": exp.layer, "targets": exp.targets,
                              "inputs": _count(session, inputs), "metrics": curves}))


def _request(session: ModelSession, args: dict, buffers: list[bytes]) -> tuple[Any, dict]:
    """The inputs to check and the explain settings: the request's, else the last explain's."""
    last = session.last_explain
    settings = {k: args.get(k, last.get(k)) for k in ("method", "target", "layer", "output")}
    inputs = session._inputs(buffers)
    indices = args.get("indices")
    if indices is not None:
        if not isinstance(indices, list) or not indices or not all(isinstance(i, int) for i in indices):
            raise BadRequest("indices must be a non-empty list of input positions.")
        inputs = session._select(inputs, indices)
    settings["target"] = session.resolve_target(settings["target"], inputs)
    return inputs, settings


def _reporter(progress: Any, cancel: Any) -> Callable[[int, int], None]:
    """The ``progress`` callable the trust functions call between steps; it raises once cancelled,
    which is how a cancel stops them (they have no cancel of their own)."""

    def report(done: int, total: int) -> None:
        if cancel is not None and cancel.is_set():
            raise CancelledError("The check was cancelled.")
        if callable(progress):
            progress(done, total)

    return report


def _metrics(value: Any) -> list[str]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or any(n not in METRICS for n in names):
        raise BadRequest(f"metrics must be a list of {', '.join(METRICS)}.")
    return list(dict.fromkeys(names))


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRequest(f"{name} must be a number.")
    return float(value)


def _count(session: ModelSession, inputs: Any) -> int:
    return len(session.adapter.inputs_nchw(inputs))


def _finite(value: Any) -> Any:
    """JSON has no NaN: a correlation of a constant map is undefined, sent as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
