"""Per-layer latency of both models, where both can be timed (ONNX through onnxruntime's profiler,
after its graph optimizations: the kernels a deployment runs, INT8 ones included)."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from .layers import Side

PROFILE_ROWS = 8  # inputs timed: enough for stable kernel times, few enough to stay cheap
_TOKEN = re.compile(r"_token_\d+$")  # onnxruntime's suffix on the kernels it made from one node


def layer_latencies(side: Side, batch: Any) -> dict[str, float] | None:
    """``{layer name: mean ms per run}`` (a kernel fused from several nodes is split evenly
    among them), or None where this side cannot be timed."""
    if side.framework != "onnx":
        return None
    from ..profiling import profile

    table = profile(side.handle, batch[:PROFILE_ROWS], runs=5, warmup=1, optimized=True)
    owner = {key: layer.name for layer in side.layers for key in layer.keys}
    times: dict[str, float] = defaultdict(float)
    for row in table:
        nodes = [n for n in (row.get("source_nodes") or [_TOKEN.sub("", str(row.get("node") or ""))]) if n in owner]
        for node in nodes:
            times[owner[node]] += float(row.get("mean_ms") or 0.0) / len(nodes)
    return dict(times)
