"""Forward hooks that keep one layer's output for a CAM pass, and the forward pass that uses them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ...errors import CnnvisError, NonSpatialLayerError
from .outputs import SoftmaxBypass


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


@contextmanager
def layer_forward(adapter: Any, inputs: Any, layer: str, gradients: bool) -> Iterator[tuple[Any, Any, Any]]:
    """One forward pass keeping ``layer``'s output (a gradient leaf with ``gradients``, see
    :func:`activation_capture`); yields ``(pre-softmax logits, activation, layout trace or None)``
    while autograd is as the pass left it, and removes the hooks on leaving."""
    torch = adapter.torch
    captured: dict[str, Any] = {}
    capture = activation_capture(torch, layer, captured, gradients)
    trace = adapter._trace_for([layer], inputs)
    handles = [adapter.module(layer).register_forward_hook(capture), *(trace.attach() if trace else [])]
    try:
        with torch.set_grad_enabled(False), SoftmaxBypass(adapter.model, adapter.output_selector) as bypass:
            logits = bypass.logits(adapter._forward(inputs))
            if "activation" not in captured:
                raise CnnvisError(f"Layer {layer!r} did not run in the forward pass, so it has no output.")
            yield logits, captured["activation"], trace
    finally:
        for handle in handles:
            handle.remove()


def check_depends(score: Any, what: str) -> None:
    """Refuses a target score autograd cannot differentiate: ``what`` ran after the score was
    final (a detector's mask head), or the target matched nothing and scored a constant."""
    if not score.requires_grad:
        raise CnnvisError(f"The target score does not depend on {what}: it is computed before that runs, or the "
                          "target matched nothing in the outputs. Choose a layer the score is computed from "
                          "(for a detector, one in its backbone) or check the target.")
