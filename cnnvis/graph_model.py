"""The framework-neutral graph model that every adapter produces."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

NODE_KINDS = ("group", "layer", "op", "input", "output")


@dataclass
class Graph:
    """Nodes (dicts, see the contract) and dataflow edges ``(src_id, dst_id)`` between non-group nodes."""

    nodes: list[dict[str, Any]] = field(default_factory=list)
    edges: list[tuple[str, str]] = field(default_factory=list)
    framework: str = ""
    name: str = ""

    def node(self, node_id: str) -> dict[str, Any]:
        return self._index()[node_id]

    def children(self, node_id: str | None) -> list[dict[str, Any]]:
        return [n for n in self.nodes if n["parent"] == node_id]

    def roots(self) -> list[dict[str, Any]]:
        return self.children(None)

    def _index(self) -> dict[str, dict[str, Any]]:
        return {n["id"]: n for n in self.nodes}

    def to_dict(self) -> dict[str, Any]:
        return {
            "framework": self.framework,
            "name": self.name,
            "nodes": [dict(n) for n in self.nodes],
            "edges": [list(e) for e in self.edges],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def __repr__(self) -> str:
        return f"Graph({self.name or self.framework}: {len(self.nodes)} nodes, {len(self.edges)} edges)"


def make_node(
    node_id: str,
    *,
    type: str,
    kind: str,
    parent: str | None,
    name: str | None = None,
    output_shape: Any = None,
    params: int = 0,
    **extra: Any,
) -> dict[str, Any]:
    if kind not in NODE_KINDS:
        raise ValueError(f"node kind must be one of {NODE_KINDS}, not {kind!r}")
    return {
        "id": node_id,
        "name": name if name is not None else node_id.rsplit(".", 1)[-1].rsplit("/", 1)[-1],
        "type": type,
        "kind": kind,
        "parent": parent,
        "output_shape": output_shape,
        "params": int(params),
        **extra,
    }


def unique_id(base: str, used: set[str]) -> str:
    """``base``, or ``base#2``, ``base#3``... the first not in ``used`` (which it joins): node ids
    must be unique, names in exported graphs need not be."""
    node_id, k = base, 1
    while node_id in used:
        k += 1
        node_id = f"{base}#{k}"
    used.add(node_id)
    return node_id
