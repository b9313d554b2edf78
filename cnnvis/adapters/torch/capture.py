"""Forward hooks that keep one layer's output for a CAM pass."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...errors import NonSpatialLayerError


def first_tensor(output: Any, layer: str) -> Any:
    """A module's output tensor (the first one of a tuple or list output)."""
    import torch

    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, tuple | list) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise NonSpatialLayerError(f"Layer {layer!r} does not output a tensor ({type(output).__name__}).")


def activation_capture(torch: Any, layer: str, captured: dict, gradients: bool) -> Callable:
    """A forward hook keeping ``layer``'s output in ``captured["activation"]``. With ``gradients`` it
    becomes a leaf that later layers see a copy of, and autograd is switched on from there: the
    layers before it built no graph."""

    def capture(mod: Any, args: Any, output: Any) -> Any:
        tensor = first_tensor(output, layer)
        if not gradients:
            captured["activation"] = tensor.detach().clone()
            return None
        torch.set_grad_enabled(True)
        leaf = tensor.detach().requires_grad_(True)
        captured["activation"] = leaf
        replaced = leaf.clone()  # later in-place ops (out += identity) must not touch the leaf
        if isinstance(output, tuple | list):  # e.g. an LSTM's (output, state): swap the first only
            return type(output)((replaced, *output[1:]))
        return replaced

    return capture
