"""The array operations the CAM engine needs, for numpy and for torch (on the model's device).

``xp`` is the Array API namespace of the arrays (``array_api_compat``): methods write their weights
with it (``xp.mean``, ``xp.sum``, ``xp.maximum``, ``xp.where``, ``xp.exp``...) and run unchanged on
numpy and on torch tensors on any device. The few operations the standard lacks (weighted sum over
channels, bilinear resizes, moving to and from the host) are the methods of ``ArrayOps``.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

# pytorch-grad-cam's epsilon in ``scale_cam_image``.
MINMAX_EPS = 1e-7


class ArrayOps:
    """numpy: the path of Keras, ONNX and TensorRT models (and of any array that is not a tensor)."""

    kind = "numpy"

    def __init__(self) -> None:
        import array_api_compat.numpy as xp

        self.xp = xp
        self.device = "cpu"

    def asarray(self, array: Any) -> Any:
        """``array`` (numpy, a tensor or a list) as a float32 array of this kind."""
        if hasattr(array, "detach"):  # a torch tensor handed back by a method
            array = array.detach().cpu().numpy()
        return np.asarray(array, dtype=np.float32)

    def to_host(self, array: Any) -> np.ndarray:
        """A float32 numpy copy-or-view, whatever the array's kind."""
        if hasattr(array, "detach"):
            return array.detach().float().cpu().numpy()
        return np.asarray(array, dtype=np.float32)

    def weighted_sum(self, weights: Any, activations: Any) -> Any:
        """``(N, C)`` or ``(N, C, h, w)`` weights times ``(N, C, h, w)`` activations, summed over C."""
        if weights.ndim == 2:
            return np.einsum("nc,nchw->nhw", weights, activations, optimize=True)
        return (weights * activations).sum(axis=1)

    def relu(self, maps: Any) -> Any:
        return np.maximum(maps, 0)

    def concat(self, arrays: list) -> Any:
        return np.concatenate(arrays)

    def index(self, indices: Any) -> Any:
        """Integer indices (numpy) usable to index arrays of this kind."""
        return np.asarray(indices)

    def nchw(self, adapter: Any, inputs: Any) -> Any:
        """The prepared inputs as a channels-first float32 array of this kind."""
        return self.asarray(adapter.inputs_nchw(inputs))

    def minmax(self, maps: Any) -> Any:
        from ..imaging import minmax

        return minmax(maps)

    def resize(self, maps: Any, height: int, width: int) -> Any:
        """Bilinear resize of ``(N, h, w)`` with half-pixel centres (OpenCV's INTER_LINEAR)."""
        from ..imaging import resize_maps

        return resize_maps(maps, height, width)

    def upsample_align_corners(self, maps: Any, height: int, width: int) -> Any:
        """Bilinear upsampling of ``(C, h, w)`` with aligned corners (torch's UpsamplingBilinear2d)."""
        from ..imaging import upsample_align_corners

        return upsample_align_corners(maps, height, width)


class TorchOps(ArrayOps):
    """torch tensors on the model's device: nothing leaves it until ``to_host``."""

    kind = "torch"

    def __init__(self, device: Any) -> None:
        import array_api_compat.torch as xp
        import torch

        self.torch = torch
        self.xp = xp
        self.device = device

    def asarray(self, array: Any) -> Any:
        torch = self.torch
        if isinstance(array, torch.Tensor):
            return array.to(device=self.device, dtype=torch.float32)
        return torch.as_tensor(np.asarray(array, dtype=np.float32), device=self.device)

    def weighted_sum(self, weights: Any, activations: Any) -> Any:
        if weights.ndim == 2:  # a batched matrix product, not a (N, C, h, w) temporary
            n, c = weights.shape
            flat = activations.reshape(n, c, -1)
            return self.torch.bmm(weights[:, None, :], flat).reshape(n, *activations.shape[2:])
        return (weights * activations).sum(dim=1)

    def relu(self, maps: Any) -> Any:
        return self.torch.clamp_min(maps, 0)

    def concat(self, arrays: list) -> Any:
        return self.torch.cat(arrays)

    def index(self, indices: Any) -> Any:
        return self.torch.as_tensor(np.asarray(indices), device=self.device)

    def nchw(self, adapter: Any, inputs: Any) -> Any:
        # A torch adapter's prepared batch is already (N, C, H, W) on the device: no trip to the host.
        if isinstance(inputs, self.torch.Tensor) and inputs.ndim == 4:
            return inputs.to(self.torch.float32)
        return self.asarray(adapter.inputs_nchw(inputs))

    def minmax(self, maps: Any) -> Any:
        flat = maps.reshape(len(maps), -1)
        shifted = flat - flat.amin(dim=1, keepdim=True)
        return (shifted / (MINMAX_EPS + shifted.amax(dim=1, keepdim=True))).reshape(maps.shape)

    def resize(self, maps: Any, height: int, width: int) -> Any:
        # align_corners=False is OpenCV's INTER_LINEAR (half-pixel centres), without its channel limit.
        if tuple(maps.shape[1:]) == (height, width):
            return maps.clone()
        resized = self.torch.nn.functional.interpolate(
            maps[:, None], size=(height, width), mode="bilinear", align_corners=False)
        return resized[:, 0]

    def upsample_align_corners(self, maps: Any, height: int, width: int) -> Any:
        resized = self.torch.nn.functional.interpolate(
            maps[None], size=(height, width), mode="bilinear", align_corners=True)
        return resized[0]


def ops_for(array: Any) -> ArrayOps:
    """The ops of ``array``'s kind: ``TorchOps`` on its device for a torch tensor, numpy otherwise."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(array, torch.Tensor):
        return TorchOps(array.device)
    return ArrayOps()
