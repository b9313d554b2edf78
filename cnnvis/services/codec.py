"""Binary payloads: arrays as .npy bytes (never pickled), images as PNG."""

from __future__ import annotations

import io

import cv2
import numpy as np

from .errors import BadRequest

NPY_MIME = "application/x-npy"
PNG_MIME = "image/png"


def to_npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def from_npy(data: bytes) -> np.ndarray:
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:  # object arrays need pickle: refused
        raise BadRequest(f"The array could not be read without unpickling: {exc}") from None
    except Exception as exc:
        raise BadRequest(f"Not a valid .npy payload: {exc}") from None


def to_png(image: np.ndarray) -> bytes:
    """uint8 RGB (H, W, 3) or grey (H, W) to PNG bytes."""
    image = np.asarray(image)
    if image.ndim == 3:
        image = image[..., ::-1]  # OpenCV writes BGR
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(image))
    if not ok:
        raise ValueError("PNG encoding failed")
    return encoded.tobytes()
