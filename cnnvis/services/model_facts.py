"""What the views need to know about a model before asking it anything: the layers a request may
name, what it can do (with the reason where it cannot), how its example inputs look (so a picture
the user picks is prepared the same way), and class names where the model implies them."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..imaging import normalisation_from

CAPABILITIES = ("explain", "activations", "evidence", "gradients", "attribute", "concepts")

NO_WEIGHTS = ("A TensorRT engine holds no weights: it has no activations or maps. Explain the ONNX model it was "
              "built from (gradient-free methods: eigencam, scorecam, ablationcam); the Engine tab shows its "
              "layers and timings.")

IMAGENET_CLASSES = 1000


def layer_list(adapter: Any) -> list[str] | None:
    """Every name a CAM or activations request may use, or None where the adapter cannot say."""
    try:
        return [str(name) for name in adapter.layer_names()]
    except Exception:  # an engine without layers to observe: the views fall back to the graph
        return None


def capabilities(adapter: Any) -> dict:
    """``{explain, activations, evidence: bool, reasons: {name: why not}}``."""
    reasons: dict[str, str] = {}
    if adapter.framework == "tensorrt":
        reasons["explain"] = reasons["activations"] = NO_WEIGHTS
        reasons["concepts"] = NO_WEIGHTS
    blocked = _evidence_blocker(adapter)
    if blocked:
        reasons["evidence"] = blocked
    if not getattr(adapter, "supports_gradients", True) or not hasattr(adapter, "input_gradients"):
        reasons["gradients"] = reasons["attribute"] = (
            f"{adapter.framework} models have no gradients (their runtime only runs forward): use a gradient-free "
            "method, or explain the PyTorch/Keras model it was exported from.")
    return {**{name: name not in reasons for name in CAPABILITIES}, "reasons": reasons}


def _evidence_blocker(adapter: Any) -> str | None:
    """Why the sanity check (it re-initialises a copy of the weights) cannot run, or None."""
    framework = adapter.framework
    if framework not in ("torch", "keras"):
        return (f"Evidence re-initialises the weights of a copy of the model, which needs a PyTorch or Keras "
                f"model, not a {framework} one: check the model the deployed file was exported from.")
    if framework == "torch" and getattr(adapter, "exported", None) is not None:
        return ("This model was opened from a torch.export program (.pt2), which cannot be copied to randomise "
                "its weights: check evidence on the nn.Module it was exported from.")
    return None


def input_spec(adapter: Any, inputs: Any, display: dict) -> dict | None:
    """Layout and value scale of the example inputs: the model's mean/std where known, else their range."""
    if inputs is None:
        return None
    nchw = np.asarray(adapter.inputs_nchw(inputs))
    channels_last = adapter.framework == "keras" or getattr(adapter, "input_layout", None) == "NHWC"
    try:
        norm = normalisation_from(display.get("preprocess"), display.get("mean"), display.get("std"))
    except Exception:  # explain reports a bad normalisation itself, with its own message
        norm = None
    finite = nchw[np.isfinite(nchw)] if nchw.size else nchw
    value_range = [float(finite.min()), float(finite.max())] if finite.size else None
    return {"layout": "nhwc" if channels_last else "nchw",
            "mean": list(norm[0]) if norm else None, "std": list(norm[1]) if norm else None,
            "range": value_range}


def default_class_names(adapter: Any) -> list[str] | None:
    """ImageNet's class names for a torchvision classifier with 1000 outputs (torchvision's weights
    metadata carries them: nothing is downloaded), else None."""
    if adapter.framework != "torch":
        return None
    model = adapter.model
    if not type(model).__module__.startswith("torchvision.models") or _outputs(model) != IMAGENET_CLASSES:
        return None
    try:
        from torchvision.models import ResNet18_Weights
    except ImportError:
        return None
    return list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def _outputs(model: Any) -> int | None:
    """The width of the classifier head: the last Linear layer's outputs."""
    import torch

    last = None
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            last = module
    return None if last is None else int(last.out_features)
