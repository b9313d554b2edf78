"""Swin transformers (torchvision's ``swin_t``/``swin_s``/``swin_b`` and v2, or anything alike).

Structure looked for: blocks holding a windowed attention (a module with ``window_size`` and
``shift_size``) and two LayerNorms. torchvision's Swin keeps ``(N, H, W, C)`` grids from the patch
embedding to the final norm, so those layers are declared channels-last; the default layer is the
last block's second norm (``features.7.1.norm2`` on Swin-T), as pytorch-grad-cam documents.
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
    blocks = [name for name, m in model.named_modules() if name and _is_block(m)]
    if not blocks:
        return None
    norms = _norm_children(dict(model.named_modules())[blocks[-1]])
    channels_last = _channels_last_layers(model, blocks)
    return Architecture(
        layer=f"{blocks[-1]}.{norms[1]}",
        layout=lambda name: "NHWC" if name in channels_last else None,  # the rest: told by tracing
    )


def _norm_children(module: Any) -> list[str]:
    import torch.nn as nn

    return [name for name, child in module.named_children() if isinstance(child, nn.LayerNorm)]


def _is_block(module: Any) -> bool:
    windowed = any(hasattr(c, "window_size") and hasattr(c, "shift_size") for c in module.children())
    return windowed and len(_norm_children(module)) >= 2


def _channels_last_layers(model: Any, blocks: list[str]) -> set[str]:
    """Blocks and everything in them, stages made of blocks, patch merging, and plain LayerNorms."""
    import torch.nn as nn

    names: set[str] = set()
    block_set = set(blocks)
    for name, module in model.named_modules():
        children = [f"{name}.{c}" if name else c for c, _ in module.named_children()]
        inside = any(name == b or name.startswith(b + ".") for b in block_set)
        stage = bool(children) and all(c in block_set for c in children)
        merging = isinstance(getattr(module, "reduction", None), nn.Linear)
        plain_norm = type(module) is nn.LayerNorm
        if name and (inside or stage or merging or plain_norm):
            names.add(name)
    return names
