"""Binary payloads: arrays as .npy bytes (never pickled), images as PNG."""

from __future__ import annotations

import io
from pathlib import Path

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


def read_inputs_file(path: Path) -> np.ndarray:
    """An inputs array from a .npy file, or from a .npz (its ``inputs`` array, else its only one)."""
    data = path.read_bytes()
    if path.suffix.lower() != ".npz":
        return from_npy(data)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            names = list(archive.files)
            name = "inputs" if "inputs" in names else (names[0] if len(names) == 1 else None)
            if name is None:
                raise BadRequest(f"{path.name} holds several arrays ({', '.join(names)}) and none is named "
                                 "'inputs': save the inputs as 'inputs' or as a .npy file.")
            return archive[name]
    except BadRequest:
        raise
    except ValueError as exc:
        raise BadRequest(f"{path.name} could not be read without unpickling: {exc}") from None
    except Exception as exc:
        raise BadRequest(f"{path.name} is not a valid .npz archive: {exc}") from None


def to_png(image: np.ndarray) -> bytes:
    """uint8 RGB (H, W, 3) or grey (H, W) to PNG bytes."""
    image = np.asarray(image)
    if image.ndim == 3:
        image = image[..., ::-1]  # OpenCV writes BGR
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(image))
    if not ok:
        raise ValueError("PNG encoding failed")
    return encoded.tobytes()


# A whole protocol reply in one HTTP body, for transports that want the buffers inline (the panel):
# b"CNVR", u32 JSON length, JSON, u32 buffer count, then per buffer u32 length + bytes (little-endian).
REPLY_MIME = "application/x-cnnvis-reply"
_REPLY_MAGIC = b"CNVR"


def to_reply_frames(result: dict, buffers: list[bytes]) -> bytes:
    import json
    import struct

    head = json.dumps(result, allow_nan=False).encode()
    parts = [_REPLY_MAGIC, struct.pack("<I", len(head)), head, struct.pack("<I", len(buffers))]
    for buffer in buffers:
        parts += [struct.pack("<I", len(buffer)), bytes(buffer)]
    return b"".join(parts)


def from_reply_frames(data: bytes) -> tuple[dict, list[bytes]]:
    """The inverse of :func:`to_reply_frames` (clients and tests)."""
    import json
    import struct

    if data[:4] != _REPLY_MAGIC:
        raise BadRequest("Not a cnnvis reply: the CNVR header is missing.")
    (size,), at = struct.unpack_from("<I", data, 4), 8
    result = json.loads(data[at:at + size])
    at += size
    (count,), at = struct.unpack_from("<I", data, at), at + 4
    buffers = []
    for _ in range(count):
        (length,), at = struct.unpack_from("<I", data, at), at + 4
        buffers.append(data[at:at + length])
        at += length
    return result, buffers
