"""Gradients of the target score with respect to the inputs, for pixel attributions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import numpy as np

from .capture import check_depends
from .outputs import SoftmaxBypass


def input_gradients(adapter: Any, batch_nchw: np.ndarray, target: Any, guided: bool = False
                    ) -> tuple[np.ndarray, list[int] | None]:
    """``(d score / d inputs as (N, C, H, W) float32, the class per input or None)``.

    ``guided``: every ``nn.ReLU`` passes back only positive gradients (guided backpropagation).
    """
    torch = adapter.torch
    x = torch.from_numpy(np.ascontiguousarray(batch_nchw)).to(adapter.device, adapter.dtype).requires_grad_(True)
    with torch.enable_grad(), guided_relus(adapter.model) if guided else nullcontext(), \
            SoftmaxBypass(adapter.model, adapter.output_selector) as bypass:
        logits = bypass.logits(adapter._forward(x))
        targets, score, _ = adapter._score(logits, target, len(x))
        check_depends(score, "the inputs")
        (grads,) = torch.autograd.grad(score, x)
    return grads.detach().float().cpu().numpy(), targets


@contextmanager
def guided_relus(model: Any) -> Iterator[None]:
    """ReLU modules run out of place and clamp the gradient reaching them at zero; their own
    backward then keeps only positive inputs: together, guided backpropagation."""
    import torch

    relus = [m for m in model.modules() if isinstance(m, torch.nn.ReLU)]
    inplace = [m.inplace for m in relus]
    for m in relus:
        m.inplace = False

    def clamp_gradient(module: Any, args: Any, output: Any) -> None:
        if output.requires_grad:
            output.register_hook(lambda grad: grad.clamp(min=0))

    handles = [m.register_forward_hook(clamp_gradient) for m in relus]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
        for m, flag in zip(relus, inplace, strict=True):
            m.inplace = flag
