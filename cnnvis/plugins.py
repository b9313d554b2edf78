"""The plugin manager: built-in plugins first, then every ``cnnvis`` entry point."""

from __future__ import annotations

import functools
import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pluggy

from . import hookspecs

# Built-in plugins go through the very same hooks as third-party ones.
BUILTIN_PLUGINS = (
    "cnnvis.cam.methods",
    "cnnvis.cam.family",
    "cnnvis.adapters.torch.adapter",
    "cnnvis.adapters.torch.loader",
    "cnnvis.adapters.keras.adapter",
    "cnnvis.adapters.keras.loader",
    "cnnvis.adapters.tensorrt.adapter",
    "cnnvis.adapters.onnx.adapter",
    "cnnvis.architectures.vit",
    "cnnvis.architectures.swin",
    "cnnvis.architectures.mixer",
    "cnnvis.architectures.dense",
    "cnnvis.architectures.keras_convnext",
)


@dataclass(frozen=True)
class Architecture:
    """What a plugin can tell about an architecture cnnvis does not know by itself.

    ``layer``: the default CAM layer. ``reshape``: a function turning that layer's output (a
    framework tensor, e.g. ViT tokens ``(N, 1 + h*w, C)``) into channels-first ``(N, C, h, w)``.
    ``layout``: a function of a layer name returning ``"NCHW"``, ``"NHWC"`` or None (let cnnvis
    tell from how the tensor is produced and consumed) for layers whose output is already 4-D.
    """

    layer: str | None = None
    reshape: Callable[[Any], Any] | None = None
    layout: Callable[[str], str | None] | None = None


@functools.lru_cache(maxsize=1)
def plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("cnnvis")
    pm.add_hookspecs(hookspecs)
    for name in BUILTIN_PLUGINS:
        if importlib.util.find_spec(name) is not None:  # adapters arrive one framework at a time
            pm.register(importlib.import_module(name), name=name)
    pm.load_setuptools_entrypoints("cnnvis")
    return pm


def hook() -> Any:
    return plugin_manager().hook
