"""Keras 3 models and `.keras` / `.h5` files.

The public names below load on first use; the modules of this package are its insides."""

from ..lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {"adapter": "KerasAdapter", "graph": "build_graph", "calls": "layer_index", "loader": "import_triton_before_tensorflow"})
