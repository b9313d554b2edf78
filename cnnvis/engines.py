"""Side-by-side comparison of engines built from one network (FP32 / FP16 / INT8, or two GPUs).

Engines are aligned in one of two ways, and the result says which:

- ``"source nodes"``: engines built from the same ONNX export name their layers after the same
  nodes (``Conv_0 + Relu_1``); layers that share a source node fall in one group, so a group shows
  where one engine fused what another kept apart.
- ``"compute order"``: a QAT export names its nodes differently (``conv1.weight + QuantizeLinear_7
  + Conv_9``), so groups are the k-th convolution, the k-th pooling, ... of each engine.

Format conversions, quantize layers and other engine-only layers join the group of the layer they
feed (or, failing that, follow), so the groups partition every layer and each engine's rows add up
to its total. Works through the plugin hooks on anything whose adapter offers ``engine_summary()``.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .comparison.categories import category_of
from .errors import CnnvisError
from .tables import Table

SHARED_NAMES_THRESHOLD = 0.5
_ACTIVATIONS = {"Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Elu", "Selu", "Gelu"}  # share of compute source nodes all engines must have in common


class EngineComparison(Table):
    """Rows (dicts), one per aligned group, plus ``alignment``, ``names`` and per-engine ``totals``."""

    def __init__(self, rows: list[dict], alignment: str, names: list[str], totals: list[dict]):
        super().__init__(rows)
        self.alignment = alignment
        self.names = names
        self.totals = totals


def compare_engines(handles: Sequence[Any], names: Sequence[str] | None = None) -> EngineComparison:
    """Aligns two or more engines of one network; one row per group with each engine's latency,
    precision and layers, the delta to the first engine, and whether the fusion differs."""
    from .adapters.base import resolve_adapter
    from .api import load

    if len(handles) < 2:
        raise CnnvisError("compare_engines needs at least two engines (handles from cnnvis.load).")
    handles = [load(h) if isinstance(h, (str, os.PathLike)) else h for h in handles]
    adapters = [resolve_adapter(h) for h in handles]
    summaries = [_summary(a) for a in adapters]
    names = list(names) if names is not None else _default_names([s["path"] for s in summaries])
    if len(names) != len(handles) or len(set(names)) != len(names):
        raise CnnvisError(f"names must be {len(handles)} distinct labels, one per engine, not {names!r}.")
    engines = [_layers(a.graph()) for a in adapters]
    alignment = _choose_alignment(engines)
    keys = [_assign(layers, alignment) for layers in engines]
    rows = _rows(engines, keys, names, alignment)
    totals = [_totals(name, s, layers) for name, s, layers in zip(names, summaries, engines, strict=True)]
    return EngineComparison(rows, alignment, names, totals)


def _summary(adapter: Any) -> dict:
    summary = getattr(adapter, "engine_summary", None)
    if summary is None:
        raise CnnvisError(f"compare_engines compares deployed engines (TensorRT exports); a {adapter.framework} "
                          "model is not one. Load each engine's graph.json (or trtexec log) with cnnvis.load.")
    return summary()


def _default_names(paths: list[str]) -> list[str]:
    """File names, or folder names where files share a name (``fp32/resnet.onnx.engine.graph.json``)."""
    for pick in (lambda p: Path(p).name.split(".")[0], lambda p: Path(p).parent.name, lambda p: str(Path(p))):
        names = [pick(p) for p in paths]
        if len(set(names)) == len(names) and all(names):
            return names
    return [f"engine{i}" for i in range(len(paths))]


def _layers(graph: Any) -> dict:
    """The layers of the first optimization profile, their order, and the dataflow between them."""
    layers = [n for n in graph.nodes if n["kind"] == "layer" and not n.get("profile")]
    ids = {n["id"] for n in layers}
    succ, pred = defaultdict(list), defaultdict(list)
    for src, dst in graph.edges:
        if src in ids and dst in ids:
            succ[src].append(dst)
            pred[dst].append(src)
    return {"layers": layers, "succ": succ, "pred": pred, "by_name": {n["name"]: n for n in layers}}


def _is_compute(node: dict) -> bool:
    return node.get("name_kind") == "foreign" or bool(node.get("source_ops"))


def _compute_nodes(node: dict) -> list[str]:
    quantize = set(node.get("quantize_nodes") or [])
    return [n for n in node.get("source_nodes") or [] if n not in quantize]


def _category(node: dict) -> str:
    text = f"{node.get('parameter_type') or ''} {node.get('type') or ''}"
    return category_of(text, default=(node.get("type") or "layer").lower())


def _choose_alignment(engines: list[dict]) -> str:
    sets = [{s for n in e["layers"] if _is_compute(n) for s in _compute_nodes(n)} for e in engines]
    common = set.intersection(*sets) if all(sets) else set()
    smallest = min(len(s) for s in sets) or 1
    return "source nodes" if len(common) / smallest >= SHARED_NAMES_THRESHOLD else "compute order"


def _assign(engine: dict, alignment: str) -> dict[str, Any]:
    """Layer id -> group key; compute layers first, the rest through their dataflow neighbours."""
    keys: dict[str, Any] = {}
    counters: dict[str, int] = defaultdict(int)
    for node in engine["layers"]:
        if not _is_compute(node):
            continue
        if alignment == "source nodes":
            keys[node["id"]] = ("nodes", _compute_nodes(node)[0] if _compute_nodes(node) else node["name"])
        else:
            category = _category(node)
            keys[node["id"]] = (category, counters[category])
            counters[category] += 1
    for node in engine["layers"]:
        if node["id"] not in keys:
            keys[node["id"]] = _neighbour_key(node, engine, keys)
    return keys


def _neighbour_key(node: dict, engine: dict, keys: dict[str, Any]) -> Any:
    target = engine["by_name"].get(node.get("target") or "")
    if target is not None and target["id"] in keys and _is_compute(target):
        return keys[target["id"]]
    for direction in ("succ", "pred"):  # the compute layer it feeds, else the one it follows
        seen, frontier = {node["id"]}, list(engine[direction][node["id"]])
        while frontier:
            nxt = frontier.pop(0)
            if nxt in seen:
                continue
            seen.add(nxt)
            if nxt in keys and keys[nxt][0] != "alone":
                return keys[nxt]
            frontier.extend(engine[direction][nxt])
    return ("alone", node["id"])


def _rows(engines: list[dict], keys: list[dict], names: list[str], alignment: str) -> list[dict]:
    if alignment == "source nodes":
        keys = _merge_shared(engines, keys)
    order: list[Any] = []
    members: dict[Any, list[list[dict]]] = {}
    for e, (engine, assigned) in enumerate(zip(engines, keys, strict=True)):
        for node in engine["layers"]:
            key = assigned[node["id"]]
            if key not in members:
                members[key] = [[] for _ in engines]
                order.append(key)
            members[key][e].append(node)
    return [_row(key, members[key], names, alignment) for key in order]


def _merge_shared(engines: list[dict], keys: list[dict]) -> list[dict]:
    """Union-find over source node names: layers of any engine sharing a node share a group."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for engine in engines:
        for node in engine["layers"]:
            nodes = _compute_nodes(node) if _is_compute(node) else []
            for other in nodes[1:]:
                parent[find(other)] = find(nodes[0])
    return [{lid: (("nodes", find(k[1])) if k[0] == "nodes" else k) for lid, k in assigned.items()}
            for assigned in keys]


def _row(key: Any, groups: list[list[dict]], names: list[str], alignment: str) -> dict:
    first = next(g for g in groups if g)
    compute = [n for n in first if _is_compute(n)]
    row: dict[str, Any] = {
        "group": " | ".join(n["name"] for n in compute) or first[0]["name"],
        "kind": _category(compute[0]) if compute else "engine-only",
    }
    signatures = []
    base = None
    for name, group in zip(names, groups, strict=True):
        latency = _sum_latency(group) if group else None
        row[f"{name}_latency_ms"] = latency
        row[f"{name}_precision"] = _precision(group)
        row[f"{name}_layers"] = [n["name"] for n in group]
        if base is None:
            base = latency
        elif latency is not None and base is not None:
            row[f"{name}_delta_ms"] = latency - base
        else:
            row[f"{name}_delta_ms"] = None
        if group:
            signatures.append(_signature(group, alignment))
    row["fusion_differs"] = len(set(signatures)) > 1 or any(not g for g in groups)
    row["fusion"] = {name: [n["name"] for n in g if _is_compute(n)] for name, g in zip(names, groups, strict=True)}
    return row


def _sum_latency(group: list[dict]) -> float | None:
    values = [n.get("latency_ms") for n in group]
    return None if all(v is None for v in values) else float(sum(v or 0.0 for v in values))


def _precision(group: list[dict]) -> str | None:
    """The compute layers' precision(s); engine-only groups report their own."""
    chosen = [n for n in group if _is_compute(n)] or group
    found = list(dict.fromkeys(n.get("precision") for n in chosen if n.get("precision")))
    return "/".join(found) or None


def _signature(group: list[dict], alignment: str) -> tuple:
    compute = [n for n in group if _is_compute(n)]
    if alignment == "source nodes":
        return tuple(tuple(_compute_nodes(n)) for n in compute)
    # QAT names leave fused activations out (``... + Conv_9`` is conv+relu), so they do not count here
    return tuple((_category(n), tuple(sorted({op for op in n.get("source_ops") or [] if op not in _ACTIVATIONS})))
                 for n in compute)


def _totals(name: str, summary: dict, engine: dict) -> dict:
    iterations = summary.get("iterations")
    total = _sum_latency(engine["layers"])
    out: dict[str, Any] = {
        "engine": name,
        "path": summary.get("path"),
        "device": summary.get("device"),
        "layers": len(engine["layers"]),
        "sum_of_layer_averages_ms": total,
        "sum_label": (f"sum of per-layer average times from the profile ({iterations or '?'} iteration"
                      f"{'' if iterations == 1 else 's'}); kernels only, not an end-to-end latency"),
    }
    timing = summary.get("timing_ms")
    if timing:
        values = np.asarray(timing, dtype=np.float64)
        out.update({
            "e2e_median_ms": float(np.median(values)), "e2e_mean_ms": float(values.mean()),
            "e2e_p90_ms": float(np.percentile(values, 90)), "e2e_p95_ms": float(np.percentile(values, 95)),
            "e2e_p99_ms": float(np.percentile(values, 99)),
            "e2e_label": f"end-to-end latency per iteration from {Path(summary['timing_path']).name} "
                         f"({len(values)} iterations)",
        })
    return out
