"""Image helpers shared by the CAM engine and the views: resizing, normalising, colouring."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from .errors import CnnvisError

# cv2.resize takes at most this many channels in one call (OpenCV 5: 128).
_CV_MAX_CHANNELS = 128

COLORMAPS = {
    name[len("COLORMAP_"):].lower(): getattr(cv2, name) for name in dir(cv2) if name.startswith("COLORMAP_")
}

# Named input normalisations, so overlays can undo them (mean, std over RGB in [0, 1]).
NAMED_NORMALISATIONS = {
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "tf": ((0.5,), (0.5,)),  # [-1, 1], any number of channels
    "none": ((0.0,), (1.0,)),
}


def minmax(maps: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    """Scale each map of ``(N, h, w)`` to [0, 1] (pytorch-grad-cam's ``scale_cam_image``)."""
    flat = maps.reshape(len(maps), -1)
    shifted = flat - flat.min(axis=1, keepdims=True)
    return (shifted / (eps + shifted.max(axis=1, keepdims=True))).reshape(maps.shape).astype(np.float32)


def resize_maps(maps: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of ``(N, h, w)`` maps with OpenCV (half-pixel centres), batched as channels."""
    maps = np.ascontiguousarray(maps, dtype=np.float32)
    if maps.shape[1:] == (height, width):
        return maps.copy()
    chunks = []
    for start in range(0, len(maps), _CV_MAX_CHANNELS):
        chunk = maps[start:start + _CV_MAX_CHANNELS]
        resized = cv2.resize(np.ascontiguousarray(chunk.transpose(1, 2, 0)), (width, height))
        chunks.append(resized.reshape(height, width, -1).transpose(2, 0, 1))
    return np.ascontiguousarray(np.concatenate(chunks), dtype=np.float32)


def align_corners_matrix(size_out: int, size_in: int) -> np.ndarray:
    """Matrix ``(size_out, size_in)`` of bilinear weights with corners aligned (torch's UpsamplingBilinear2d)."""
    matrix = np.zeros((size_out, size_in), dtype=np.float32)
    if size_in == 1 or size_out == 1:
        matrix[:, 0] = 1.0
        return matrix
    pos = np.arange(size_out, dtype=np.float64) * (size_in - 1) / (size_out - 1)
    lo = np.minimum(np.floor(pos).astype(int), size_in - 2)
    frac = (pos - lo).astype(np.float32)
    rows = np.arange(size_out)
    matrix[rows, lo] = 1.0 - frac
    matrix[rows, lo + 1] += frac
    return matrix


def upsample_align_corners(maps: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear upsampling of ``(C, h, w)`` to ``(C, height, width)`` with aligned corners."""
    rows = align_corners_matrix(height, maps.shape[-2])
    cols = align_corners_matrix(width, maps.shape[-1])
    return np.einsum("Hh,chw,Ww->cHW", rows, maps.astype(np.float32), cols, optimize=True)


def colorize(maps: np.ndarray, colormap: str = "jet") -> np.ndarray:
    """``(N, H, W)`` maps in [0, 1] to ``(N, H, W, 3)`` uint8 RGB with an OpenCV colormap."""
    try:
        code = COLORMAPS[str(colormap).lower()]
    except KeyError:
        raise CnnvisError(
            f"Unknown colormap {colormap!r}; choose one of {', '.join(sorted(COLORMAPS))}."
        ) from None
    scaled = np.uint8(np.clip(maps, 0.0, 1.0) * 255)
    return np.stack([cv2.applyColorMap(m, code)[..., ::-1] for m in scaled])


def blend(images: np.ndarray, heat: np.ndarray, alpha: float) -> np.ndarray:
    """Alpha-blend uint8 RGB ``heat`` over ``images`` (uint8, or float in [0, 1])."""
    try:
        alpha = float(alpha)
    except (TypeError, ValueError):
        raise CnnvisError(f"alpha must be a number in [0, 1], got {alpha!r}.") from None
    if not 0.0 <= alpha <= 1.0:
        raise CnnvisError(f"alpha must be in [0, 1], got {alpha}.")
    base = images.astype(np.float32)
    if images.dtype != np.uint8:
        base = np.clip(base, 0.0, 1.0) * 255
    if base.shape != heat.shape:
        raise CnnvisError(
            f"images have shape {images.shape}, the maps need {heat.shape} (N, H, W, 3) to overlay."
        )
    return np.uint8(np.clip((1 - alpha) * base + alpha * heat.astype(np.float32), 0, 255))


def normalisation_from(preprocess: Any = None, mean: Any = None, std: Any = None) -> tuple | None:
    """(mean, std) per channel from explicit values, a name, or a transform with ``mean``/``std``."""
    if mean is not None or std is not None:
        return _as_channels(mean, 0.0), _as_channels(std, 1.0)
    if preprocess is None:
        return None
    if isinstance(preprocess, str):
        try:
            return NAMED_NORMALISATIONS[preprocess.lower()]
        except KeyError:
            raise CnnvisError(
                f"Unknown preprocess {preprocess!r}; use one of {sorted(NAMED_NORMALISATIONS)} "
                "or pass mean= and std=."
            ) from None
    for step in getattr(preprocess, "transforms", [preprocess]):  # a torchvision Compose, or one transform
        if hasattr(step, "mean") and hasattr(step, "std"):
            return _as_channels(step.mean, 0.0), _as_channels(step.std, 1.0)
    return None


def _as_channels(value: Any, default: float) -> tuple[float, ...]:
    if value is None:
        return (default,)
    if isinstance(value, int | float):
        return (float(value),)
    return tuple(float(v) for v in np.asarray(value, dtype=np.float64).ravel())


def to_display_images(nchw: np.ndarray, normalisation: tuple | None) -> np.ndarray:
    """Channels-first model inputs to uint8 RGB ``(N, H, W, 3)`` for display."""
    images = nchw.astype(np.float32)
    if normalisation is not None:
        mean, std = (np.asarray(v, dtype=np.float32).reshape(1, -1, 1, 1) for v in normalisation)
        channels = images.shape[1]
        if {mean.shape[1], std.shape[1]} - {1, channels}:
            raise CnnvisError(
                f"mean/std have {mean.shape[1]}/{std.shape[1]} values for inputs with {channels} channels: "
                "give one value, or one per channel."
            )
        images = images * std + mean
    else:  # unknown preprocessing: stretch each image to the full range
        lo = images.min(axis=(1, 2, 3), keepdims=True)
        hi = images.max(axis=(1, 2, 3), keepdims=True)
        images = (images - lo) / np.maximum(hi - lo, 1e-12)
    images = np.clip(images, 0.0, 1.0).transpose(0, 2, 3, 1)
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    elif images.shape[-1] != 3:
        images = np.repeat(images.mean(axis=-1, keepdims=True), 3, axis=-1)
    return np.uint8(np.round(images * 255))


def sequence_of_ints(value: Any) -> Sequence[int] | None:
    """``value`` as a list of ints if it is a sequence of integers, else None."""
    try:
        arr = np.asarray(value)
    except Exception:
        return None
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        return None
    return [int(v) for v in arr]
