"""Which layer of one model stands for which layer of the other.

In order of preference: a user ``mapping`` (dict, or a JSON file of one); the names the two
models share (node ids, module paths exporters record) where they cover at least half of the
compute layers; else the order and kind of compute layers (the k-th convolution of one is the
k-th convolution of the other), as :func:`cnnvis.compare_engines` aligns engines.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from ..errors import CnnvisError
from .categories import COMPUTE
from .layers import Layer, Side

SHARED_NAMES_THRESHOLD = 0.5


def align(a: Side, b: Side, mapping: Any = None) -> tuple[list[tuple[Layer, Layer]], str]:
    """Pairs of layers (in model a's order) and the alignment used."""
    if mapping is not None:
        return _by_mapping(a, b, _read_mapping(mapping)), "mapping"
    pairs = _by_names(a, b)
    compute = min(_count_compute(a.layers), _count_compute(b.layers))
    matched = sum(1 for x, _ in pairs if x.category in COMPUTE)
    if compute and matched / compute >= SHARED_NAMES_THRESHOLD:
        return pairs, "names"
    if not compute and pairs:
        return pairs, "names"
    return _by_order(a, b), "compute order"


def _count_compute(layers: list[Layer]) -> int:
    return sum(1 for layer in layers if layer.category in COMPUTE)


def _read_mapping(mapping: Any) -> dict[str, str]:
    if isinstance(mapping, (str, os.PathLike)):
        path = Path(mapping)
        if not path.is_file():
            raise CnnvisError(f"mapping file {path} does not exist; give a dict or a JSON file of one.")
        try:
            mapping = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise CnnvisError(f"mapping file {path.name} is not JSON ({exc}).") from None
    if isinstance(mapping, list):
        mapping = dict(mapping) if all(isinstance(p, list) and len(p) == 2 for p in mapping) else None
    if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        raise CnnvisError("mapping must be {layer of model a: layer of model b} (strings), as a dict or JSON file.")
    return mapping


def _by_mapping(a: Side, b: Side, mapping: dict[str, str]) -> list[tuple[Layer, Layer]]:
    lookup_a, lookup_b = _lookup(a), _lookup(b)
    pairs = []
    for name_a, name_b in mapping.items():
        for name, lookup, side in ((name_a, lookup_a, a), (name_b, lookup_b, b)):
            if name not in lookup:
                some = ", ".join(repr(x.name) for x in side.layers[:6])
                raise CnnvisError(f"mapping names {name!r}, which {side.label!r} has no layer of "
                                  f"(its layers include {some}).")
        pairs.append((lookup_a[name_a], lookup_b[name_b]))
    order = {layer.name: i for i, layer in enumerate(a.layers)}
    return sorted(pairs, key=lambda p: order[p[0].name])


def _lookup(side: Side) -> dict[str, Layer]:
    """Each layer by its name and by every key no other layer shares."""
    owners: dict[str, list[Layer]] = defaultdict(list)
    for layer in side.layers:
        for key in dict.fromkeys(layer.keys):
            owners[key].append(layer)
    found = {k: v[0] for k, v in owners.items() if len(v) == 1}
    found.update({layer.name: layer for layer in side.layers})
    return found


def _by_names(a: Side, b: Side) -> list[tuple[Layer, Layer]]:
    lookup = _lookup(b)
    pairs, used = [], set()
    for layer in a.layers:
        partner = next((lookup[k] for k in (layer.name, *layer.keys) if k in lookup), None)
        if partner is not None and partner.name not in used:
            used.add(partner.name)
            pairs.append((layer, partner))
    return pairs


def _by_order(a: Side, b: Side) -> list[tuple[Layer, Layer]]:
    """The k-th layer of each compute kind in one model with the k-th of that kind in the other."""
    kinds_b: dict[str, list[Layer]] = defaultdict(list)
    for layer in b.layers:
        if layer.category in COMPUTE:
            kinds_b[layer.category].append(layer)
    counters: dict[str, int] = defaultdict(int)
    pairs = []
    for layer in a.layers:
        if layer.category not in COMPUTE:
            continue
        k = counters[layer.category]
        counters[layer.category] += 1
        if k < len(kinds_b[layer.category]):
            pairs.append((layer, kinds_b[layer.category][k]))
    return pairs
