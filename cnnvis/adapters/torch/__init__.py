"""PyTorch: nn.Modules, TorchScript, torch.export programs and `.pt2` / `.pt` files.

The public names below load on first use; the modules of this package are its insides."""

from ..lazy import lazy_exports

_EXPORTS = {
    "TorchAdapter": "adapter",
    "build_graph": "graph",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
