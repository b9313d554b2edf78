"""ONNX models on onnxruntime: `.onnx` files, protos and their handles.

The public names below load on first use; the modules of this package are its insides."""

from ..lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {"adapter": "OnnxModel OnnxAdapter", "graph": "onnx_to_graph read_onnx_graph", "runtime": "make_session with_outputs", "profile": "profile_model table_from_trace", "external": "ExternalData", "loader": "serialized_bytes"})
