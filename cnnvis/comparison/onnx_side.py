"""An ONNX model (onnxruntime) as a side of ``compare``: every float node is a layer, a
BatchNormalization folded into the Conv before it, QuantizeLinear/DequantizeLinear read through."""

from __future__ import annotations

import ast
from typing import Any

import numpy as np

from .categories import category_of
from .layers import Layer, Side, nearest
from .onnx_nodes import FLOAT_TYPES, FOLDED_ACTIVATIONS, dequantized

# Nodes that move or describe data rather than compute it: never rows of a comparison.
_PLUMBING = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "Constant", "Identity", "Shape",
             "ConstantOfShape", "Cast", "Gather", "Unsqueeze", "Squeeze", "Range", "Size"}
_NORMS = {"BatchNormalization"}


class OnnxSide(Side):
    framework = "onnx"

    def __init__(self, label: str, handle: Any, adapter: Any):
        super().__init__(label, handle, adapter)
        self.index = adapter.index
        self.layouts = adapter.model.layouts
        self._owner: dict[int, str] = {}  # node position -> the layer it belongs to
        self.layers = self._layers()

    def _layers(self) -> list[Layer]:
        index, layers = self.index, []
        for i, (node_id, node) in enumerate(zip(index.node_ids, index.nodes, strict=True)):
            if node.op_type in _PLUMBING or not node.output or not node.output[0]:
                continue
            if index.elem_type(node.output[0]) not in FLOAT_TYPES:
                continue
            if node.op_type in _NORMS and layers and self._folds_into(i, layers[-1]):
                continue
            self._owner[i] = node_id
            layers.append(Layer(node_id, node.op_type, category_of(node.op_type, "other"), _keys(node_id, node),
                                dequantized(index, node.output[0])))
        for layer in layers:
            position = index.node_ids.index(layer.name)
            layer.upstream = nearest([position], self._producers_of_inputs, self._layer_at(position))
            layer.after = self._activations_after(layer.probe)
        return layers

    def _folds_into(self, position: int, previous: Layer) -> bool:
        """A normalization that reads only the previous Conv's output: compared as part of it."""
        node = self.index.nodes[position]
        conv = self.index.nodes[self.index.node_ids.index(previous.name)]
        if previous.op_type != "Conv" or node.input[0] != conv.output[0]:
            return False
        if len(self.index.consumers.get(conv.output[0], ())) != 1:
            return False
        self._owner[position] = previous.name
        previous.keys = (*previous.keys, *_keys(self.index.node_ids[position], node))
        previous.probe = dequantized(self.index, node.output[0])
        return True

    def _producers_of_inputs(self, position: int) -> list[int]:
        return [self.index.producer[t] for t in self.index.nodes[position].input if t in self.index.producer]

    def _layer_at(self, start: int) -> Any:
        def is_layer(position: int) -> str | None:
            return None if position == start else self._owner.get(position)
        return is_layer

    def _activations_after(self, tensor: str) -> list[tuple[tuple[str, ...], Any]]:
        """Relu/Clip nodes that alone read ``tensor`` (one after the other)."""
        chain = []
        while len(self.index.consumers.get(tensor, ())) == 1:
            position = self.index.consumers[tensor][0]
            node = self.index.nodes[position]
            if node.op_type not in FOLDED_ACTIVATIONS:
                break
            tensor = dequantized(self.index, node.output[0])
            chain.append((_keys(self.index.node_ids[position], node), tensor))
        return chain

    def read(self, batch: Any, probes: list[Any]) -> tuple[np.ndarray, list[np.ndarray]]:
        score = self.adapter.score
        wanted = list(dict.fromkeys([score, *probes]))
        values = dict(zip(wanted, self.adapter.node_outputs(batch, wanted).values(), strict=True))
        return np.asarray(values[score]), [self._channels_first(values[p], p) for p in probes]

    def _channels_first(self, value: np.ndarray, tensor: str) -> np.ndarray:
        if value.ndim == 4 and self.layouts.get(tensor) == "NHWC":
            return value.transpose(0, 3, 1, 2)
        return value


def _keys(node_id: str, node: Any) -> tuple[str, ...]:
    """The node's own name, and the module path its exporter recorded: ``/layer1/layer1.0/conv1/Conv``
    (TorchScript exporter) or the ``name_scopes`` metadata (dynamo exporter) -> ``layer1.0.conv1``."""
    keys = [node_id]
    for prop in getattr(node, "metadata_props", ()):
        if prop.key == "pkg.torch.onnx.name_scopes":
            try:
                scopes = [s for s in ast.literal_eval(prop.value)[:-1] if s]
            except (ValueError, SyntaxError):
                scopes = []
            if scopes:
                keys.append(scopes[-1])
    if node_id.startswith("/") and node_id.count("/") >= 2:
        keys.append(_module_path(node_id.strip("/").split("/")[:-1]))
    return tuple(dict.fromkeys(k for k in keys if k))


def _module_path(parts: list[str]) -> str:
    """``['layer2', 'layer2.0', 'downsample', 'downsample.0']`` -> ``layer2.0.downsample.0``: a part
    that extends the one before it (``layer2`` -> ``layer2.0``) replaces it."""
    path: list[str] = []
    for part in parts:
        if path and part.startswith(path[-1] + "."):
            path[-1] = part
        else:
            path.append(part)
    return ".".join(path)
