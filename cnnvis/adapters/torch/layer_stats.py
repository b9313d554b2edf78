"""Channel statistics of many PyTorch layers in one forward, reduced on the device inside the hooks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...cam.stats import as_stats, reduce_channels
from ...errors import NonSpatialLayerError
from .layout import KNOWN_LAYOUTS, NHWC


def activation_stats(adapter: Any, inputs: Any, layers: Sequence[str] | None) -> dict[str, dict]:
    """``{layer: {statistic: (N, C)}}`` for ``layers`` (None: every layer with a 4-D output)."""
    import array_api_compat.torch as xp
    import torch

    reduced: dict[str, dict] = {}
    shapes: dict[str, Any] = {}
    key = tuple(inputs.shape[1:])

    def keep(name: str) -> Any:
        def hook(module: Any, args: Any, output: Any) -> None:
            if not isinstance(output, torch.Tensor) or (layers is None and output.ndim != 4):
                return
            shapes[name] = torch.empty(output.shape, device="meta")
            # Reduced now, before later in-place ops change the tensor; while the layout is unknown, both
            # readings are reduced (cheap next to the layer itself) and the trace picks one afterwards.
            reduced[name] = {}
            for layout in _candidates(adapter, name, output, key):
                try:
                    spatial = adapter._reshaped(output.detach(), name, layout)
                except NonSpatialLayerError:
                    if layers is not None and output.ndim != 4:
                        raise
                    continue
                reduced[name][layout] = reduce_channels(xp, spatial)
        return hook

    names, trace = adapter._forward_keeping(inputs, layers, keep)
    chosen = _chosen(adapter, names, reduced, shapes, trace, inputs, explicit=layers is not None)
    if not chosen:
        return {}
    # One transfer to the host for every layer's numbers.
    flat = torch.cat([r.reshape(len(r), -1) for r in chosen.values()], dim=1).cpu().numpy()
    result, offset = {}, 0
    for name, r in chosen.items():
        size = r[0].numel()
        result[name] = as_stats(flat[:, offset:offset + size].reshape(r.shape))
        offset += size
    return result


def _candidates(adapter: Any, name: str, output: Any, key: tuple) -> list:
    if output.ndim != 4:
        return [None]
    known = adapter._hinted_layout(name) or _cached_layout(adapter, name, key)
    if known:
        return [known if known == NHWC else None]
    return [None, NHWC]


def _cached_layout(adapter: Any, name: str, key: tuple) -> str | None:
    return KNOWN_LAYOUTS.get(adapter.model, {}).get((name, key))


def _chosen(adapter: Any, names: list, reduced: dict, shapes: dict, trace: Any, inputs: Any,
            explicit: bool) -> dict:
    chosen = {}
    for name in (n for n in names if n in reduced):
        try:
            layout = adapter._layout(name, shapes[name], trace, inputs)
        except NonSpatialLayerError:
            if explicit:
                raise
            continue  # listing every layer: one whose layout cannot be told is left out
        picked = reduced[name].get(layout if layout == NHWC else None)
        if picked is not None:
            chosen[name] = picked
    return chosen
