"""cnnvis: see inside convolutional networks — graphs, activations, CAM heatmaps, training curves.

Importing cnnvis imports no deep-learning framework; adapters load theirs when first used.
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import (
    CancelledError,
    CnnvisError,
    InputShapeError,
    NonSpatialLayerError,
    TargetError,
    UnknownLayerError,
    UnknownMethodError,
    UnsafeFileError,
    UnsupportedFileError,
    UnsupportedModelError,
)
from .hookspecs import hookimpl

__version__ = "0.1.0"

# Public names resolved on first use, so `import cnnvis` stays light.
_LAZY = {
    "explain": "cnnvis.api",
    "activations": "cnnvis.api",
    "graph": "cnnvis.api",
    "load": "cnnvis.api",
    "Explanation": "cnnvis.explanation",
    "Graph": "cnnvis.graph_model",
    "LoadedModel": "cnnvis.handles",
    "Architecture": "cnnvis.plugins",
    "CAMMethod": "cnnvis.cam.engine",
    "available_methods": "cnnvis.cam.engine",
    "Series": "cnnvis.scalars",
    "read_scalars": "cnnvis.scalars",
    "ScalarTail": "cnnvis.scalars",
    "downsample": "cnnvis.scalars",
    "smooth": "cnnvis.scalars",
    "health_alerts": "cnnvis.scalars",
    "read_histograms": "cnnvis.scalars",
    "read_images": "cnnvis.scalars",
    "show": "cnnvis.notebook",
    "read_tegrastats": "cnnvis.jetson",
    "compare_engines": "cnnvis.engines",
    "profile": "cnnvis.profiling",
    "compare_precision": "cnnvis.precision",
    "sanity_check": "cnnvis.trust",
    "faithfulness": "cnnvis.trust",
    "SanityReport": "cnnvis.trust",
    "FaithfulnessResult": "cnnvis.trust",
    "batch": "cnnvis.batching",
    "attribute": "cnnvis.attribution",
    "concepts": "cnnvis.attribution.concepts",
    "Concepts": "cnnvis.attribution.concepts",
    "BatchResult": "cnnvis.batching",
    "compare": "cnnvis.comparison",
    "quantize": "cnnvis.comparison",
}

__all__ = [
    "CancelledError", "CnnvisError", "InputShapeError", "NonSpatialLayerError", "TargetError",
    "UnknownLayerError", "UnknownMethodError", "UnsafeFileError", "UnsupportedFileError",
    "UnsupportedModelError", "hookimpl", *_LAZY,
]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext cnnvis``: registers the ``%cnnvis`` magic."""
    from .notebook.magic import register_magic

    register_magic(ipython)


def _jupyter_labextension_paths() -> list[dict]:
    """The prebuilt JupyterLab extension (``jupyter labextension develop`` links it)."""
    return [{"src": "labextension", "dest": "cnnvis"}]


def _jupyter_server_extension_points() -> list[dict]:
    from .server.app import CnnvisExtension

    return [{"module": "cnnvis.server.app", "app": CnnvisExtension}]


# Public submodules imported on first use: ``cnnvis.targets.Segmentation(...)``.
_SUBMODULES = ("targets", "outputs")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"cnnvis.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cnnvis' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))
