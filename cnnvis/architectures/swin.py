"""Swin transformers: torchvision's ``swin_t``/``swin_s``/``swin_b`` and v2, timm's and Hugging
Face's, or anything alike.

Structure looked for: blocks holding a shifted-window attention (the block or a child has a
``shift_size``) and two LayerNorms. torchvision's and timm's Swin keep ``(N, H, W, C)`` grids from
the patch embedding to the final norm, so those layers are declared channels-last; Hugging Face's
pass token sequences ``(N, h*w, C)``, laid on their square grid. The default layer is the last
block's second norm (``features.7.1.norm2`` on Swin-T), as pytorch-grad-cam documents.
"""

from __future__ import annotations

import sys
from typing import Any

from ..hookspecs import hookimpl
from ..plugins import Architecture
from .tokens import is_windowed, layer_norms, tokens_to_grid, transformer_blocks


@hookimpl
def cnnvis_architecture(model: Any, framework: str) -> Any:
    if framework != "torch" or "torch" not in sys.modules:
        return None
    modules = dict(model.named_modules())
    blocks = [b for b in transformer_blocks(model) if is_windowed(modules[b]) and len(layer_norms(modules[b])) >= 2]
    if not blocks:
        return None
    channels_last = _channels_last_layers(model, blocks)
    return Architecture(
        layer=f"{blocks[-1]}.{layer_norms(modules[blocks[-1]])[1]}",
        layout=lambda name: "NHWC" if name in channels_last else None,  # the rest: told by tracing
        reshape=tokens_to_grid,  # token sequences (Hugging Face); 4-D grids are not reshaped
    )


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
