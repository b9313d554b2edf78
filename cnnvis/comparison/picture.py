"""Model a's layers drawn as a graph and painted with the error each adds in model b (``damage``),
as an SVG a notebook shows inline (``ModelComparison.paint()``), and the panel's Compare view paints
on its interactive graphs: yellow to red up to the largest damage, unpainted below the threshold,
dashed where a layer has no partner, a blue outline on the layers kept in float.

Every name is drawn as escaped text: names come from model files.
"""

from __future__ import annotations

import colorsys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path

BOX_W, BOX_H, GAP_X, ROW_H, MARGIN, LEGEND_H = 168, 20, 14, 28, 10, 58
LABEL_CHARS = 26
UNPAINTED, KEPT = "#f2f2f2", "#1976d2"


def damage_color(damage: float, largest: float) -> str:
    """The panel's colour scale: hue 55 -> 0 and lightness 88% -> 58% with the square root of the
    share of the largest damage, so small damages still differ."""
    t = min(1.0, max(0.0, damage / largest)) ** 0.5 if largest > 0 else 0.0
    hue, lightness = round(55 - 55 * t), round(88 - 30 * t)
    r, g, b = colorsys.hls_to_rgb(hue / 360, lightness / 100, 0.9)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


class ComparisonPicture:
    """The painted graph: ``svg`` (shown inline by Jupyter), ``colors`` (layer -> fill, painted
    layers only), ``strongest`` (the most damaging layer) and ``save(path)``."""

    def __init__(self, svg: str, colors: dict[str, str], strongest: str | None):
        self.svg, self.colors, self.strongest = svg, colors, strongest

    def _repr_svg_(self) -> str:
        return self.svg

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.svg, encoding="utf-8")
        return path

    def __repr__(self) -> str:
        return f"ComparisonPicture({len(self.colors)} layers painted, strongest {self.strongest!r})"


def paint(layers: Sequence[tuple[str, str, tuple[str, ...]]], rows: Iterable[dict], names: tuple[str, str],
          unaligned: Iterable[str] = (), kept: Iterable[str] | None = None, threshold: float = 0.0) -> ComparisonPicture:
    """``layers``: model a's ``(name, op_type, upstream)`` in execution order; ``rows``: the
    comparison's rows; ``threshold``: the fraction of the largest damage below which a layer stays
    unpainted; ``kept``: layers to outline (those a quantization kept in float; the legend says
    so, "none" included, whenever it is given)."""
    kept_names = None if kept is None else list(kept)
    by_layer = {r["layer"]: r for r in rows}
    largest = max((r["damage"] for r in by_layer.values()), default=0.0)
    colors = {name: damage_color(r["damage"], largest) for name, r in by_layer.items()
              if r["damage"] > 0 and r["damage"] >= threshold * largest}
    strongest = min(by_layer.values(), key=lambda r: r["rank"])["layer"] if by_layer else None
    places = _places(layers)
    columns = max((col for _, col in places.values()), default=0) + 1
    depth = max((d for d, _ in places.values()), default=0) + 1
    width = max(2 * MARGIN + columns * (BOX_W + GAP_X), 440)
    height = 2 * MARGIN + LEGEND_H + depth * ROW_H
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="11" class="cnnvis-compare-graph">',
             _legend(names, largest, threshold, kept_names)]
    parts += _edges(layers, places)
    parts += _nodes(layers, places, by_layer, colors, set(unaligned), set(kept_names or ()))
    parts.append("</svg>")
    return ComparisonPicture("\n".join(parts), colors, strongest)


def _places(layers: Sequence[tuple[str, str, tuple[str, ...]]]) -> dict[str, tuple[int, int]]:
    """Layer -> (row, column): the row is the longest path from an input, columns fill rows in order."""
    depth: dict[str, int] = {}
    for name, _, upstream in layers:
        depth[name] = 1 + max((depth[u] for u in upstream if u in depth), default=-1)
    taken: dict[int, int] = defaultdict(int)
    places = {}
    for name, _, _ in layers:
        places[name] = (depth[name], taken[depth[name]])
        taken[depth[name]] += 1
    return places


def _xy(place: tuple[int, int]) -> tuple[int, int]:
    row, col = place
    return MARGIN + col * (BOX_W + GAP_X), MARGIN + LEGEND_H + row * ROW_H


def _edges(layers: Sequence[tuple[str, str, tuple[str, ...]]], places: dict[str, tuple[int, int]]) -> list[str]:
    out = []
    for name, _, upstream in layers:
        x2, y2 = _xy(places[name])
        for source in (u for u in upstream if u in places):
            x1, y1 = _xy(places[source])
            x1, y1, x2c = x1 + BOX_W // 2, y1 + BOX_H, x2 + BOX_W // 2
            bend = (BOX_W // 2 + GAP_X // 2) if places[name][0] - places[source][0] > 1 else 0  # skips go round
            out.append(f'<path d="M{x1},{y1} C{x1 + bend},{y1 + 20} {x2c + bend},{y2 - 20} {x2c},{y2}" '
                       'fill="none" stroke="#9e9e9e" stroke-width="1"/>')
    return out


def _nodes(layers: Sequence[tuple[str, str, tuple[str, ...]]], places: dict[str, tuple[int, int]], by_layer: dict,
           colors: dict[str, str], unaligned: set[str], kept: set[str]) -> list[str]:
    out = []
    for name, op_type, _ in layers:
        x, y = _xy(places[name])
        row = by_layer.get(name)
        stroke, width = (KEPT, 3) if name in kept else ("#555", 1)
        dash = ' stroke-dasharray="4 3"' if name in unaligned else ""
        title = f"{name} ({op_type})" + (f": damage {row['damage']:.4g}, rank {row['rank']}, cosine {row['cosine']:.5f}"
                                         if row else ": no partner" if name in unaligned else "")
        label = name if len(name) <= LABEL_CHARS else "…" + name[-(LABEL_CHARS - 1):]
        out.append(f'<g class="node" data-layer="{escape(name)}"><title>{escape(title)}</title>'
                   f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="3" fill="{colors.get(name, UNPAINTED)}" '
                   f'stroke="{stroke}" stroke-width="{width}"{dash}/>'
                   f'<text x="{x + 4}" y="{y + 14}">{escape(label)}</text></g>')
    return out


def _legend(names: tuple[str, str], largest: float, threshold: float, kept: list[str] | None) -> str:
    stops = "".join(f'<stop offset="{f}" stop-color="{damage_color(f * largest, largest)}"/>'
                    for f in (0, 0.25, 0.5, 0.75, 1))
    title = f"Colour: the error each layer of {names[0]} adds in {names[1]} (damage)"
    kept_note = "" if kept is None else "; blue outline: kept in float" + ("" if kept else " (none: all INT8)")
    notes = ("dashed: no partner" + kept_note
             + (f"; unpainted below {threshold:.0%} of the largest" if threshold > 0 else ""))
    return (f'<defs><linearGradient id="cnnvis-damage">{stops}</linearGradient></defs>'
            f'<text x="{MARGIN}" y="{MARGIN + 10}">{escape(title)}</text>'
            f'<text x="{MARGIN}" y="{MARGIN + 26}">0</text>'
            f'<rect x="{MARGIN + 10}" y="{MARGIN + 17}" width="160" height="10" fill="url(#cnnvis-damage)"/>'
            f'<text x="{MARGIN + 176}" y="{MARGIN + 26}">{largest:.3g}</text>'
            f'<text x="{MARGIN}" y="{MARGIN + 42}">{escape(notes)}</text>')
