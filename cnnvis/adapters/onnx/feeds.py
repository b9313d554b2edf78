"""What an ONNX model's inputs accept: one image batch, or a feed of named arrays.

A model with one image input (rank 4, numeric) takes a batch of images and gets every map and
method. Any other model (several inputs, token ids, a 2-D feature vector, audio) takes a dict
``{input name: array}`` (or a list in the graph's input order) of arrays sharing their first
axis: its layer outputs are readable whole, and the CAM methods are refused with the reason.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import InputShapeError
from .runtime import GraphIndex, static_dims

_NUMERIC_TYPES = {1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 16}  # float, ints, float16, double, bfloat16


def image_problem(index: GraphIndex) -> str | None:
    """Why this model does not take one batch of images, or None when it does."""
    inputs = index.inputs
    if len(inputs) != 1:
        names = ", ".join(repr(v.name) for v in inputs)
        return (f"This ONNX model takes {len(inputs)} inputs ({names}); maps need one image input. Pass "
                "a dict {input name: array} to cnnvis.activations to read its layers; cnnvis.graph() works on it.")
    value = inputs[0]
    dims = static_dims(value)
    if dims is None:
        return (f"This ONNX model's input {value.name!r} declares no tensor shape, so it is not known to be a "
                "batch of images and has no maps. Pass {" + repr(value.name) + ": array} to cnnvis.activations "
                "to read its layers; cnnvis.graph() works on it.")
    if len(dims) != 4:
        return (f"This ONNX model's input {value.name!r} is {len(dims)}-D, not a batch of images (N, C, H, W) or "
                "(N, H, W, C), so it has no maps. Pass {" + repr(value.name) + ": array} to cnnvis.activations "
                "to read its layers; cnnvis.graph() works on it.")
    elem = index.elem_type(value.name)
    if elem is not None and elem not in _NUMERIC_TYPES:
        return (f"This ONNX model's input {value.name!r} holds {_type_name(elem)} values, not image pixels, so "
                "it has no maps. cnnvis.activations reads its layers from {input name: array}.")
    return None


def is_feed(inputs: Any) -> bool:
    return isinstance(inputs, dict | list | tuple)


def prepare_feed(index: GraphIndex, inputs: Any) -> dict[str, np.ndarray]:
    """``{input name: array}`` with the graph's dtypes, checked against the declared ranks and sizes."""
    names = [v.name for v in index.inputs]
    for value in index.inputs:
        _check_tensor(value)
    if not isinstance(inputs, dict):
        inputs = list(inputs) if is_feed(inputs) else [inputs]
        if len(inputs) != len(names):
            raise InputShapeError(f"The model takes {len(names)} input(s) {names}; got {len(inputs)}.")
        inputs = dict(zip(names, inputs, strict=True))
    if set(inputs) != set(names):
        raise InputShapeError(f"The model's inputs are {names}; got keys {sorted(map(str, inputs))}.")
    return {name: _array(index, name, inputs[name]) for name in names}


def rows(feed: dict[str, np.ndarray]) -> int:
    """The batch of a feed: the first input's first axis (0 for a scalar input)."""
    first = next(iter(feed.values()), None)
    return len(first) if first is not None and first.ndim else 0  # no inputs (constants only): none


def _array(index: GraphIndex, name: str, value: Any) -> np.ndarray:
    from onnx import helper

    try:
        array = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value)
    except (ValueError, TypeError):
        array = np.empty(0, dtype=object)
    if array.dtype == object and index.elem_type(name) != 8:
        raise InputShapeError(f"Input {name!r} must be one numeric array, not {type(value).__name__} of objects.")
    dims = static_dims(index.value_info.get(name))
    if dims is not None:
        wrong = len(dims) != array.ndim or any(
            d is not None and d != s for d, s in zip(dims[1:], array.shape[1:], strict=False))
        if wrong:
            shown = ["?" if d is None else d for d in dims]
            raise InputShapeError(f"Input {name!r} takes shape {shown}; got {list(array.shape)}.")
    elem = index.elem_type(name)
    if elem is None:
        return array
    if elem == 8:  # strings go in as they are
        return array.astype(object)
    return np.ascontiguousarray(array, dtype=helper.tensor_dtype_to_np_dtype(elem))


def _check_tensor(value: Any) -> None:
    if not value.type.HasField("tensor_type"):
        kind = value.type.WhichOneof("value") or "value"
        raise InputShapeError(f"Input {value.name!r} is an ONNX {kind.replace('_type', '')}, not a tensor; cnnvis "
                              "feeds tensor inputs only. cnnvis.graph() works on this model.")


def _type_name(elem: int) -> str:
    from onnx import TensorProto

    return TensorProto.DataType.Name(elem).lower()
