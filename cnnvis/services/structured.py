"""What a model outputs beyond class scores, for the Explain view: a detector's boxes or a
segmentation model's per-pixel classes, and the panel's targets for them.

The view sends ``{"box": i}`` (the i-th detection of each input, by score) or ``{"class": c}`` (class
c's logits over the pixels predicted as c); they become :class:`cnnvis.targets.Detection` /
:class:`cnnvis.targets.Segmentation`. Without a target a detector explains its best box and a
segmentation model the class covering most pixels. Only PyTorch modules are probed: other adapters
answer class scores, or a target error that says what to pass.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from ..outputs import select_output
from .errors import BadRequest


class SessionLike(Protocol):
    """What these functions need of a model session (``models.ModelSession``, which imports this module):
    its adapter; they keep the last structure found on it."""

    adapter: Any


MAX_BOXES = 20  # per input: enough to pick from, and random-weight detectors return 100
CLASSES, DETECTION, SEGMENTATION = "classes", "detection", "segmentation"


class Structure:
    """One forward pass's reading of the output, kept for the inputs it was computed on."""

    def __init__(self, kind: str, detections: list[dict] | None = None, labels: np.ndarray | None = None):
        self.kind = kind
        self.detections = detections  # per input: {"boxes", "labels", "scores"} as numpy
        self.labels = labels  # segmentation: (N, H, W) argmax class per pixel

    def describe(self, class_names: list[str] | None) -> dict:
        """The reply's part: boxes with labels and scores, or the classes present with their share."""
        def name(c: int) -> str:
            return class_names[c] if class_names and 0 <= c < len(class_names) else str(c)

        if self.kind == DETECTION:
            return {"detections": [[{"box": [round(float(v), 2) for v in box], "label": int(label),
                                     "name": name(int(label)), "score": float(score)}
                                    for box, label, score in zip(d["boxes"], d["labels"], d["scores"], strict=True)]
                                   for d in self.detections]}
        if self.kind == SEGMENTATION:
            rows = []
            for labels in self.labels:
                counts = np.bincount(labels.ravel())
                rows.append([{"index": int(c), "name": name(int(c)), "share": float(counts[c] / labels.size)}
                             for c in np.argsort(-counts) if counts[c]])
            return {"segmentation": rows}
        return {}


def structure(session: SessionLike, inputs: Any) -> Structure:
    """The structure of the session's output on ``inputs``; one forward pass per new batch, and
    none once a PyTorch model has shown plain class scores (or for other frameworks)."""
    cached = getattr(session, "_structure", None)
    if cached is not None and cached[0] is inputs:
        return cached[1]
    if session.adapter.framework != "torch" or getattr(session, "_structured", None) is False:
        return Structure(CLASSES)
    part = select_output(_forward(session, inputs))
    if isinstance(part, list | tuple) and part and all(isinstance(p, dict) and "boxes" in p for p in part):
        found = [{k: p[k][:MAX_BOXES].detach().cpu().numpy() for k in ("boxes", "labels", "scores")} for p in part]
        result = Structure(DETECTION, detections=found)
    elif hasattr(part, "ndim") and part.ndim == 4:
        result = Structure(SEGMENTATION, labels=part.argmax(1).cpu().numpy().astype(np.int32))
    else:
        result = Structure(CLASSES)
    session._structured = result.kind != CLASSES
    session._structure = (inputs, result)  # holding ``inputs`` keeps its id from being reused
    return result


def resolve(session: SessionLike, target: Any, inputs: Any) -> Any:
    """The request's target for the engine: ``{"box": i}`` / ``{"class": c}`` mapped to the target
    classes; None on a detector / segmentation model to its best box / largest class."""
    if target is not None and not isinstance(target, dict):
        return target
    found = structure(session, inputs)
    if isinstance(target, dict):
        return _named_target(found, target)
    if found.kind == DETECTION:
        return _named_target(found, {"box": 0})
    if found.kind == SEGMENTATION:
        return _named_target(found, {"class": int(np.bincount(found.labels.ravel()).argmax())})
    return None


def default_layer(session: SessionLike, inputs: Any) -> str | None:
    """The panel's layer for a detector when none is picked: the last stage of its feature backbone
    (torchvision's ``backbone.body``), as pytorch-grad-cam's detection tutorial uses; the generic
    rule (the last 4-D output) lands in the detection heads, where no map means anything."""
    if structure(session, inputs).kind != DETECTION:
        return None
    stages = [n for n in getattr(session.adapter, "modules", {}) if n.startswith("backbone.body.") and n.count(".") == 2]
    if not stages:
        raise BadRequest("Pick the layer to explain in the graph: this detector has no backbone.body to default to.")
    return stages[-1]


def _named_target(found: Structure, target: dict) -> Any:
    from ..targets import Detection, Segmentation

    if set(target) == {"box"} and _index(target["box"]):
        if found.kind != DETECTION:
            raise BadRequest("A box target needs a detector's output (boxes, labels, scores).")
        i = target["box"]
        # Each input's own i-th box; an input with fewer boxes gets none (its map is empty).
        return Detection([d["boxes"][i:i + 1] for d in found.detections], [d["labels"][i:i + 1] for d in found.detections])
    if set(target) == {"class"} and _index(target["class"]):
        if found.kind != SEGMENTATION:
            raise BadRequest("A class target as {'class': c} needs per-pixel class scores; pass a class index instead.")
        return Segmentation(target["class"])
    raise BadRequest("target must be a class index, a list of them, {'box': i} or {'class': c}.")


def _index(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31


def _forward(session: SessionLike, inputs: Any) -> Any:
    torch = session.adapter.torch
    with torch.no_grad():
        return session.adapter.model(inputs)
