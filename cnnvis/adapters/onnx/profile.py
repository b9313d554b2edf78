"""Per-node latency from onnxruntime's profiler trace (Chrome trace JSON).

The trace has one ``model_run`` event per ``session.run`` and, inside its window, one
``<node>_kernel_time`` event per kernel. Per-node numbers come from the kernel events; the run
total is onnxruntime's own ``model_run``; the difference (framework work between kernels, fences,
allocations) is reported as such, never spread over the nodes.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...errors import CnnvisError
from ...profiling import ProfileTable
from .runtime import make_session

KERNEL_SUFFIX = "_kernel_time"
NOTES = {
    "mean_ms": "per node: mean over the timed runs of its kernel time (trace events '<node>_kernel_time')",
    "pct": "per node: share of nodes_ms",
    "nodes_ms": "mean over the timed runs of the sum of all kernel times in that run",
    "model_run_ms": "mean over the timed runs of onnxruntime's own 'model_run' event (the whole run)",
    "overhead_ms": "model_run_ms - nodes_ms: work between kernels (fences, allocation, copies), no node's",
}


def profile_model(proto: Any, feeds: dict, *, runs: int = 10, warmup: int = 2, optimized: bool = False,
                  threads: int | None = None, node_ids: Sequence[str] = (), external: Any = None) -> ProfileTable:
    if runs < 1 or warmup < 0:
        raise CnnvisError(f"profile needs runs >= 1 and warmup >= 0, not runs={runs}, warmup={warmup}.")
    folder = tempfile.mkdtemp(prefix="cnnvis-profile-")
    try:
        session = make_session(proto, threads, profile_prefix=str(Path(folder) / "ort"), optimized=optimized,
                               external=external)
        for _ in range(warmup + runs):
            session.run(None, feeds)
        trace = session.end_profiling()
        events = json.loads(Path(trace).read_text())
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return table_from_trace(events, proto, node_ids, warmup=warmup, optimized=optimized)


def table_from_trace(events: list[dict], proto: Any, node_ids: Sequence[str], *, warmup: int = 0,
                     optimized: bool = False) -> ProfileTable:
    """Groups kernel events by the ``model_run`` that contains them; drops the first ``warmup`` runs."""
    runs = sorted((e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"),
                  key=lambda e: e["ts"])[warmup:]
    if not runs:
        raise CnnvisError("The onnxruntime trace has no timed 'model_run' event; profile with runs >= 1.")
    kernels = sorted((e for e in events if e.get("cat") == "Node" and e.get("name", "").endswith(KERNEL_SUFFIX)),
                     key=lambda e: e["ts"])
    per_run = [{"model_run_ms": run["dur"] / 1000, "nodes_ms": 0.0, "kernels": 0} for run in runs]
    rows: dict[str, dict] = {}
    for event in kernels:
        k = _run_of(event, runs)
        if k is None:
            continue  # a warm-up run's kernel
        per_run[k]["nodes_ms"] += event["dur"] / 1000
        per_run[k]["kernels"] += 1
        name = event["name"][: -len(KERNEL_SUFFIX)]
        row = rows.setdefault(name, {"node": name, "op_type": event.get("args", {}).get("op_name"),
                                     "provider": event.get("args", {}).get("provider"), "total_ms": 0.0, "calls": 0})
        row["total_ms"] += event["dur"] / 1000
        row["calls"] += 1
    for run in per_run:
        run["overhead_ms"] = run["model_run_ms"] - run["nodes_ms"]
    count = len(runs)
    nodes_ms = sum(r["nodes_ms"] for r in per_run) / count
    names = _names(proto, node_ids)
    result = []
    for row in rows.values():
        mean = row.pop("total_ms") / count
        row.update(mean_ms=mean, pct=100 * mean / nodes_ms if nodes_ms else 0.0)
        row["source_nodes"] = _source_nodes(row["node"], row["op_type"], names, proto)
        result.append(row)
    totals = {"runs": count, "nodes_ms": nodes_ms, "model_run_ms": sum(r["model_run_ms"] for r in per_run) / count}
    totals["overhead_ms"] = totals["model_run_ms"] - nodes_ms
    timed = {n for row in result for n in row["source_nodes"]}
    totals["untimed_nodes"] = [n for n in node_ids if n not in timed]
    source = "onnxruntime profiler, " + ("optimized graph (fused kernels)" if optimized else "unoptimized graph")
    return ProfileTable(result, source, totals, dict(NOTES), per_run)


def _run_of(event: dict, runs: list[dict]) -> int | None:
    for k, run in enumerate(runs):
        if run["ts"] <= event["ts"] <= run["ts"] + run["dur"]:
            return k
    return None


def _names(proto: Any, node_ids: Sequence[str]) -> dict[str, str]:
    """ONNX node name -> cnnvis node id (unnamed nodes have generated ids)."""
    return {node.name: node_id for node, node_id in zip(proto.graph.node, node_ids, strict=False) if node.name}


def _source_nodes(kernel: str, op_type: str | None, names: dict[str, str], proto: Any) -> list[str]:
    """The ONNX node(s) a kernel stands for: itself, or for a kernel onnxruntime named after the
    tensor it writes (its channels-blocked ``_nchwc`` rewrites), that tensor's producer and the
    chain back to the node of the kernel's own op type (``Conv`` fused with the ``Relu`` after it)."""
    if kernel in names:
        return [names[kernel]]
    tensor = kernel.removesuffix("_nchwc")
    producers = {t: node for node in proto.graph.node for t in node.output}
    chain = [producers[tensor]] if tensor in producers else []
    while chain and chain[0].op_type != op_type and len(chain) < 4 and chain[0].input:
        before = producers.get(chain[0].input[0])
        if before is None:
            break
        chain.insert(0, before)
    if chain and chain[0].op_type != op_type:
        chain = chain[-1:]  # no node of the kernel's type upstream: only the producer is certain
    return [names[n.name] for n in chain if n.name in names]
