"""TensorRT engines read from their exports (layer info, profiles, trtexec logs); live engines where TensorRT exists.

The public names below load on first use; the modules of this package are its insides."""

from ..lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {"export": "TensorRTExport read_export export_graph", "map": "paint_source", "names": "parse_layer_name op_type LayerName"})
