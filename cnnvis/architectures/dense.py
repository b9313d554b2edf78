"""Dense predictors built as torchvision's are: detectors (Faster/Mask/Keypoint R-CNN, RetinaNet,
FCOS, SSD, SSDlite) and segmenters (FCN, DeepLabV3, LR-ASPP), or anything alike.

Their last 4-D outputs are not where a map belongs: a detector's are per-box crops (``roi_heads``,
one entry per proposal), mask or keypoint heads (which run after the scores are final, so a score
has no gradient through them) or one pyramid level of a head; a segmenter's is its class logits,
whose Grad-CAM only redraws the predicted mask. The default layer is the backbone's last stage
instead (where pytorch-grad-cam's detection and segmentation tutorials point): every pyramid level
and every pixel's logits are computed from it.

Structure looked for: a detector has a ``transform`` that resizes and normalises images
(``image_mean`` and ``min_size``) and a ``backbone`` (a ``body`` of stages under an FPN, or SSD's
``features``); a segmenter has a ``classifier`` and a ``backbone`` that returns chosen stages by
name (``return_layers``).
"""

from __future__ import annotations

import sys
from typing import Any

from ..hookspecs import hookimpl
from ..plugins import Architecture


@hookimpl
def cnnvis_architecture(model: Any, framework: str) -> Any:
    if framework != "torch" or "torch" not in sys.modules:
        return None
    layer = default_layer(model)
    return Architecture(layer=layer) if layer else None


def default_layer(model: Any) -> str | None:
    """The backbone's last stage of a detector or segmenter, or None for anything else."""
    backbone = getattr(model, "backbone", None)
    if backbone is None:
        return None
    transform = getattr(model, "transform", None)
    if hasattr(transform, "image_mean") and hasattr(transform, "min_size"):
        return _detector_layer(backbone)
    if hasattr(model, "classifier") and hasattr(backbone, "return_layers"):
        return _last_stage("backbone", backbone)
    return None


def _detector_layer(backbone: Any) -> str | None:
    body = getattr(backbone, "body", None)
    if body is not None:  # the body returns a dict of stages: its last stage is a tensor
        return _last_stage("backbone.body", body)
    features = getattr(backbone, "features", None)  # SSD: SSDlite runs its children, not the Sequential
    return _last_stage("backbone.features", features) if features is not None else None


def _last_stage(prefix: str, stages: Any) -> str | None:
    """Stage-returning backbones drop everything after their last returned stage."""
    children = [name for name, _ in stages.named_children()]
    return f"{prefix}.{children[-1]}" if children else None
