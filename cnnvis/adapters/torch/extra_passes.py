"""Passes some CAM methods need beyond one layer's gradient: the Hessian-vector product of the
target score at a layer (ShapleyCAM) and every bias's gradient in one backward pass (FullGrad)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import CnnvisError
from .capture import check_depends, layer_forward
from .outputs import SoftmaxBypass


def second_order_pass(adapter: Any, inputs: Any, layer: str, target: Any) -> tuple[Any, Any]:
    """``(gradient, Hessian x activation)`` of the target score at ``layer``, ``(N, C, h, w)`` each."""
    torch = adapter.torch
    with layer_forward(adapter, inputs, layer, gradients=True) as (logits, activation, trace):
        _, score, _ = adapter._score(logits, target, len(inputs))
        check_depends(score, f"layer {layer!r}")
        (grad,) = torch.autograd.grad(score, activation, create_graph=True)
        (hvp,) = torch.autograd.grad(grad, activation, grad_outputs=activation, allow_unused=True)
    if hvp is None:  # a score piecewise linear in the layer: its second derivative is zero
        hvp = torch.zeros_like(grad)
    layout = adapter._layout(layer, activation, trace, inputs)
    return (adapter._reshaped(grad.detach(), layer, layout).float(),
            adapter._reshaped(hvp.detach(), layer, layout).float())


def bias_gradients(adapter: Any, inputs: Any, target: Any) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """``(input x its gradient, [(bias, gradient at that layer's output)])`` for every Conv2d and
    BatchNorm2d with a bias (a BatchNorm's effective bias: beta - mean * gamma / sqrt(var + eps)),
    from one backward pass."""
    torch = adapter.torch
    layers = [m for m in adapter.model.modules()
              if type(m) in (torch.nn.Conv2d, torch.nn.BatchNorm2d) and m.bias is not None]
    if not layers:
        raise CnnvisError("fullgrad needs Conv2d or BatchNorm2d layers with biases; this model has none.")
    outputs: list[Any] = []

    def keep(mod: Any, args: Any, output: Any) -> None:
        if output.requires_grad:
            outputs.append((mod, output))

    x = inputs.detach().clone().requires_grad_(True)
    handles = [m.register_forward_hook(keep) for m in layers]
    try:
        with torch.enable_grad(), SoftmaxBypass(adapter.model, adapter.output_selector) as bypass:
            logits = bypass.logits(adapter._forward(x))
            _, score, _ = adapter._score(logits, target, len(x))
            grads = torch.autograd.grad(score, [x, *(o for _, o in outputs)], allow_unused=True)
    finally:
        for handle in handles:
            handle.remove()
    pairs = []
    for (mod, _), grad in zip(outputs, grads[1:], strict=True):
        if grad is not None:
            pairs.append((_effective_bias(torch, mod).float().cpu().numpy(), grad.detach().float().cpu().numpy()))
    input_part = (grads[0] * x).detach().float().cpu().numpy()
    return input_part, pairs


def _effective_bias(torch: Any, module: Any) -> Any:
    with torch.no_grad():
        if isinstance(module, torch.nn.BatchNorm2d):
            return module.bias - module.running_mean * module.weight / torch.sqrt(module.running_var + module.eps)
        return module.bias.detach()
