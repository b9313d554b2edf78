"""Request kinds about deployed models (ONNX, TensorRT exports): per-layer profiles with the
per-iteration latency distribution, the source ONNX graph painted with an engine's latency, and
engine comparisons. Registered on every :class:`~cnnvis.services.Dispatcher`, so the widget, the
kernel comm and the server answer them alike.

Kinds: ``profile`` (what is known without running anything: a TensorRT export's table, or the last
``run_profile`` of an ONNX model), ``run_profile`` (times an ONNX model on its inputs),
``source_graph`` and ``compare``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .codec import from_npy
from .dispatch_types import KindGroup, KindHost, Reply
from .errors import BadRequest

if TYPE_CHECKING:
    from .models import ModelSession

HISTOGRAM_BINS = 40
MAX_RUNS = 1000
MAX_COMPARED = 16


class EngineKinds(KindGroup):
    """The four kinds, with the last ONNX profile and painted graphs kept per model (they are slow
    to make and do not change while the model is open)."""

    kinds = ("profile", "run_profile", "source_graph", "compare")

    def __init__(self, dispatcher: KindHost):
        super().__init__(dispatcher)
        self._profiles: dict[int, dict] = {}
        self._painted: dict[tuple[int, str], dict] = {}

    def profile(self, args: dict, buffers: list[bytes], **_: Any) -> Reply:
        session = self.dispatcher.session(args)
        if session.adapter.framework != "tensorrt":
            cached = self._profiles.get(id(session))
            if cached is None:
                raise BadRequest(f"{session.name} has no stored profile: time it on its inputs with run_profile "
                                 "(POST models/{id}/profile).")
            return Reply(cached)
        from ..profiling import profile

        return Reply(_table_result(session, profile(session.adapter), _export_timing(session)))

    def run_profile(self, args: dict, buffers: list[bytes], **_: Any) -> Reply:
        """Times an ONNX model on the sent inputs (or its own); a TensorRT export answers its table."""
        session = self.dispatcher.session(args)
        if session.adapter.framework == "tensorrt":
            return self.profile(args, buffers)
        from ..profiling import profile

        inputs = session.adapter.prepare_inputs(from_npy(buffers[0])) if buffers else session.inputs
        if inputs is None:
            raise BadRequest(f"{session.name} was opened without inputs: send an inputs .npy to time it on.")
        options = {"runs": _count(args.get("runs", 10), "runs", 1), "warmup": _count(args.get("warmup", 2), "warmup", 0),
                   "optimized": bool(args.get("optimized", False))}
        with session._lock:  # one pass at a time per model, as the other kinds do
            table = profile(session.adapter, inputs, **options)
        runs = [r["model_run_ms"] for r in table.runs]
        timing = _distribution(runs, f"onnxruntime 'model_run' per timed run ({len(runs)} runs)") if runs else None
        result = _table_result(session, table, timing)
        self._profiles[id(session)] = result
        return Reply(result)

    def source_graph(self, args: dict, buffers: list[bytes], **_: Any) -> Reply:
        """The source ONNX graph painted with the engine's latency: ``source`` is a path (the server
        resolves it under its root first) or ``source_model`` the id of an open ONNX model."""
        session = self.dispatcher.session(args)
        if args.get("source_model") is not None:
            source_session = self.dispatcher.session({"model": args["source_model"]})
            source, key = source_session.model, f"model:{id(source_session)}"
        elif isinstance(args.get("source"), str) and args["source"]:
            source = key = args["source"]
        else:
            raise BadRequest("source_graph needs source= (the .onnx file the engine was built from) or source_model=.")
        cached = self._painted.get((id(session), key))
        if cached is None:
            from ..api import graph

            cached = _finite(graph(session.model, source=source).to_dict())
            self._painted[(id(session), key)] = cached
        return Reply(cached)

    def compare(self, args: dict, buffers: list[bytes], **_: Any) -> Reply:
        ids = args.get("models")
        if not isinstance(ids, list) or not 2 <= len(ids) <= MAX_COMPARED or not all(isinstance(i, str) for i in ids):
            raise BadRequest(f"compare needs models: a list of 2 to {MAX_COMPARED} open model ids.")
        sessions = [self.dispatcher.session({"model": i}) for i in ids]
        names = args.get("names")
        if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) and n for n in names)):
            raise BadRequest("names must be a list of non-empty strings, one per model.")
        from ..engines import _default_names, compare_engines

        # Names from the clients' own paths, so no server path leaks into labels.
        names = names or _default_names([s.source or s.name for s in sessions])
        rows = compare_engines([s.model for s in sessions], names=names)
        totals = [{**t, "path": s.source, "model": i} for t, s, i in zip(rows.totals, sessions, ids, strict=True)]
        return Reply(_finite({"alignment": rows.alignment, "names": rows.names, "models": ids,
                              "rows": list(rows), "totals": totals}))


def _table_result(session: ModelSession, table: Any, timing: dict | None) -> dict:
    rows = [dict(r) for r in table]
    source = table.source
    if session.adapter.framework == "tensorrt":  # per-tensor formats come with the engine graph
        profile_path = session.adapter.model.profile_path
        source = f"TensorRT export profile ({Path(profile_path).name if profile_path else 'none'})"  # no server paths
        nodes = {n["id"]: n for n in session.adapter.graph().nodes}
        for row in rows:
            node = nodes.get(row["node"], {})
            row["inputs"] = [_tensor(t) for t in node.get("inputs") or []]
            row["outputs"] = [_tensor(t) for t in node.get("outputs") or []]
            row["tactic"] = node.get("tactic")
    return _finite({"framework": session.adapter.framework, "source": source, "rows": rows,
                    "totals": table.totals, "notes": table.notes, "timing": timing})


def _tensor(t: dict) -> dict:
    return {k: t.get(k) for k in ("name", "shape", "format", "precision")}


def _export_timing(session: ModelSession) -> dict | None:
    export = session.adapter.model
    values = getattr(export, "timing_ms", None)
    if not values:
        return None
    return _distribution(values, f"end-to-end latency per iteration from the timing export ({len(values)} iterations)")


def _distribution(values: Any, label: str) -> dict:
    """Summary statistics and a histogram (the full list can hold thousands of iterations)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if not len(v):
        return {"count": 0, "label": label}
    counts, edges = np.histogram(v, bins=min(HISTOGRAM_BINS, max(1, len(np.unique(v)))))
    return {"count": int(len(v)), "label": label, "median_ms": float(np.median(v)), "mean_ms": float(v.mean()),
            "min_ms": float(v.min()), "max_ms": float(v.max()), "p90_ms": float(np.percentile(v, 90)),
            "p95_ms": float(np.percentile(v, 95)), "p99_ms": float(np.percentile(v, 99)),
            "histogram": {"edges": edges.tolist(), "counts": counts.tolist()}}


def _count(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_RUNS:
        raise BadRequest(f"{name} must be an integer from {low} to {MAX_RUNS}.")
    return value


def _finite(value: Any) -> Any:
    """JSON without NaN/inf (replies are encoded with allow_nan=False): those become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, np.generic):
        return _finite(value.item())
    return value
