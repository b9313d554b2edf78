"""Kinds of compute layer, told from a layer's type text whatever the framework named it
(``Convolution``, ``Conv``, ``Conv2d``; ``Gemm``, ``Linear``, ``MatrixMultiply``), so two models
can be aligned by the k-th convolution, the k-th pooling, ..."""

from __future__ import annotations

# First token found in the lower-cased type text wins; the framework-specific ones come last so
# they never change what an engine layer was called before.
CATEGORIES = (("deconv", "deconvolution"), ("conv", "convolution"), ("pool", "pooling"), ("softmax", "softmax"),
              ("matrixmultiply", "matmul"), ("gemm", "matmul"), ("myelin", "subgraph"), ("scale", "scale"),
              ("pointwise", "pointwise"), ("elementwise", "elementwise"), ("shuffle", "shuffle"),
              ("resize", "resize"), ("nms", "nms"), ("padding", "padding"), ("reduce", "reduce"),
              ("matmul", "matmul"), ("linear", "matmul"), ("dense", "matmul"))
COMPUTE = ("deconvolution", "convolution", "matmul", "pooling")  # the kinds that align two models


def category_of(text: str, default: str = "layer") -> str:
    """The kind of layer ``text`` (its type, and any parameter type) names."""
    lowered = text.lower()
    if "convtranspose" in lowered:  # ONNX and torch spell a deconvolution this way
        return "deconvolution"
    for token, category in CATEGORIES:
        if token in lowered:
            return category
    return default
