"""Where a model's arrays live, and inputs that are somewhere else."""

from __future__ import annotations

import sys
from typing import Any

from ..errors import CnnvisError


def check_input_device(adapter: Any, inputs: Any) -> None:
    """Inputs on one accelerator and a model on another are refused: copying between them silently would
    hide a mistake (and cost a transfer per call). Host inputs (numpy, CPU tensors) go to the model's device."""
    torch = sys.modules.get("torch")
    model_device = getattr(adapter, "device", None)
    if torch is None or model_device is None or not isinstance(inputs, torch.Tensor):
        return
    device = inputs.device
    if device.type == "cpu" or _same(device, torch.device(model_device)):
        return
    raise CnnvisError(
        f"The inputs are on {device} and the model on {model_device}. Move one of them: "
        f"x.to('{model_device}') (or model.to('{device}'))."
    )


def _same(a: Any, b: Any) -> bool:
    if a.type != b.type:
        return False
    # "cuda" and "cuda:0" name the same device when the current one is 0.
    return (a.index or 0) == (b.index or 0)


def to_device(model: Any, device: Any) -> Any:
    """``model`` (a torch module or a handle holding one) moved to ``device``; others refuse a non-CPU one."""
    if device is None:
        return model
    torch = sys.modules.get("torch")
    inner = getattr(model, "model", model)
    if torch is not None and isinstance(inner, torch.nn.Module):
        try:
            target = torch.device(device)
            inner.to(target)
        except (RuntimeError, AssertionError) as exc:
            detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise CnnvisError(f"Cannot put the model on {device!r}: {detail}") from None
        return model
    if str(device) != "cpu":
        framework = getattr(model, "framework", type(inner).__module__.split(".")[0])
        raise CnnvisError(f"device= moves PyTorch models; this {framework} model runs where its runtime puts it.")
    return model


def device_of(model: Any) -> str:
    """Where a model computes, as the replies say it ("cpu", "cuda:0", ...)."""
    from ..adapters.base import resolve_adapter

    return str(getattr(resolve_adapter(model), "device", "cpu"))
