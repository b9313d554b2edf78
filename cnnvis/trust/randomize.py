"""Cascading weight re-initialisation (Adebayo et al. 2018) on a copy of the model.

Each generator yields ``(layer name, model)`` once per layer with parameters, from the logits
downwards; the yielded model is one copy that accumulates the randomisation, so stage k has the
top k layers re-initialised. The user's model is never touched.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from ..errors import CnnvisError


def cascade(framework: str, model: Any, seed: int, exported: Any = None) -> Iterator[tuple[str, Any]]:
    """``exported``: the ExportedProgram a ``.pt2`` model was unflattened from (copied through it)."""
    if framework == "torch":
        return _torch_cascade(model, seed, exported)
    if framework == "keras":
        return _keras_cascade(model, seed)
    if framework == "onnx" and hasattr(model, "proto"):
        from .randomize_onnx import onnx_cascade

        return onnx_cascade(model, seed)
    raise CnnvisError(
        f"sanity_check re-initialises weights, which needs a PyTorch, Keras or ONNX model, not a {framework} "
        "one. Run it on the model the deployed file was exported from."
    )


def can_randomise(framework: str) -> tuple[bool, str]:
    """Whether the sanity check can run on a model of this framework, and why not."""
    if framework in ("torch", "keras", "onnx"):
        return True, ""
    return False, (f"a {framework} engine's weights cannot be re-initialised; check the ONNX or PyTorch "
                   "model it was built from")


def count_stages(framework: str, model: Any) -> int:
    if framework == "torch":
        return sum(next(m.parameters(recurse=False), None) is not None for m in model.modules())
    if framework == "onnx":
        from .randomize_onnx import weighted_nodes

        return len(weighted_nodes(model))
    return sum(bool(layer.weights) for layer in leaf_layers(model))


def _torch_cascade(model: Any, seed: int, exported: Any = None) -> Iterator[tuple[str, Any]]:
    import torch

    clone = _torch_copy(torch, model, exported)
    layers = [(name, module) for name, module in clone.named_modules()
              if next(module.parameters(recurse=False), None) is not None]
    for name, module in reversed(layers):
        # fork_rng: seeding must not change the caller's global random stream.
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(seed)
            _torch_reinit(torch, module)
        yield name, clone


def _torch_copy(torch: Any, model: Any, exported: Any) -> Any:
    """A copy with its own weights. An unflattened ``.pt2`` program cannot be deep-copied (its graphs
    hold symbolic shapes): it is unflattened afresh and given copies of every parameter and buffer."""
    try:
        return copy.deepcopy(model)
    except Exception as exc:
        if exported is None:
            raise CnnvisError(f"The sanity check needs a copy of the model to randomise, and this "
                              f"{type(model).__name__} cannot be copied ({type(exc).__name__}); check the "
                              "nn.Module it was exported from instead.") from None
    fresh = torch.export.unflatten(exported)
    for module in fresh.modules():
        for name, param in list(module.named_parameters(recurse=False)):
            setattr(module, name, torch.nn.Parameter(param.detach().clone(), requires_grad=param.requires_grad))
        for name, buffer in list(module.named_buffers(recurse=False)):
            setattr(module, name, buffer.detach().clone())
    return fresh


def _torch_reinit(torch: Any, module: Any) -> None:
    reset = getattr(module, "reset_parameters", None)
    if callable(reset):
        reset()
        return
    # A custom layer without reset_parameters: draw fresh weights on the scale of the old ones.
    for param in module.parameters(recurse=False):
        std = float(param.std()) if param.numel() > 1 else 0.0
        torch.nn.init.normal_(param, 0.0, std or 0.05)


def _keras_cascade(model: Any, seed: int) -> Iterator[tuple[str, Any]]:
    import keras

    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    layers = [layer for layer in leaf_layers(clone) if layer.weights]
    for layer in reversed(layers):
        for variable in layer.weights:
            variable.assign(_keras_initial_value(keras, layer, variable, seed))
        yield layer.name, clone


def leaf_layers(model: Any) -> list[Any]:
    leaves = []
    for layer in model.layers:
        leaves.extend(leaf_layers(layer) if hasattr(layer, "layers") and layer.layers else [layer])
    return leaves


def _keras_initial_value(keras: Any, layer: Any, variable: Any, seed: int) -> Any:
    """A fresh value from the layer's own initializer for this variable (kernel, bias, gamma...)."""
    short = variable.name.split("/")[-1].split(":")[0]
    init = getattr(layer, f"{short}_initializer", None)
    if init is None:
        init = keras.initializers.GlorotUniform() if len(variable.shape) >= 2 else keras.initializers.Zeros()
    config = init.get_config()
    if "seed" in config:
        init = type(init).from_config({**config, "seed": seed})
    return init(tuple(variable.shape), dtype=variable.dtype)
