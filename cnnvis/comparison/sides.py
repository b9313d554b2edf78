"""The side of a comparison for a model handle, by its framework."""

from __future__ import annotations

from typing import Any

from ..errors import CnnvisError
from .keras_side import KerasSide
from .layers import Side
from .onnx_side import OnnxSide
from .torch_side import TorchSide


def open_side(label: str, handle: Any) -> Side:
    """The side for ``handle`` (a path, a model, or a handle from ``cnnvis.load``)."""
    import os

    from ..adapters.base import resolve_adapter
    from ..api import load

    if isinstance(handle, (str, os.PathLike)):
        handle = load(handle)
    adapter = resolve_adapter(handle)
    if hasattr(adapter, "node_outputs") and getattr(adapter, "framework", "") == "onnx":
        return OnnxSide(label, handle, adapter)
    if getattr(adapter, "framework", "") == "torch":
        return TorchSide(label, handle, adapter)
    if getattr(adapter, "framework", "") == "keras":
        return KerasSide(label, handle, adapter)
    raise CnnvisError(f"compare reads layer outputs of PyTorch, Keras and ONNX models; {label!r} is a "
                      f"{getattr(adapter, 'framework', type(handle).__name__)} model. Export it to ONNX "
                      "(or compare deployed engines' latency with cnnvis.compare_engines).")
