"""An engine's layers mapped back onto the ONNX graph it was built from.

Each ONNX node is painted with the engine layer it was fused into (and that layer's latency);
layers that stand for no ONNX node (reformats, copies, TensorRT's own helpers) are listed as
engine-only, and ONNX nodes that no layer claims are listed as unclaimed (folded away, or hidden
inside a layer whose name does not say so).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import CnnvisError, UnsupportedFileError
from ...graph_model import Graph
from .export import TensorRTExport
from .names import LayerName, parse_layer_name

_TENSOR_SUFFIX = "_output_"  # the exporter's "<node>_output_0" convention


@dataclass
class PaintedGraph(Graph):
    """The source graph with engine data per node, plus what did not map either way."""

    engine: str = ""
    mapping: dict[str, list[str]] = field(default_factory=dict)  # engine layer -> ONNX node ids
    engine_only: list[dict] = field(default_factory=list)  # {"layer", "type", "kind", "latency_ms"}
    unclaimed: list[str] = field(default_factory=list)  # ONNX node ids no layer claims
    unmatched: dict[str, list[str]] = field(default_factory=dict)  # layer -> names not found in the ONNX graph

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out.update(engine=self.engine, mapping=self.mapping, engine_only=self.engine_only,
                   unclaimed=self.unclaimed, unmatched=self.unmatched)
        return out


@dataclass
class _Source:
    graph: Graph
    initializers: set[str]
    producers: dict[str, str]  # tensor name -> node id (empty when only a Graph was given)


def paint_source(export: TensorRTExport, source: Any, engine_graph: Graph | None = None,
                 profile: int | None = None) -> PaintedGraph:
    """Maps ``export``'s layers onto ``source`` (an ``.onnx`` path, an ``onnx.ModelProto``, a handle
    loaded from an ``.onnx`` file, or a :class:`cnnvis.Graph` of one)."""
    from .export import export_graph

    src = _resolve_source(source)
    engine_graph = engine_graph or export_graph(export)
    layers = _profile_layers(engine_graph, profile)
    order = [n["id"] for n in src.graph.nodes if n["kind"] in ("layer", "op")]
    index = {node_id: i for i, node_id in enumerate(order)}
    claims: dict[str, dict] = {}
    painted = PaintedGraph(framework=src.graph.framework or "onnx", name=src.graph.name, engine=export.name)
    foreign: list[tuple[dict, LayerName]] = []
    for layer in layers:
        parsed = parse_layer_name(layer["name"])
        if parsed.kind == "foreign":
            foreign.append((layer, parsed))
            continue
        claimed, missing = _claim_named(parsed, index, src.initializers)
        _record(painted, layer, parsed, claimed, missing, claims)
    for layer, parsed in foreign:  # Myelin ranges take what the named layers left in their span
        claimed, missing = _claim_range(parsed, order, index, src, claims)
        _record(painted, layer, parsed, claimed, missing, claims)
    painted.nodes = [_paint(n, claims.get(n["id"]), painted.mapping) for n in src.graph.nodes]
    painted.edges = list(src.graph.edges)
    painted.unclaimed = [node_id for node_id in order if node_id not in claims]
    return painted


def _profile_layers(engine_graph: Graph, profile: int | None) -> list[dict]:
    """The layers of one optimization profile (the first by default): each profile repeats them all."""
    layers = [n for n in engine_graph.nodes if n["kind"] == "layer"]
    present = sorted({n.get("profile") or 0 for n in layers})
    chosen = present[0] if profile is None else profile
    if chosen not in present:
        raise CnnvisError(f"The engine has optimization profiles {present}, not {profile}.")
    return [n for n in layers if (n.get("profile") or 0) == chosen]


def _claim_named(parsed: LayerName, index: dict[str, int], initializers: set[str]) -> tuple[list[str], list[str]]:
    claimed, missing = [], []
    # A name the string rules took for a weight may still be a node of this graph, and vice versa.
    for name in (*parsed.nodes, *parsed.initializers):
        if name in index:
            claimed.append(name)
        elif name in parsed.nodes and name not in initializers:
            missing.append(name)
    return claimed, missing


def _claim_range(parsed: LayerName, order: list[str], index: dict[str, int], src: _Source,
                 claims: dict[str, dict]) -> tuple[list[str], list[str]]:
    start, end = (_node_for(name, index, src) for name in parsed.foreign)
    missing = [name for name, found in zip(parsed.foreign, (start, end), strict=True) if found is None]
    if missing:
        return [], missing
    lo, hi = sorted((index[start], index[end]))
    return [node_id for node_id in order[lo:hi + 1] if node_id not in claims], []


def _node_for(name: str, index: dict[str, int], src: _Source) -> str | None:
    """A ForeignNode end: a node name, or a tensor name (its producer)."""
    if name in index:
        return name
    producer = src.producers.get(name)
    if producer is not None:
        return producer
    body = name.rstrip("0123456789")  # string methods: linear whatever the name
    guess = body[:-len(_TENSOR_SUFFIX)] if body != name and body.endswith(_TENSOR_SUFFIX) else name
    return guess if guess in index else None


def _record(painted: PaintedGraph, layer: dict, parsed: LayerName, claimed: list[str], missing: list[str],
            claims: dict[str, dict]) -> None:
    if missing:
        painted.unmatched[layer["id"]] = missing
    fresh = [node_id for node_id in claimed if node_id not in claims]
    if not fresh:
        painted.engine_only.append({"layer": layer["id"], "type": layer["type"], "kind": parsed.kind,
                                    "latency_ms": layer.get("latency_ms")})
        return
    painted.mapping[layer["id"]] = fresh
    for node_id in fresh:
        claims[node_id] = layer


def _paint(node: dict, layer: dict | None, mapping: dict[str, list[str]]) -> dict:
    out = dict(node)
    if layer is None:
        out.update(engine_layer=None, latency_ms=None, latency_pct=None, latency_share_ms=None,
                   precision=None, fused_with=[])
        return out
    members = mapping[layer["id"]]
    latency = layer.get("latency_ms")
    out.update(
        engine_layer=layer["id"], latency_ms=latency, latency_pct=layer.get("latency_pct"),
        # fused nodes share one kernel's time; the share only keeps sums honest
        latency_share_ms=None if latency is None else latency / len(members),
        precision=layer.get("precision"), tactic=layer.get("tactic"),
        fused_with=[m for m in members if m != node["id"]],
    )
    return out


def _resolve_source(source: Any) -> _Source:
    if isinstance(source, Graph):
        return _Source(source, set(), {})
    proto = getattr(source, "model", None) if _is_proto(getattr(source, "model", None)) else None
    if proto is None and _is_proto(source):
        proto = source
    if proto is None:
        path = getattr(source, "path", source)
        if not isinstance(path, (str, os.PathLike)):
            raise CnnvisError(f"source= takes an .onnx path, an onnx.ModelProto, a handle from cnnvis.load('x.onnx') "
                              f"or a cnnvis.Graph, not {type(source).__name__}.")
        proto = _load_proto(Path(path))
    return _from_proto(proto)


def _is_proto(obj: Any) -> bool:
    return hasattr(obj, "graph") and hasattr(obj, "SerializeToString")


def _load_proto(path: Path) -> Any:
    import onnx

    if not path.is_file():
        raise UnsupportedFileError(f"No such ONNX file: {path}")
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf's errors on a truncated or foreign file
        raise UnsupportedFileError(f"{path.name} is not a readable ONNX model: {exc}") from None


def _from_proto(proto: Any) -> _Source:
    from ..onnx import onnx_to_graph

    graph = onnx_to_graph(proto)
    producers: dict[str, str] = {}
    for i, op in enumerate(proto.graph.node):
        for tensor in op.output:
            producers[tensor] = op.name or f"{op.op_type}_{i}"  # the ids onnx_to_graph gives
    return _Source(graph, {t.name for t in proto.graph.initializer}, producers)
