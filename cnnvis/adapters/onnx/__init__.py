"""ONNX models on onnxruntime: `.onnx` files, protos and their handles.

The public names below load on first use; the modules of this package are its insides."""

from ..lazy import lazy_exports

_EXPORTS = {
    "OnnxModel": "adapter",
    "OnnxAdapter": "adapter",
    "onnx_to_graph": "graph",
    "read_onnx_graph": "graph",
    "make_session": "runtime",
    "with_outputs": "runtime",
    "profile_model": "profile",
    "table_from_trace": "profile",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
