"""MLP-Mixer and ResMLP (timm's ``MlpMixer``, or anything built the same way): a patchifying
convolution, then blocks that mix tokens and channels with Linear layers and no attention, then a
final ``norm`` over the token sequence ``(N, h*w, D)``. The default layer is that norm, its tokens
laid on their square grid (there is no class token)."""

from __future__ import annotations

import sys
from typing import Any

from ..hookspecs import hookimpl
from ..plugins import Architecture
from .tokens import is_attention, tokens_to_grid


@hookimpl
def cnnvis_architecture(model: Any, framework: str) -> Any:
    if framework != "torch" or "torch" not in sys.modules:
        return None
    return Architecture(layer="norm", reshape=tokens_to_grid) if is_token_mlp(model) else None


def is_token_mlp(model: Any) -> bool:
    import torch.nn as nn

    stem, blocks, norm = (getattr(model, n, None) for n in ("stem", "blocks", "norm"))
    if stem is None or blocks is None or not isinstance(norm, nn.Module):
        return False
    patch = next((m for m in stem.modules() if isinstance(m, nn.Conv2d)), None)
    if patch is None or tuple(patch.kernel_size) != tuple(patch.stride) or patch.kernel_size[0] < 2:
        return False
    inner = list(blocks.modules())
    return not any(is_attention(m) for m in inner) and any(isinstance(m, nn.Linear) for m in inner)
