"""TensorRT engines read from their exports (layer info, profiles, trtexec logs); live engines where TensorRT exists.

The public names below load on first use; the modules of this package are its insides."""

from ..lazy import lazy_exports

_EXPORTS = {
    "TensorRTExport": "export",
    "read_export": "export",
    "export_graph": "export",
    "paint_source": "map",
    "parse_layer_name": "names",
    "op_type": "names",
    "LayerName": "names",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
