"""Cascading re-initialisation of an ONNX model: its initializers, in a copy of the graph.

ONNX Runtime computes no gradients, so the check runs a gradient-free method (the adapter's
default, EigenCAM) on each stage. A stage is one node that reads weights (Conv, Gemm, MatMul,
BatchNormalization...), from the output down; its float initializers get fresh values on the scale
of the old ones (normalisations their identity), in a copy that accumulates stage after stage.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

# BatchNormalization's inputs after the data: scale, bias, mean, variance, reset to the identity.
_NORM_RESET = {"BatchNormalization": (1.0, 0.0, 0.0, 1.0), "InstanceNormalization": (1.0, 0.0),
               "LayerNormalization": (1.0, 0.0)}


def weighted_nodes(model: Any) -> list[tuple[str, Any]]:
    """``(layer name, node)`` for every node reading float initializers (shape constants skipped)."""
    floats = {t.name for t in model.proto.graph.initializer if t.data_type in (1, 10, 11, 16) and len(t.dims)}
    return [(node_id, node) for node_id, node in zip(model.index.node_ids, model.index.nodes, strict=True)
            if any(name in floats for name in node.input[1:])]


def onnx_cascade(model: Any, seed: int) -> Iterator[tuple[str, Any]]:
    import onnx

    from ..adapters.onnx import ExternalData, OnnxModel

    proto = onnx.ModelProto()
    proto.CopyFrom(model.proto)  # the user's model is never touched
    # memory-mapped weights are read from their buffers; fresh ones go to new buffers, never the files
    external = model.external.copy() if model.external is not None else ExternalData()
    tensors = {t.name: t for t in proto.graph.initializer}
    rng = np.random.default_rng(seed)
    for name, node in reversed(weighted_nodes(model)):
        for position, tensor_name in enumerate(node.input[1:], 1):
            tensor = tensors.get(tensor_name)
            if tensor is None or tensor.data_type not in (1, 10, 11, 16) or not len(tensor.dims):
                continue
            old = external.read(tensor)
            fresh = _fresh(node.op_type, position, old, rng)
            external.write(tensor, fresh.astype(old.dtype))
        yield name, OnnxModel(proto, name=f"{model.name}-randomised", threads=model.threads, external=external)


def _fresh(op: str, position: int, old: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    reset = _NORM_RESET.get(op)
    if reset is not None and position <= len(reset):
        return np.full(old.shape, reset[position - 1])
    if old.ndim == 1:
        return np.zeros(old.shape)  # biases start at zero, as the layers' own initialisers do
    std = float(old.std()) if old.size > 1 else 0.0
    return rng.normal(0.0, std or 0.05, old.shape)
