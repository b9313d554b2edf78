"""Which PyTorch layer a map is drawn on when none is named, and whether a 4-D output is a grid.

A 4-D output is not always an image grid: attention scores ``(N, heads, tokens, tokens)`` and
per-head tokens ``(N, heads, tokens, head_dim)`` are 4-D too, and read as ``(N, C, H, W)`` they give
maps that look like maps and mean nothing. So a layer counts as a grid only when its spatial axes
follow the input's (one integer stride on both axes, as convolutions and pooling give) or a
convolution-like module produces or reads it. Transformers cnnvis recognises are named by the
architecture plugins first; for one it does not, whose grid turns into tokens right after the patch
embedding, the choice is refused with the layers that could be meant, not made silently.
"""

from __future__ import annotations

from typing import Any

from ...errors import NonSpatialLayerError
from .layout import NHWC, LayoutTrace, _family, decide_layout

_TOKEN_LAYERS_SHOWN = 4
_TOKEN_MIXING_LAYERS = 8  # Linear layers on token sequences after the last grid that mark a transformer


def probe_default_layer(adapter: Any, inputs: Any) -> str:
    """The outermost layer finishing last whose output is a spatial grid of the input, one entry
    per input."""
    torch = adapter.torch
    finished: list[tuple[str, tuple]] = []

    def record(name: str) -> Any:
        def hook(module: Any, args: Any, output: Any) -> None:
            if isinstance(output, torch.Tensor):
                finished.append((name, tuple(output.shape)))  # a parent finishes after its children
        return hook

    trace = LayoutTrace(adapter.modules)
    handles = trace.attach()
    try:
        adapter._forward_with_hooks(inputs, {n: record(n) for n in adapter.modules})
    finally:
        for handle in handles:
            handle.remove()
    size = tuple(inputs.shape[-2:])
    for position in range(len(finished) - 1, -1, -1):
        name, shape = finished[position]
        # per-box crops and per-token tensors are 4-D too, but not one entry per input
        if len(shape) == 4 and shape[0] == len(inputs) and _grid_layout(adapter, trace, name, shape, size):
            _refuse_if_tokens_follow(adapter, name, finished[position + 1:])
            return name
    raise NonSpatialLayerError.none_in_model()


def _grid_layout(adapter: Any, trace: LayoutTrace, name: str, shape: tuple, size: tuple) -> str | None:
    """The layout of a 4-D output that is a spatial grid with H*W > 1, else None."""
    layout = adapter._hinted_layout(name)
    if layout is None:
        try:
            layout = decide_layout(trace, name, shape)
        except NonSpatialLayerError:
            return None  # channels could be on either axis: not a safe default
    hw = shape[1:3] if layout == NHWC else shape[2:]
    if hw[0] * hw[1] <= 1:
        return None
    return layout if _looks_like_grid(adapter, trace, name, hw, size) else None


def _looks_like_grid(adapter: Any, trace: LayoutTrace, name: str, hw: tuple, size: tuple) -> bool:
    if conv_evidence(adapter, trace, name):
        return True
    return is_grid(hw, size) and not inside_attention(adapter, name)


def inside_attention(adapter: Any, name: str) -> bool:
    """The layer is an attention module or sits inside one: its 4-D tensors are heads x tokens."""
    from ...architectures.tokens import is_attention

    parts = name.split(".")
    return any(is_attention(adapter.modules[p]) for p in (".".join(parts[:i]) for i in range(1, len(parts) + 1))
               if p in adapter.modules)


def is_grid(hw: tuple, size: tuple) -> bool:
    """Spatial axes ``hw`` follow the input ``size`` by one integer stride (or upsampling factor)."""
    (h, w), (height, width) = hw, size
    for stride in range(1, max(height, width) + 1):
        if abs(h - height / stride) <= 1 and abs(w - width / stride) <= 1:
            return True
    factor = round(h / height) if height else 0
    return factor > 1 and abs(h - height * factor) <= 1 and abs(w - width * factor) <= 1


def conv_evidence(adapter: Any, trace: LayoutTrace, name: str) -> bool:
    """A convolution, batch norm or pooling module produced or reads this output (an input
    resized inside the model, as detectors do, keeps its grid without one integer stride)."""
    return any(_family(adapter.modules[m]) == "first" for m in trace.evidence(name) if m in adapter.modules)


def check_grid(adapter: Any, trace: LayoutTrace, layer: str, shape: tuple, layout: str, size: tuple) -> None:
    """Refuses a named layer whose 4-D output is not a spatial grid of the input."""
    hw = shape[1:3] if layout == NHWC else shape[2:]
    if _looks_like_grid(adapter, trace, layer, hw, size):
        return
    raise NonSpatialLayerError(
        f"Layer {layer!r} outputs shape {shape}, which is not a spatial grid of the {size[0]}x{size[1]} input "
        "(attention scores or per-head tokens look like this): a map of it would look plausible and mean "
        f"nothing. Spatial layers of this model include: {adapter._spatial_hint()}."
    )


def _refuse_if_tokens_follow(adapter: Any, grid: str, later: list[tuple[str, tuple]]) -> None:
    """A grid followed by LayerNorms (or many Linear layers) over token sequences: the grid is a
    transformer's patch embedding, not where the decision is made, and cnnvis does not know this
    transformer's tokens."""
    nn = adapter.torch.nn
    norms = [name for name, shape in later
             if len(shape) == 3 and shape[1] > 1 and isinstance(adapter.modules[name], nn.LayerNorm)]
    # Transformers and token MLPs without LayerNorms (LeViT's BatchNorm1d, ResMLP's affine layers) still
    # run many Linear layers on token sequences; a CNN's pooling head runs a few at most.
    mixing = {name for name, shape in later
              if len(shape) == 3 and shape[1] > 1 and isinstance(adapter.modules[name], nn.Linear | nn.BatchNorm1d)}
    tokens = norms or (sorted(mixing) if len(mixing) >= _TOKEN_MIXING_LAYERS else [])
    if not tokens:
        return
    shown = ", ".join(repr(t) for t in list(dict.fromkeys(tokens))[-_TOKEN_LAYERS_SHOWN:])
    raise NonSpatialLayerError(
        f"No default layer: the last spatial grid, {grid!r}, is a transformer's patch embedding (token layers "
        f"follow). Pass layer= with one of its token layers ({shown}, ...) and a cnnvis_architecture plugin "
        "returning Architecture(reshape=...) that lays its tokens on a grid: a map of the patch embedding "
        "shows texture, not the decision, and cnnvis does not recognise this transformer's tokens."
    )

