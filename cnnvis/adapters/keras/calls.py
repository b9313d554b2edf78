"""Helpers of the Keras adapter: walking nested layers, wrapping ``call``, softmax bypass, tensors."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ...errors import NonSpatialLayerError

# Wrapping ``call`` is visible to other threads running the same model, so only one wraps at a time.
PATCH_LOCK = threading.RLock()
SOFTMAX_NAMES = ("softmax", "log_softmax")


def layer_index(model: Any) -> dict[str, Any]:
    """``{path: layer}`` in model order; nested layers as ``outer/inner``, input layers left out."""
    import keras

    index: dict[str, Any] = {}

    def walk(parent: Any, prefix: str) -> None:
        for child in sublayers(parent):
            if isinstance(child, keras.layers.InputLayer):
                continue
            path = prefix + child.name
            index.setdefault(path, child)
            walk(child, path + "/")

    walk(model, "")
    return index


def sublayers(layer: Any) -> list[Any]:
    return list(layer._flatten_layers(include_self=False, recursive=False))


@contextmanager
def patched_calls(wrappers: dict[Any, Callable]) -> Iterator[None]:
    """Wrap each layer's ``call`` (as ``wrapper(original_call, *args, **kwargs)``) for the block."""
    import tensorflow as tf

    undo: list[tuple[Any, bool, Any]] = []
    with PATCH_LOCK:
        try:
            for layer, wrapper in wrappers.items():
                had_own = "call" in layer.__dict__
                original = layer.call
                undo.append((layer, had_own, layer.__dict__.get("call")))
                call = tf.autograph.experimental.do_not_convert(bind_call(wrapper, original))
                object.__setattr__(layer, "call", call)  # bypasses Keras attribute tracking
            yield
        finally:
            for layer, had_own, previous in reversed(undo):
                if had_own:
                    object.__setattr__(layer, "call", previous)
                else:
                    object.__delattr__(layer, "call")


def bind_call(wrapper: Callable, original: Callable) -> Callable:
    def call(*args: Any, **kwargs: Any) -> Any:
        return wrapper(original, *args, **kwargs)
    return call


def softmax_kind(keras: Any, layer: Any) -> str | None:
    """``"layer"`` for a Softmax/Activation(softmax) layer, ``"activation"`` for Dense(softmax) etc."""
    if isinstance(layer, keras.layers.Softmax):
        return "layer"
    name = getattr(getattr(layer, "activation", None), "__name__", "")
    if name not in SOFTMAX_NAMES:
        return None
    return "layer" if isinstance(layer, keras.layers.Activation) else "activation"


def softmax_bypass(layer: Any, pairs: list) -> Callable:
    """Record (pre-softmax, output) for a softmax layer without changing what it returns."""
    import keras

    kind = softmax_kind(keras, layer)

    def wrap(call: Callable, *args: Any, **kwargs: Any) -> Any:
        if kind == "layer":
            out = call(*args, **kwargs)
            pairs.append((args[0], out))
            return out
        # A shallow stand-in with a linear activation computes the pre-activation, leaving the layer as is.
        linear = object.__new__(type(layer))
        linear.__dict__.update(layer.__dict__)
        linear.__dict__["activation"] = keras.activations.linear
        linear.__dict__.pop("call", None)
        before = type(layer).call(linear, *args, **kwargs)
        out = layer.activation(before)
        pairs.append((before, out))
        return out

    return wrap


def model_inputs(model: Any) -> list:
    try:
        return list(model.inputs or [])
    except (AttributeError, ValueError):  # subclassed models have no symbolic inputs
        return []


def conv_in_channels(layer: Any) -> int | None:
    kernel = getattr(layer, "kernel", None) if "Conv2D" in type(layer).__name__ else None
    if kernel is None or getattr(layer, "data_format", "channels_last") != "channels_last":
        return None
    return int(kernel.shape[-2]) if len(kernel.shape) == 4 else None


def first_tensor(output: Any, layer: str) -> Any:
    if isinstance(output, list | tuple) and output:
        output = output[0]
    if not hasattr(output, "shape") or not hasattr(output, "dtype"):
        raise NonSpatialLayerError(f"Layer {layer!r} does not output a tensor ({type(output).__name__}).")
    return output


def is_spatial(output: Any, min_area: int = 2) -> bool:
    shape = getattr(output, "shape", None)
    if shape is None or len(shape) != 4:
        return False
    height, width = shape[1], shape[2]
    return height is None or width is None or height * width >= min_area


def static_shape(tensor: Any) -> tuple:
    return tuple(tensor.shape)


def to_numpy(tensor: Any) -> np.ndarray:
    value = tensor.numpy() if hasattr(tensor, "numpy") else np.asarray(tensor)
    return np.asarray(value, dtype=np.float32)
