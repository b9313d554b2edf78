"""PyTorch: nn.Modules, TorchScript, torch.export programs and `.pt2` / `.pt` files.

The public names below load on first use; the modules of this package are its insides."""

from ..lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {"adapter": "TorchAdapter", "graph": "build_graph"})
