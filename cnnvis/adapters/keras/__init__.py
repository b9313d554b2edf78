"""Keras 3 models and `.keras` / `.h5` files.

The public names below load on first use; the modules of this package are its insides."""

from ..lazy import lazy_exports

_EXPORTS = {
    "KerasAdapter": "adapter",
    "build_graph": "graph",
    "layer_index": "calls",
    "import_triton_before_tensorflow": "loader",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
