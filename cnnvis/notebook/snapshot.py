"""The static half of the widget's mimebundle: ``text/html`` with inline PNGs, and ``image/png``.

Renderers without a kernel (GitHub, nbviewer, ``jupyter nbconvert --to html``) skip the widget view
and show this instead: the top-level graph as a table and a picture, and a Grad-CAM overlay.
"""

from __future__ import annotations

import base64
import html
import logging
from typing import Any

import cv2
import numpy as np

from ..services.codec import to_png

log = logging.getLogger(__name__)

MAX_INPUTS = 4
MAX_ROWS = 40


def build_snapshot(session: Any, *, target: Any = None, method: str = "gradcam",
                   layer: str | None = None) -> dict[str, str]:
    """Mimebundle entries; whatever fails is left out rather than failing the display."""
    if session is None:
        return {"text/html": _wrap("<p>No model given.</p>", "cnnvis")}
    parts: list[str] = []
    png: bytes | None = None
    try:
        graph = session.graph().result
        graph_png = graph_summary_png(graph)
        parts.append(_img(graph_png, "cnnvis graph summary") + graph_table(graph))
        png = graph_png
    except Exception as exc:  # never let a snapshot stop the panel from showing
        log.debug("graph snapshot failed: %s", exc)
        parts.append(f"<p>Graph unavailable: {html.escape(str(exc))}</p>")
    if session.inputs is not None:
        try:
            overlay, caption = explain_png(session, target=target, method=method, layer=layer)
            parts.insert(0, _img(overlay, "cnnvis explain overlay") + f"<p>{html.escape(caption)}</p>")
            png = overlay
        except Exception as exc:
            log.debug("explain snapshot failed: %s", exc)
            parts.append(f"<p>Explanation unavailable: {html.escape(str(exc))}</p>")
    bundle = {"text/html": _wrap("".join(parts), f"cnnvis · {session.name}")}
    if png is not None:
        bundle["image/png"] = base64.b64encode(png).decode("ascii")
    return bundle


def explain_png(session: Any, *, target: Any = None, method: str = "gradcam",
                layer: str | None = None) -> tuple[bytes, str]:
    """Overlays of the first few inputs side by side, and a caption naming method, layer and classes."""
    count = len(session.adapter.inputs_nchw(session.inputs))
    indices = list(range(min(count, MAX_INPUTS)))
    options = {"method": method, "target": target, "layer": layer, "indices": indices, "top_k": 1}
    reply = session.explain(**{k: v for k, v in options.items() if v is not None})
    overlays = [cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR) for b in reply.buffers[:len(indices)]]
    tiles = [_upscale(o[..., ::-1]) for o in overlays]
    strip = np.concatenate([np.pad(t, ((0, 0), (0, 4), (0, 0)), constant_values=255) for t in tiles], axis=1)
    result = reply.result
    names = result.get("target_names") or result.get("targets") or []
    caption = f"{result['method']} at {result['layer']}; targets: {', '.join(map(str, names))}"
    return to_png(strip), caption


def _upscale(image: np.ndarray, minimum: int = 160) -> np.ndarray:
    h, w = image.shape[:2]
    factor = max(1, -(-minimum // max(1, min(h, w))))
    return cv2.resize(image, (w * factor, h * factor), interpolation=cv2.INTER_NEAREST) if factor > 1 else image


def top_level(graph: dict) -> list[dict]:
    return [n for n in graph["nodes"] if n.get("parent") is None]


def graph_summary_png(graph: dict) -> bytes:
    """The top-level nodes as a column of labelled boxes joined by arrows."""
    nodes = top_level(graph)[:MAX_ROWS]
    row, width = 30, 420
    image = np.full((row * max(1, len(nodes)) + 12, width, 3), 255, np.uint8)
    for i, node in enumerate(nodes):
        y = 6 + i * row
        fill = (219, 231, 245) if node.get("kind") == "group" else (238, 242, 247)
        cv2.rectangle(image, (10, y), (width - 10, y + row - 8), fill, -1)
        cv2.rectangle(image, (10, y), (width - 10, y + row - 8), (120, 120, 120), 1)
        label = f"{node['name']}  {node['type']}  {_shape(node.get('output_shape'))}"
        cv2.putText(image, label[:58], (16, y + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (30, 30, 30), 1, cv2.LINE_AA)
        if i:
            cv2.line(image, (width // 2, y - 8), (width // 2, y), (90, 90, 90), 1)
    return to_png(image)


def graph_table(graph: dict) -> str:
    nodes = top_level(graph)
    rows = "".join(
        f"<tr><td>{html.escape(str(n['name']))}</td><td>{html.escape(str(n['type']))}</td>"
        f"<td>{html.escape(_shape(n.get('output_shape')))}</td><td style='text-align:right'>{n.get('params', 0):,}</td></tr>"
        for n in nodes[:MAX_ROWS])
    more = f"<p>… and {len(nodes) - MAX_ROWS} more top-level nodes</p>" if len(nodes) > MAX_ROWS else ""
    total = sum(int(n.get("params") or 0) for n in nodes)
    return (f"<table><thead><tr><th>layer</th><th>type</th><th>output</th><th>params</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>{more}<p>{len(graph['nodes'])} nodes, {total:,} parameters</p>")


def _shape(shape: Any) -> str:
    if shape is None:
        return "?"
    if shape and isinstance(shape[0], list):
        return ", ".join(_shape(s) for s in shape)
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img class="cnnvis-snapshot-img" alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _wrap(body: str, title: str) -> str:
    return (f'<div class="cnnvis-snapshot" style="font-family:sans-serif;font-size:12px">'
            f"<b>{html.escape(title)}</b> <i>(static snapshot: run the cell for the interactive panel)</i>"
            f"{body}</div>")
