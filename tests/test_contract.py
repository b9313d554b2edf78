"""Every public name users touch stays where the contract and the docs put it."""

from __future__ import annotations

import importlib

import pytest

import cnnvis

PYTHON_API = (
    "explain", "activations", "graph", "load", "show", "profile", "batch", "faithfulness", "sanity_check",
    "compare_engines", "compare_precision", "read_scalars", "read_tegrastats", "compare", "quantize",
    "attribute", "concepts", "Concepts",
    "Explanation", "Graph", "Architecture", "hookimpl",
    "CnnvisError", "CancelledError", "InputShapeError", "NonSpatialLayerError", "TargetError",
    "UnknownLayerError", "UnknownMethodError", "UnsafeFileError", "UnsupportedFileError", "UnsupportedModelError",
)
# Names plugin authors and benchmarks import from the framework packages.
ADAPTER_NAMES = {
    "cnnvis.adapters": ("LayerPass", "ModelAdapter", "resolve_adapter"),
    "cnnvis.adapters.torch": ("TorchAdapter", "build_graph"),
    "cnnvis.adapters.keras": ("KerasAdapter", "build_graph", "layer_index", "import_triton_before_tensorflow"),
    "cnnvis.adapters.onnx": ("OnnxModel", "OnnxAdapter", "onnx_to_graph", "read_onnx_graph", "make_session",
                             "with_outputs", "profile_model", "table_from_trace"),
    "cnnvis.adapters.tensorrt": ("TensorRTExport", "read_export", "export_graph", "paint_source",
                                 "parse_layer_name", "op_type", "LayerName"),
}


@pytest.mark.parametrize("name", PYTHON_API)
def test_python_api_name(name):
    assert getattr(cnnvis, name) is not None
    assert name in cnnvis.__all__ or name in dir(cnnvis)


def test_structured_targets_stay_in_cnnvis_targets():
    assert cnnvis.targets.Detection and cnnvis.targets.Segmentation


@pytest.mark.parametrize("module", sorted(ADAPTER_NAMES))
def test_adapter_package_names(module):
    package = importlib.import_module(module)
    missing = [n for n in ADAPTER_NAMES[module] if getattr(package, n, None) is None]
    assert missing == []


def test_unknown_adapter_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        importlib.import_module("cnnvis.adapters.onnx").nothing_here  # noqa: B018
