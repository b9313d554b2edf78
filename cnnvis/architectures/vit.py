"""Vision transformers: torchvision's ``VisionTransformer``, timm's ViT/DeiT/CaiT/EVA/BEiT and
Hugging Face's ViT/DeiT, or anything built the same way.

Structure looked for: a patchifying convolution (kernel = stride > 1) embedding into width D, then
transformer blocks, each holding an attention module and LayerNorms over D, none windowed (that is
Swin, see ``swin.py``). Blocks pass token sequences ``(N, prefix + h*w, D)``; the prefix (class
token, distillation or register tokens) is dropped and the patches laid out on their grid, as
pytorch-grad-cam's ViT reshape does. The default layer is the last block's first LayerNorm
(``ln_1``, ``norm1``, ``layernorm_before``), where pytorch-grad-cam's docs point for ViT.
"""

from __future__ import annotations

import sys
from typing import Any

from ..hookspecs import hookimpl
from ..plugins import Architecture
from .tokens import is_windowed, layer_norms, tokens_to_grid, transformer_blocks

__all__ = ["cnnvis_architecture", "default_layer", "tokens_to_grid"]


@hookimpl
def cnnvis_architecture(model: Any, framework: str) -> Any:
    if framework != "torch" or "torch" not in sys.modules:
        return None
    layer = default_layer(model)
    return Architecture(layer=layer, reshape=tokens_to_grid) if layer else None


def default_layer(model: Any) -> str | None:
    import torch.nn as nn

    modules = dict(model.named_modules())
    patch = next((m for m in modules.values() if isinstance(m, nn.Conv2d)), None)
    if patch is None or not _patchifies(patch):
        return None
    blocks = [b for b in transformer_blocks(model) if _norms_over(modules[b], patch.out_channels)]
    if not blocks or any(is_windowed(modules[b]) for b in blocks):
        return None
    return f"{blocks[-1]}.{_norms_over(modules[blocks[-1]], patch.out_channels)[0]}"


def _patchifies(conv: Any) -> bool:
    return tuple(conv.kernel_size) == tuple(conv.stride) and conv.kernel_size[0] > 1


def _norms_over(block: Any, width: int) -> list[str]:
    norms = layer_norms(block)
    return [n for n in norms if tuple(getattr(block, n).normalized_shape) == (width,)]
