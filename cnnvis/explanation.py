"""The result of ``cnnvis.explain``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import CnnvisError
from .imaging import blend, colorize, to_display_images


@dataclass
class Explanation:
    """CAM maps for a batch, with what produced them.

    ``maps`` (N, H, W) float32 in [0, 1] at input resolution; ``raw`` (N, h, w) the weighted sum
    before ReLU at the layer's resolution; ``outputs`` (N, classes) pre-softmax scores.
    """

    maps: np.ndarray
    raw: np.ndarray
    layer: str
    targets: list[int] | None
    outputs: np.ndarray
    method: str
    class_names: Sequence[str] | None = None
    inputs_nchw: np.ndarray | None = field(default=None, repr=False)
    normalisation: tuple | None = field(default=None, repr=False)
    device: str = "cpu"  # where the maps were computed (a torch device, or "cpu" for numpy models)
    kept: tuple | None = field(default=None, repr=False)  # (maps, raw) as computed, when asked to keep

    def tensors(self) -> tuple[Any, Any]:
        """``(maps, raw)`` as the engine computed them: torch tensors on the model's device for torch
        models (to feed back into training without a copy), numpy for the others.
        Needs ``explain(..., as_tensor=True)``, which keeps them."""
        if self.kept is None:
            raise CnnvisError("This explanation kept no tensors; call cnnvis.explain(..., as_tensor=True).")
        return self.kept

    @property
    def target_names(self) -> list[str] | None:
        if self.targets is None:
            return None
        return [self.label(t) for t in self.targets]

    def label(self, index: int) -> str:
        if self.class_names is not None and 0 <= index < len(self.class_names):
            return str(self.class_names[index])
        return str(index)

    def top_k(self, k: int = 5) -> list[list[tuple[int, str, float]]]:
        """Per input, the ``k`` best classes as ``(index, name, pre-softmax score)``."""
        order = np.argsort(-self.outputs, axis=1)[:, :k]
        return [[(int(c), self.label(int(c)), float(row[c])) for c in best]
                for row, best in zip(self.outputs, order, strict=True)]

    def images(self) -> np.ndarray:
        """The inputs as uint8 RGB ``(N, H, W, 3)``, de-normalised with what ``explain`` was told."""
        if self.inputs_nchw is None:
            raise CnnvisError("This explanation kept no inputs; pass images= to overlay().")
        return to_display_images(self.inputs_nchw, self.normalisation)

    def overlay(self, images: Any = None, alpha: float = 0.5, colormap: str = "jet") -> np.ndarray:
        """Heatmaps blended over the images: uint8 ``(N, H, W, 3)``."""
        base = self.images() if images is None else np.asarray(images)
        if base.ndim == 3:
            base = base[None]
        return blend(base, colorize(self.maps, colormap), alpha)

    def __repr__(self) -> str:
        return (f"Explanation(method={self.method!r}, layer={self.layer!r}, targets={self.target_names}, "
                f"maps={self.maps.shape})")
