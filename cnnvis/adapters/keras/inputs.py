"""Keras models with several inputs: batches given as a list or a dict, in the model's structure.

A single-input batch is one tensor; a multi-input batch is a list (in the order the model was built
with) or a dict keyed like the model's inputs, of tensors with a common batch size. Maps are drawn
at the resolution of the image input that feeds the explained layer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import CnnvisError, InputShapeError
from .calls import conv_in_channels, model_inputs


def is_structure(inputs: Any) -> bool:
    return isinstance(inputs, list | tuple | dict)


def prepare_structure(model: Any, inputs: Any) -> Any:
    """The inputs as tensors in the model's own input structure, or an InputShapeError."""
    import tensorflow as tf

    struct = getattr(model, "_inputs_struct", None)
    if isinstance(struct, dict) != isinstance(inputs, dict) or struct is None or not is_structure(struct):
        raise InputShapeError(
            f"This model takes {describe(struct)}; the inputs are a {type(inputs).__name__}. Pass them the same way."
        )
    if isinstance(inputs, dict) and set(inputs) != set(struct):
        raise InputShapeError(f"The model's inputs are {sorted(struct)}; got keys {sorted(inputs)}.")
    if not isinstance(inputs, dict) and len(inputs) != len(struct):
        raise InputShapeError(f"The model takes {len(struct)} inputs, got {len(inputs)}.")
    pairs = inputs.items() if isinstance(inputs, dict) else enumerate(inputs)
    tensors = {key: _tensor(value, _spec(struct[key]), key) for key, value in pairs}
    sizes = {int(t.shape[0]) for t in tensors.values()}
    if len(sizes) != 1 or 0 in sizes:
        raise InputShapeError(f"Every input needs the same, non-zero batch size; got {sorted(sizes)}.")
    prepared = tensors if isinstance(inputs, dict) else [tensors[i] for i in range(len(inputs))]
    return tf.nest.map_structure(lambda t: t, prepared)


def _spec(keras_tensor: Any) -> tuple:
    return tuple(keras_tensor.shape), str(keras_tensor.dtype)


def _tensor(value: Any, spec: tuple, key: Any) -> Any:
    import tensorflow as tf

    shape, dtype = spec
    value = value if isinstance(value, tf.Tensor) else np.asarray(value)
    if len(value.shape) != len(shape):
        raise InputShapeError(f"Input {key!r} has shape {tuple(value.shape)}; the model expects {shape}.")
    return tf.convert_to_tensor(value, dtype=dtype if "float" in dtype or "int" in dtype else "float32")


def describe(struct: Any) -> str:
    if isinstance(struct, dict):
        return f"a dict of inputs {sorted(struct)}"
    if isinstance(struct, list | tuple):
        return f"a list of {len(struct)} inputs"
    return "one tensor"


def flat(inputs: Any) -> list[Any]:
    import tensorflow as tf

    return tf.nest.flatten(inputs)


def batch_len(inputs: Any) -> int:
    return int(flat(inputs)[0].shape[0])


def signature(inputs: Any) -> tuple:
    """What a compiled pass depends on: each input's shape without the batch, and dtype."""
    return tuple((tuple(t.shape[1:]), t.dtype.name) for t in flat(inputs))


def specs(inputs: Any) -> Any:
    import tensorflow as tf

    return tf.nest.map_structure(lambda t: tf.TensorSpec((None, *t.shape[1:]), t.dtype), inputs)


def rows(inputs: Any, indices: Any) -> Any:
    import tensorflow as tf

    return tf.nest.map_structure(lambda t: tf.gather(t, indices), inputs)


def feeding_image(model: Any, layer: Any, inputs: Any) -> Any:
    """The 4-D input tensor that feeds ``layer`` (its graph traced back to the model's inputs)."""
    import tensorflow as tf

    images = [t for t in flat(inputs) if len(t.shape) == 4]
    if not images:
        raise CnnvisError("None of the model's inputs is an image batch (N, H, W, C); there is nothing to map onto.")
    keras_inputs = tf.nest.flatten(model._inputs_struct)
    fed = _inputs_reaching(layer, {id(t): i for i, t in enumerate(keras_inputs)})
    chosen = [flat(inputs)[i] for i in sorted(fed) if len(flat(inputs)[i].shape) == 4]
    return (chosen or images)[0]


def _inputs_reaching(layer: Any, inputs_by_id: dict[int, int]) -> set[int]:
    nodes = getattr(layer, "_inbound_nodes", None) or []
    stack = list(nodes[-1].input_tensors) if nodes else []
    seen: set[int] = set()
    found: set[int] = set()
    while stack:
        tensor = stack.pop()
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        if id(tensor) in inputs_by_id:
            found.add(inputs_by_id[id(tensor)])
            continue
        history = getattr(tensor, "_keras_history", None)
        if history is not None:
            stack.extend(history.operation._inbound_nodes[history.node_index].input_tensors)
    return found


def _expected_shape(model: Any, layers: dict) -> tuple | None:
    inputs = model_inputs(model)
    if len(inputs) == 1 and len(inputs[0].shape) == 4:
        return tuple(inputs[0].shape)
    conv = next((layer for layer in layers.values() if conv_in_channels(layer)), None)
    return (None, None, None, conv_in_channels(conv)) if conv is not None else None


def check_layout(model: Any, layers: dict, shape: tuple) -> None:
    """A single image batch whose channels or size the model cannot take is refused, saying why."""
    expected = _expected_shape(model, layers)
    if expected is None:
        return
    channels = expected[-1]
    if channels is not None and shape[-1] != channels:
        layout = (
            " It looks channels-first (N, C, H, W): use np.transpose(x, (0, 2, 3, 1))."
            if shape[1] == channels else ""
        )
        raise InputShapeError(
            f"The model takes {channels} channels last (N, H, W, C), the inputs have {shape[-1]} "
            f"(shape {shape}, read as N, H, W, C).{layout}"
        )
    for axis, (got, want) in enumerate(zip(shape[1:3], expected[1:3], strict=True), start=1):
        if want is not None and got != want:
            raise InputShapeError(
                f"The model takes inputs of shape {tuple(expected)} (N, H, W, C); axis {axis} of the "
                f"inputs is {got} (shape {shape}). Resize the images to {expected[1]}x{expected[2]}."
            )
