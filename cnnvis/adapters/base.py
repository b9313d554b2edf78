"""The one protocol every framework adapter implements.

Arrays cross this boundary as numpy, channels-first: activations and gradients ``(N, C, h, w)``,
batches handed back for scoring ``(N, C, H, W)``. The CAM engine never sees a framework tensor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import UnsupportedModelError

# A target as adapters receive it: one class index per input, or a callable on the model output.
Target = Sequence[int] | Callable[[Any], Any]


@dataclass
class LayerPass:
    """What one forward (and optionally backward) pass to a layer gives the CAM engine."""

    outputs: np.ndarray  # (N, classes) pre-softmax scores
    activations: np.ndarray  # (N, C, h, w)
    gradients: np.ndarray | None  # d(target score)/d(activations), same shape, or None
    targets: list[int] | None  # the class index per input, None for callable targets


@runtime_checkable
class ModelAdapter(Protocol):
    framework: str
    model: Any

    def layer_names(self) -> list[str]:
        """Every addressable layer name, in model order."""

    def default_layer(self, inputs: Any) -> str:
        """The last layer whose output is 4-D with H*W > 1 (outermost module producing it)."""

    def prepare_inputs(self, inputs: Any) -> Any:
        """Validate and convert user inputs to the framework's batch; raise InputShapeError."""

    def inputs_nchw(self, inputs: Any) -> np.ndarray:
        """The prepared inputs as a channels-first float32 numpy array."""

    def take(self, inputs: Any, indices: Sequence[int]) -> Any:
        """The prepared batch's rows ``indices``, as a prepared batch."""

    def layer_pass(self, inputs: Any, layer: str, target: Target | None, gradients: bool) -> LayerPass:
        """Forward to ``layer``; with ``gradients`` also d(score)/d(layer output) and nothing else."""

    def target_scores(self, batch_nchw: np.ndarray, target: Target) -> np.ndarray:
        """Pre-softmax target scores ``(N,)`` for a channels-first batch (no gradients)."""

    def target_scores_with_layer(
        self, inputs: Any, layer: str, layer_output: np.ndarray, target: Target
    ) -> np.ndarray:
        """Target scores ``(N,)`` when ``layer`` outputs ``layer_output`` (N, C, h, w) instead."""

    def activations(self, inputs: Any, layers: Sequence[str] | None) -> dict[str, np.ndarray]:
        """``{layer: (N, C, H, W)}`` for the given layers, or every layer with a 4-D output."""

    def graph(self, example_inputs: Any = None) -> Any:
        """The model's ``cnnvis.Graph``."""


def resolve_adapter(model: Any) -> ModelAdapter:
    """The adapter the plugins offer for ``model`` (first non-None answer wins)."""
    from ..plugins import hook

    if isinstance(model, ModelAdapter):
        return model
    adapter = hook().cnnvis_adapter(model=model)
    if adapter is None and hasattr(model, "framework") and hasattr(model, "model"):
        adapter = hook().cnnvis_adapter(model=model.model)  # a LoadedModel wrapping a native model
    if adapter is None:
        raise UnsupportedModelError(
            f"cnnvis has no adapter for {type(model).__module__}.{type(model).__qualname__}. "
            "Pass a torch.nn.Module, a keras.Model or a handle from cnnvis.load(), "
            "or install a plugin that provides the cnnvis_adapter hook for this kind of model."
        )
    return adapter
