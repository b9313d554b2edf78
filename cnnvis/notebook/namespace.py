"""What a kernel's namespace holds that cnnvis can show: models and 4-D input batches.

The scan runs whenever the sidebar lists a kernel's models, so it must stay cheap: it never imports
a framework (a torch tensor exists only if torch is already imported), skips what cannot be a model
at a glance and asks the adapter plugins about the rest, so plugins' model types count too.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterable, Mapping
from typing import Any

from ..adapters.base import ModelAdapter

# Never models: asking the plugins about these would only cost time.
_NOT_MODELS = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType,
               str, bytes, bytearray, int, float, complex, bool, list, tuple, dict, set, frozenset,
               type(None))


def user_variables(namespace: Mapping[str, Any], hidden: Mapping[str, Any] | None = None) -> list[tuple[str, Any]]:
    """``(name, value)`` the user defined, in insertion order: no ``_`` names, nor IPython's own
    (``In``, ``Out``, ``exit``, ...) unless the user rebound them."""
    hidden = hidden or {}
    missing = object()
    return [(name, value) for name, value in list(namespace.items())  # a copy: cells may run meanwhile
            if not name.startswith("_") and hidden.get(name, missing) is not value]


def find_models(variables: Iterable[tuple[str, Any]]) -> list[dict]:
    """``[{name, framework, type, params}]`` for the variables an adapter plugin accepts."""
    out = []
    for name, value in variables:
        adapter = adapter_for(value)
        if adapter is not None:
            out.append({"name": name, "framework": adapter.framework, "type": type(value).__name__,
                        "params": parameter_count(getattr(adapter, "model", value))})
    return out


def find_inputs(variables: Iterable[tuple[str, Any]]) -> list[dict]:
    """``[{name, shape, dtype, framework}]`` for 4-D numeric arrays / tensors (image batches)."""
    out = []
    for name, value in variables:
        described = describe_batch(value)
        if described is not None:
            out.append({"name": name, **described})
    return out


def adapter_for(value: Any) -> ModelAdapter | None:
    """The adapter the plugins offer for ``value``, or None (also when a plugin fails on it)."""
    from ..adapters.base import resolve_adapter
    from ..errors import UnsupportedModelError

    if isinstance(value, _NOT_MODELS) or _framework_of(value) is not None:
        return None
    try:
        return resolve_adapter(value)
    except UnsupportedModelError:
        return None
    except Exception:  # a plugin tripping over an odd object must not hide the other models
        return None


def parameter_count(model: Any) -> int:
    """Trainable and frozen parameters; 0 where the framework does not say (an unbuilt Keras model)."""
    try:
        if callable(getattr(model, "count_params", None)):  # Keras
            return int(model.count_params())
        if callable(getattr(model, "parameters", None)):  # torch.nn.Module
            return int(sum(p.numel() for p in model.parameters()))
    except Exception:
        pass
    return 0


def describe_batch(value: Any) -> dict | None:
    """``{shape, dtype, framework}`` if ``value`` is a 4-D numeric numpy array or tensor, else None."""
    framework = _framework_of(value)
    if framework is None:
        return None
    shape = getattr(value, "shape", None)
    try:
        dims = [None if d is None else int(d) for d in shape]
    except (TypeError, ValueError):
        return None
    if len(dims) != 4:
        return None
    dtype = _dtype_name(value, framework)
    if dtype is None:
        return None
    return {"shape": dims, "dtype": dtype, "framework": framework}


def _framework_of(value: Any) -> str | None:
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.ndarray):
        return "numpy"
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        return "torch"
    tf = sys.modules.get("tensorflow")
    module = type(value).__module__ or ""
    # Checking the class's module first keeps tf.is_tensor off every other object.
    if tf is not None and module.startswith("tensorflow") and tf.is_tensor(value):
        return "tensorflow"
    return None


def _dtype_name(value: Any, framework: str) -> str | None:
    """The dtype's short name (``float32``, ``uint8``), or None if it is not numeric."""
    if framework == "numpy":
        return value.dtype.name if value.dtype.kind in "biuf" else None
    if framework == "torch":
        dtype = value.dtype
        if dtype.is_complex:
            return None
        return str(dtype).removeprefix("torch.")
    dtype = value.dtype
    return dtype.name if (dtype.is_floating or dtype.is_integer or dtype.is_bool) else None
