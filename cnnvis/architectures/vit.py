"""Vision transformers (torchvision's ``VisionTransformer`` and anything built the same way).

Structure looked for: a patchifying convolution (kernel = stride > 1) embedding into width D, then
transformer blocks, each holding a ``MultiheadAttention`` and LayerNorms over D. Blocks pass token
sequences ``(N, prefix + h*w, D)``; the prefix (class token, distillation or register tokens) is
dropped and the patches laid out on their grid, as pytorch-grad-cam's ViT reshape does.
"""

from __future__ import annotations

import math
import sys
from typing import Any

from ..hookspecs import hookimpl
from ..plugins import Architecture


@hookimpl
def cnnvis_architecture(model: Any, framework: str) -> Any:
    if framework != "torch" or "torch" not in sys.modules:
        return None
    layer = default_layer(model)
    return Architecture(layer=layer, reshape=tokens_to_grid) if layer else None


def default_layer(model: Any) -> str | None:
    """The last block's first LayerNorm (``ln_1``), where pytorch-grad-cam's docs point for ViT."""
    import torch.nn as nn

    modules = dict(model.named_modules())
    patch = next((m for m in modules.values() if isinstance(m, nn.Conv2d)), None)
    if patch is None or not _patchifies(patch):
        return None
    blocks = [name for name, m in modules.items() if name and _is_block(m, patch.out_channels)]
    if not blocks:
        return None
    last = blocks[-1]
    norm = next(name for name, child in modules[last].named_children() if isinstance(child, nn.LayerNorm))
    return f"{last}.{norm}"


def _patchifies(conv: Any) -> bool:
    return tuple(conv.kernel_size) == tuple(conv.stride) and conv.kernel_size[0] > 1


def _is_block(module: Any, width: int) -> bool:
    import torch.nn as nn

    children = list(module.children())
    norms = [c for c in children if isinstance(c, nn.LayerNorm) and tuple(c.normalized_shape) == (width,)]
    return bool(norms) and any(isinstance(c, nn.MultiheadAttention) for c in children)


def tokens_to_grid(tokens: Any) -> Any:
    """``(N, prefix + h*w, D)`` tokens to ``(N, D, h, w)``: prefix tokens dropped, square grid."""
    if tokens.ndim != 3:
        raise ValueError("expected a token sequence (N, tokens, D)")
    count = tokens.shape[1]
    side = math.isqrt(count)
    prefix = count - side * side
    if side == 0 or prefix > side:  # more than one row's worth left over: not a square grid plus prefix
        raise ValueError(f"{count} tokens are not a square grid of patches after a few prefix tokens")
    patches = tokens[:, prefix:]
    return patches.reshape(len(tokens), side, side, tokens.shape[2]).permute(0, 3, 1, 2)
