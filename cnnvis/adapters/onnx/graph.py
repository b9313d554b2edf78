"""ONNX ``ModelProto`` -> cnnvis graph: nodes by name and op type, edges by tensor names, groups
from name prefixes (``/layer1/layer1.0/conv1/Conv`` -> groups ``layer1`` > ``layer1/layer1.0`` > ...).

Only the ``onnx`` package is needed (imported lazily); weights are never read beyond their sizes.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from ...errors import UnsupportedFileError
from ...graph_model import Graph, make_node, unique_id

_DIM_SPLIT = re.compile(r"[/.]")


def read_onnx_graph(path: str | Path, infer_shapes: bool = True) -> Graph:
    """Reads an ``.onnx`` file's structure (external weight files are not loaded)."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except FileNotFoundError:
        raise UnsupportedFileError(f"No such ONNX file: {path}") from None
    except Exception as exc:  # a truncated or non-ONNX file fails inside protobuf
        raise UnsupportedFileError(f"{Path(path).name} is not a readable ONNX model: {exc}") from None
    return onnx_to_graph(model, infer_shapes=infer_shapes, name=Path(path).stem)


def onnx_to_graph(model: Any, infer_shapes: bool = True, name: str | None = None) -> Graph:
    """Converts a loaded ``onnx.ModelProto`` to a :class:`cnnvis.Graph`."""
    if infer_shapes:
        model = _with_shapes(model)
    graph = model.graph
    init_sizes = {t.name: _numel(t.dims) for t in graph.initializer}
    shapes = _tensor_shapes(graph)
    producer: dict[str, str] = {}
    nodes: list[dict] = []
    used_ids: set[str] = set()
    leaf_paths: list[tuple[str, list[str]]] = []

    for value in graph.input:
        if value.name in init_sizes:
            continue  # old exporters list weights as graph inputs
        nodes.append(make_node(unique_id(value.name, used_ids), type="input", kind="input", parent=None,
                               name=value.name, output_shape=shapes.get(value.name)))
        producer[value.name] = nodes[-1]["id"]
    ops: list[tuple[dict, Any]] = []
    for i, op in enumerate(graph.node):
        node_id = unique_id(op.name or f"{op.op_type}_{i}", used_ids)
        params = sum(init_sizes.get(t, 0) for t in op.input)
        outs = [shapes.get(t) for t in op.output if t]
        node = make_node(node_id, type=op.op_type, kind="layer" if params else "op", parent=None,
                         name=_leaf_name(node_id), output_shape=outs[0] if len(outs) == 1 else (outs or None),
                         params=params)
        nodes.append(node)
        ops.append((node, op))
        leaf_paths.append((node_id, _prefixes(node_id)))
        for t in op.output:
            producer[t] = node_id
    edges: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for node, op in ops:
        for t in op.input:
            src = producer.get(t)
            if src is not None and (src, node["id"]) not in seen:
                seen.add((src, node["id"]))
                edges.append((src, node["id"]))
    for value in graph.output:
        out_id = unique_id(f"output:{value.name}", used_ids)
        nodes.append(make_node(out_id, type="output", kind="output", parent=None, name=value.name,
                               output_shape=shapes.get(value.name)))
        if value.name in producer:
            edges.append((producer[value.name], out_id))
    groups = _groups(leaf_paths, {n["id"]: n for n in nodes}, used_ids)
    return Graph(nodes=groups + nodes, edges=edges, framework="onnx", name=name or graph.name)


def _with_shapes(model: Any) -> Any:
    import onnx

    try:
        return onnx.shape_inference.infer_shapes(model)
    except Exception:  # shapes are a nicety: a model onnx cannot infer still has a structure
        return model


def _numel(dims: Any) -> int:
    count = 1
    for d in dims:
        count *= int(d)
    return count


def _tensor_shapes(graph: Any) -> dict[str, list | None]:
    shapes: dict[str, list | None] = {}
    for value in [*graph.input, *graph.value_info, *graph.output]:
        tensor = value.type.tensor_type
        if tensor.HasField("shape"):
            shapes[value.name] = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
    return shapes



def _split(name: str) -> list[str]:
    """``/a/b/Conv`` splits on ``/``; names without ``/`` split on ``.`` (``features.0.conv``)."""
    parts = name.split("/") if "/" in name else _DIM_SPLIT.split(name)
    return [p for p in parts if p]


def _leaf_name(node_id: str) -> str:
    parts = _split(node_id)
    return parts[-1] if parts else node_id


def _prefixes(node_id: str) -> list[str]:
    """Group ids enclosing a node, outermost first."""
    parts = _split(node_id)
    sep = "/" if "/" in node_id else "."
    return [sep.join(parts[:k]) for k in range(1, len(parts))]


def _groups(leaf_paths: list[tuple[str, list[str]]], by_id: dict[str, dict], used: set[str]) -> list[dict]:
    """Groups holding at least two nodes; a node's parent is its deepest such group."""
    members: dict[str, int] = defaultdict(int)
    for _, prefixes in leaf_paths:
        for p in prefixes:
            members[p] += 1
    kept = {p for p, n in members.items() if n >= 2}
    ids = {p: (p if p not in used else unique_id(f"{p}/", used)) for p in kept}
    used.update(ids.values())
    groups: dict[str, dict] = {}
    for node_id, prefixes in leaf_paths:
        chain = [p for p in prefixes if p in kept]
        parent = None
        for p in chain:
            if p not in groups:
                groups[p] = make_node(ids[p], type="group", kind="group", parent=parent, name=_leaf_name(p))
            parent = ids[p]
        by_id[node_id]["parent"] = parent
        for p in chain:
            groups[p]["params"] += by_id[node_id]["params"]
    return list(groups.values())
