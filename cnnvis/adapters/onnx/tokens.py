"""Vision transformers exported to ONNX: the patch grid, token sequences laid back on it, and the
default layer.

ViT-style exports keep one convolution, the patchifying one (kernel = stride), and then pass token
sequences ``(N, prefix + h*w, C)``: a class token (and distillation or register tokens) before the
patches, in row-major order of the patch grid. Laid back on that grid they are a map, as
pytorch-grad-cam's ViT reshape does. The default layer is the last block's first LayerNorm, where
pytorch-grad-cam points for ViT: a block has two LayerNorms and the encoder one more at its end,
so it is the third LayerNorm from the end.

Swin keeps channels-last grids from its patch embedding to its final norm, and the layout rules
follow them (LayerNorm, Linear layers on channels, residual sums). Other transformers, whose
tokens are not a ViT's and whose grids the graph does not describe, end with the patch embedding
as their last readable grid; a map of it shows texture, not the decision, so that is refused, as
for PyTorch models. A CNN with attention at its end (MaxViT, CoAtNet) has many
convolutions before its last grid and keeps that grid as the default.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...errors import NonSpatialLayerError

PATCH_EMBEDDING_CONVS = 2  # convolutions up to the grid: a patch embedding has one (two with a stem)
TOKEN_OPS = 8  # LayerNorms/MatMuls on many positions after it: as many as two transformer blocks have
MAX_PREFIX = 8  # class, distillation and register tokens before the patches
_TOKEN_TYPES = ("LayerNormalization", "MatMul", "Gemm")
_SHOWN = 4


def patch_grid(nodes: list[Any], shapes: dict[str, tuple]) -> tuple[int, int, int] | None:
    """``(h, w, width)`` of the first convolution's output when it patchifies (kernel = stride > 1)."""
    from onnx import helper

    first = next((n for n in nodes if n.op_type == "Conv"), None)
    if first is None:
        return None
    attributes = {a.name: helper.get_attribute_value(a) for a in first.attribute}
    kernel, strides = list(attributes.get("kernel_shape", [])), list(attributes.get("strides", []))
    shape = shapes.get(first.output[0])
    if not shape or len(shape) != 4 or kernel != strides or min(kernel, default=1) <= 1:
        return None
    return int(shape[2]), int(shape[3]), int(shape[1])


def prefix_of(shape: tuple, grid: tuple[int, int, int] | None) -> int | None:
    """Tokens before the patches of a ``(N, tokens, width)`` tensor on ``grid``, or None if it is not
    one: the last axis must be the embedding width, and differ from the token count (a tensor with
    as many tokens as channels could be either way round)."""
    if grid is None or len(shape) != 3 or shape[2] != grid[2] or shape[1] == shape[2]:
        return None
    prefix = shape[1] - grid[0] * grid[1]
    return prefix if 0 <= prefix <= MAX_PREFIX else None


def tokens_to_nchw(array: np.ndarray, grid: tuple[int, int, int] | None, layer: str) -> np.ndarray:
    """Patch tokens ``(N, prefix + h*w, C)`` as ``(N, C, h, w)``, or a refusal naming the shapes."""
    prefix = prefix_of(array.shape, grid)
    if prefix is None:
        where = (f"the {grid[0]}x{grid[1]} patch grid's tokens of width {grid[2]}" if grid
                 else "a patch grid's tokens (no patchifying convolution found)")
        raise NonSpatialLayerError(
            f"Layer {layer!r} outputs shape {tuple(array.shape)}: not {where} (at most {MAX_PREFIX} tokens before "
            "them), so it holds no map. Pick a layer whose output is a spatial grid or a ViT block's tokens."
        )
    n, _, channels = array.shape
    patches = array[:, prefix:].reshape(n, grid[0], grid[1], channels)
    return np.ascontiguousarray(patches.transpose(0, 3, 1, 2))


def transformer_default(nodes: list[Any], node_ids: list[str], position: int, shapes: dict[str, tuple],
                        grid_name: str) -> str | None:
    """For a transformer whose last readable grid, at ``position``, is its patch embedding: the last
    block's first LayerNorm on the patch tokens, or a refusal. None when it is not a transformer."""
    convs = sum(1 for node in nodes[:position + 1] if node.op_type == "Conv")
    if convs > PATCH_EMBEDDING_CONVS:
        return None
    later = list(zip(node_ids[position + 1:], nodes[position + 1:], strict=True))
    tokens = [i for i, n in later if n.op_type in _TOKEN_TYPES and _positions(_shape(n, shapes)) > 1]
    if len(tokens) < TOKEN_OPS:
        return None
    grid = patch_grid(nodes, shapes)
    norms = [i for i, n in later
             if n.op_type == "LayerNormalization" and prefix_of(_shape(n, shapes) or (), grid) is not None]
    if len(norms) >= 3 and len(norms) % 2 == 1:  # two per block and the encoder's last
        return norms[-3]
    shown = ", ".join(repr(t) for t in tokens[-_SHOWN:])
    raise NonSpatialLayerError(
        f"No default layer: the last spatial grid of this ONNX model, {grid_name!r}, is a transformer's patch "
        f"embedding ({len(tokens)} token operations follow, e.g. {shown}), and its tokens are not a ViT's "
        "(class tokens then the patch grid). A map of the patch embedding shows texture, not the decision. "
        "Explain the PyTorch model (cnnvis lays ViT and Swin tokens on their grid there), or pass layer= to "
        "map the patch embedding anyway."
    )


def _shape(node: Any, shapes: dict[str, tuple]) -> tuple | None:
    return shapes.get(node.output[0]) if node.output else None


def _positions(shape: tuple | None) -> int:
    """Positions a tensor holds between its batch and feature axes (tokens, or grid cells)."""
    return math.prod(shape[1:-1]) if shape and len(shape) >= 3 else 0
