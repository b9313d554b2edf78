"""Structure shared by the transformer plugins: attention modules, transformer blocks, token grids.

Recognised by what modules hold, not by class name, so torchvision's, timm's and Hugging Face's
transformers (and subclasses, renamed heads, fine-tuned copies) are all found the same way.
"""

from __future__ import annotations

import math
from typing import Any

# Names the query/key/value projections go by in torchvision, timm and Hugging Face transformers.
_PROJECTIONS = {"qkv", "q", "k", "v", "query", "key", "value", "in_proj", "q_proj", "k_proj", "v_proj"}


def is_attention(module: Any) -> bool:
    """A MultiheadAttention, or a module projecting queries/keys/values with Linear children."""
    import torch.nn as nn

    if isinstance(module, nn.MultiheadAttention):
        return True
    return any(isinstance(child, nn.Linear) and name in _PROJECTIONS for name, child in module.named_children())


def layer_norms(module: Any) -> list[str]:
    """The direct LayerNorm children of ``module``, in order."""
    import torch.nn as nn

    return [name for name, child in module.named_children() if isinstance(child, nn.LayerNorm)]


def is_windowed(module: Any) -> bool:
    """A shifted-window block (Swin): it or one of its children has a ``shift_size``."""
    return hasattr(module, "shift_size") or any(hasattr(c, "shift_size") for c in module.children())


def transformer_blocks(model: Any) -> list[str]:
    """Innermost modules holding a LayerNorm child and an attention module inside: the blocks."""
    modules = dict(model.named_modules())
    has_attention = {name for name, m in modules.items() if name and is_attention(m)}
    candidates = [name for name, m in modules.items() if name and layer_norms(m) and any(
        a == name or a.startswith(name + ".") for a in has_attention) and name not in has_attention]
    return [c for c in candidates if not any(o != c and o.startswith(c + ".") for o in candidates)]


def tokens_to_grid(tokens: Any) -> Any:
    """``(N, prefix + h*w, D)`` tokens to ``(N, D, h, w)``: prefix tokens (class, distillation,
    register) dropped, patches laid on a square grid, as pytorch-grad-cam's ViT reshape does."""
    if tokens.ndim != 3:
        raise ValueError("expected a token sequence (N, tokens, D)")
    count = tokens.shape[1]
    side = math.isqrt(count)
    prefix = count - side * side
    if side == 0 or prefix > side:  # more than one row's worth left over: not a square grid plus prefix
        raise ValueError(f"{count} tokens are not a square grid of patches after a few prefix tokens")
    patches = tokens[:, prefix:]
    return patches.reshape(len(tokens), side, side, tokens.shape[2]).permute(0, 3, 1, 2)
