"""A Keras model (functional or Sequential) as a side of ``compare``: its layers in model order,
the dataflow from their inbound nodes, a BatchNormalization reading only a convolution folded into
it, outputs read through one sub-model per set of layers and turned channels-first."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import CnnvisError
from .categories import category_of
from .layers import Layer, Side

_NORMS = ("BatchNormalization",)
_ACTIVATIONS = ("ReLU", "Activation")


class KerasSide(Side):
    framework = "keras"

    def __init__(self, label: str, handle: Any, adapter: Any):
        super().__init__(label, handle, adapter)
        self.model = adapter.model
        if not getattr(self.model, "inputs", None):
            raise CnnvisError(f"compare reads the layers of functional and Sequential Keras models; {label!r} "
                              "is a subclassed model. Build it functionally, or export it to ONNX.")
        self._readers: dict[tuple, Any] = {}
        self.layers = self._layers()

    def _layers(self) -> list[Layer]:
        layers: list[Layer] = []
        owner: dict[str, str] = {}
        for layer in self.model.layers:
            kind = type(layer).__name__
            if kind == "InputLayer":
                continue
            inbound = _inbound(layer)
            previous = layers[-1] if layers else None
            if kind in _NORMS and previous and previous.op_type.startswith("Conv") and inbound == [previous.probe] \
                    and _readers_of(self.model.get_layer(previous.probe)) == 1:
                previous.keys, previous.probe = (*previous.keys, layer.name), layer.name
                owner[layer.name] = previous.name
                continue
            owner[layer.name] = layer.name
            upstream = tuple(dict.fromkeys(owner[n] for n in inbound if n in owner))
            if previous and not upstream and inbound:
                upstream = (previous.name,)
            layers.append(Layer(layer.name, kind, category_of(kind, "other"), (layer.name,), layer.name, upstream))
        for layer in layers:
            layer.after = self._activation_after(layer.probe)
        return layers

    def _activation_after(self, name: str) -> list[tuple[tuple[str, ...], Any]]:
        readers = [n for n in self.model.layers if name in _inbound(n)]
        if len(readers) == 1 and type(readers[0]).__name__ in _ACTIVATIONS:
            return [((readers[0].name,), readers[0].name)]
        return []

    def read(self, batch: Any, probes: list[Any]) -> tuple[np.ndarray, list[np.ndarray]]:
        key = tuple(probes)
        if key not in self._readers:
            import keras

            outputs = [self.model.get_layer(p).output for p in probes]
            self._readers[key] = keras.Model(self.model.inputs, [*outputs, self.model.outputs[0]])
        import keras

        values = [np.asarray(keras.ops.convert_to_numpy(v)) for v in self._readers[key](batch, training=False)]
        return values[-1], [self._channels_first(v, p) for v, p in zip(values[:-1], probes, strict=True)]

    def _channels_first(self, value: np.ndarray, name: str) -> np.ndarray:
        layout = getattr(self.model.get_layer(name), "data_format", "channels_last")
        return value.transpose(0, 3, 1, 2) if value.ndim == 4 and layout != "channels_first" else value


def _inbound(layer: Any) -> list[str]:
    """Names of the layers whose outputs ``layer`` reads (Keras 3 nodes)."""
    names = []
    for node in getattr(layer, "_inbound_nodes", []):
        for parent in getattr(node, "parent_nodes", []):
            operation = getattr(parent, "operation", None)
            if operation is not None and type(operation).__name__ != "InputLayer":
                names.append(operation.name)
    return names


def _readers_of(layer: Any) -> int:
    return len(getattr(layer, "_outbound_nodes", []))
