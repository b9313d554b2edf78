"""Where to read an ONNX node's output so two builds of one model compare like for like.

These read an ONNX adapter's graph index (``adapter.index``, ``adapter.tensor_of``): nothing here
imports onnx or onnxruntime.
"""

from __future__ import annotations

from typing import Any

FOLDED_ACTIVATIONS = ("Relu", "Clip")
FLOAT_TYPES = (None, 1, 10, 11, 16)  # float, float16, double, bfloat16 (None: not inferred)


def fused_activations(adapter: Any, name: str, present: set[str]) -> list[str]:
    """The activations after ``name`` that the other model folded away (a QDQ build turns a Relu
    into the range of the Conv's output): this side is compared after them too."""
    index, chain = adapter.index, []
    tensor = adapter.tensor_of(name)
    while len(index.consumers.get(tensor, ())) == 1:
        nxt = index.consumers[tensor][0]
        if index.nodes[nxt].op_type not in FOLDED_ACTIVATIONS or index.node_ids[nxt] in present:
            break
        chain.append(index.node_ids[nxt])
        tensor = index.nodes[nxt].output[0]
    return chain


def is_float(adapter: Any, name: str) -> bool:
    return adapter.index.elem_type(adapter.tensor_of(name)) in FLOAT_TYPES


def as_int8_sees_it(adapter: Any, name: str) -> str:
    """A node's output as the rest of a QDQ model reads it: after its QuantizeLinear/DequantizeLinear
    pair when it has one (the quantization error is part of what is compared)."""
    return dequantized(adapter.index, adapter.tensor_of(name))


def dequantized(index: Any, tensor: str) -> str:
    """``tensor`` after the QuantizeLinear/DequantizeLinear pair that reads it, if any."""
    for q in index.consumers.get(tensor, ()):
        if index.nodes[q].op_type == "QuantizeLinear":
            for d in index.consumers.get(index.nodes[q].output[0], ()):
                if index.nodes[d].op_type == "DequantizeLinear":
                    return index.nodes[d].output[0]
    return tensor
