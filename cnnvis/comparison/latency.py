"""Per-layer latency of both models: ONNX through onnxruntime's profiler (after its graph
optimizations: the kernels a deployment runs, INT8 ones included), or from the TensorRT engine a
side was built into (its exported per-layer profile, traced back to the ONNX nodes it fused)."""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from ..errors import CnnvisError
from .layers import Side

PROFILE_ROWS = 8  # inputs timed: enough for stable kernel times, few enough to stay cheap
_TOKEN = re.compile(r"_token_\d+$")  # onnxruntime's suffix on the kernels it made from one node


def engines_for(latency: Any, names: tuple[str, str]) -> dict[str, Any]:
    """``latency`` as given to ``compare``: True (time what can be timed) or ``{name: engine}``."""
    if isinstance(latency, bool):
        return {}
    if not isinstance(latency, Mapping) or not set(latency) <= set(names):
        raise CnnvisError(f"latency is True, or {{model name: TensorRT export}} with names from {list(names)}; "
                          f"not {latency!r}.")
    return dict(latency)


def layer_latencies(side: Side, batch: Any, engine: Any = None) -> tuple[dict[str, float], str] | None:
    """``({layer name: ms}, where the times come from)``: an engine's layer time, or a kernel fused
    from several nodes, is split evenly among them. None where this side cannot be timed."""
    if engine is not None:
        return engine_latencies(side, engine)
    if side.framework != "onnx":
        return None
    from ..profiling import profile

    table = profile(side.handle, batch[:PROFILE_ROWS], runs=5, warmup=1, optimized=True)
    owner = _owners(side)
    times: dict[str, float] = defaultdict(float)
    for row in table:
        nodes = [n for n in (row.get("source_nodes") or [_TOKEN.sub("", str(row.get("node") or ""))]) if n in owner]
        for node in nodes:
            times[owner[node]] += float(row.get("mean_ms") or 0.0) / len(nodes)
    return dict(times), f"onnxruntime profile, {min(PROFILE_ROWS, len(batch))} inputs per run"


def engine_latencies(side: Side, engine: Any) -> tuple[dict[str, float], str]:
    """The layer times of the TensorRT engine ``side``'s ONNX model was built into."""
    from ..adapters.base import resolve_adapter
    from ..api import load

    if side.framework != "onnx":
        raise CnnvisError(f"A TensorRT engine's latency is traced to the ONNX model it was built from; "
                          f"{side.label!r} is a {side.framework} model. Compare that ONNX file instead.")
    handle = load(engine) if isinstance(engine, (str, os.PathLike)) else engine
    adapter = resolve_adapter(handle)
    if not hasattr(adapter, "graph_on_source"):
        raise CnnvisError(f"latency[{side.label!r}] takes a TensorRT export (the engine's graph.json with its "
                          f"profile, or a trtexec log), not a {getattr(adapter, 'framework', 'model')} model.")
    painted = adapter.graph_on_source(side.handle)
    owner = _owners(side)
    times: dict[str, float] = defaultdict(float)
    for node in painted.nodes:
        share = node.get("latency_share_ms")
        if share is not None and node["id"] in owner:
            times[owner[node["id"]]] += float(share)
    if not times:
        raise CnnvisError(f"No layer of the TensorRT export {painted.engine!r} names a node of {side.label!r}'s "
                          "model (or the export has no profile): give the engine built from this ONNX file, "
                          "exported with --exportProfile and --exportLayerInfo.")
    device = (adapter.engine_summary().get("device") or "").strip()
    return dict(times), f"TensorRT export {painted.engine}" + (f" ({device})" if device else "")


def _owners(side: Side) -> dict[str, str]:
    return {key: layer.name for layer in side.layers for key in layer.keys}
