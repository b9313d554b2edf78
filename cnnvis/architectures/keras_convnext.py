"""ConvNeXt in Keras (``keras.applications.ConvNeXtTiny`` ... ``ConvNeXtXLarge``, or alike).

Structure looked for: a 4x4 stride-4 patchifying stem convolution, then blocks of depthwise 7x7
convolution, LayerNormalization and two Dense layers over channels (channels-last throughout, as
Keras is). Each block ends in a residual addition that is an operation, not a layer, so the last
block's output is addressed as the input of the head's global pooling: ``<pooling>:input``.
"""

from __future__ import annotations

import sys
from typing import Any

from ..hookspecs import hookimpl
from ..plugins import Architecture


@hookimpl
def cnnvis_architecture(model: Any, framework: str) -> Any:
    if framework != "keras" or "keras" not in sys.modules:
        return None
    layer = default_layer(model)
    return Architecture(layer=layer) if layer else None


def default_layer(model: Any) -> str | None:
    import keras

    from ..adapters.keras import layer_index

    layers = layer_index(model)
    kinds = [type(layer) for layer in layers.values()]
    depthwise = sum(1 for layer in layers.values() if _is_depthwise_7(layer, keras))
    dense = sum(1 for k in kinds if issubclass(k, keras.layers.Dense))
    norms = sum(1 for k in kinds if issubclass(k, keras.layers.LayerNormalization))
    if not (_has_patch_stem(layers.values(), keras) and depthwise and dense >= 2 * depthwise
            and norms >= depthwise):
        return None
    pools = [path for path, layer in layers.items() if isinstance(layer, keras.layers.GlobalAveragePooling2D)]
    return f"{pools[-1]}:input" if pools else None


def _is_depthwise_7(layer: Any, keras: Any) -> bool:
    is_depthwise = isinstance(layer, keras.layers.DepthwiseConv2D) or (
        isinstance(layer, keras.layers.Conv2D) and getattr(layer, "groups", 1) > 1)
    return is_depthwise and tuple(layer.kernel_size) == (7, 7)


def _has_patch_stem(layers: Any, keras: Any) -> bool:
    return any(isinstance(layer, keras.layers.Conv2D) and tuple(layer.kernel_size) == (4, 4)
               and tuple(layer.strides) == (4, 4) for layer in layers)
