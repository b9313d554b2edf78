"""Binary payloads: arrays as .npy bytes (never pickled), images as PNG."""

from __future__ import annotations

import io
import math
import zipfile
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np

from .errors import BadRequest, PayloadTooLarge

NPY_MIME = "application/x-npy"
PNG_MIME = "image/png"
MAX_ARRAY_BYTES = 128 * 2**20  # what one array read from a file may take in memory (servers configure it)


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


def read_inputs_file(path: Path, limit: int | None = None, max_bytes: int = MAX_ARRAY_BYTES) -> np.ndarray:
    """An inputs array from a .npy file, or from a .npz (its ``inputs`` array, else its only one).

    Only the array header is read before the sizes are checked: ``limit`` keeps the first N entries
    (and only those are read), and what would be read must fit ``max_bytes``.
    """
    if path.suffix.lower() != ".npz":
        with open(path, "rb") as fh:
            return read_npy(fh, path.name, limit, max_bytes)
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n[:-4] if n.endswith(".npy") else n for n in archive.namelist()]
            name = "inputs" if "inputs" in names else (names[0] if len(names) == 1 else None)
            if name is None:
                raise BadRequest(f"{path.name} holds several arrays ({', '.join(names[:20])}) and none is named "
                                 "'inputs': save the inputs as 'inputs' or as a .npy file.")
            return read_npz_member(archive, name, path.name, limit, max_bytes)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise BadRequest(f"{path.name} is not a valid .npz archive: {exc}") from None


def read_npz_file(path: Path, name: str, max_bytes: int = MAX_ARRAY_BYTES) -> np.ndarray:
    """The array ``name`` of a .npz file, its declared size checked before it is decompressed."""
    try:
        with zipfile.ZipFile(path) as archive:
            return read_npz_member(archive, name, path.name, None, max_bytes)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise BadRequest(f"{path.name} is not a valid .npz archive: {exc}") from None


def read_npz_member(archive: zipfile.ZipFile, name: str, label: str, limit: int | None, max_bytes: int) -> np.ndarray:
    member = name + ".npy" if name + ".npy" in archive.namelist() else name
    try:
        info = archive.getinfo(member)
    except KeyError:
        raise BadRequest(f"{label} has no array {name!r}.") from None
    with archive.open(info) as fh:
        return read_npy(fh, f"{label}:{name}", limit, max_bytes)


def read_npy(fh: BinaryIO, label: str, limit: int | None = None, max_bytes: int = MAX_ARRAY_BYTES) -> np.ndarray:
    """A .npy array from a stream: header first, sizes checked, then exactly the bytes needed."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(fh)
        else:
            raise ValueError(f"format version {version} is not read here (save with numpy.save)")
    except ValueError as exc:
        raise BadRequest(f"{label} is not a valid .npy array: {exc}") from None
    if dtype.hasobject:
        raise BadRequest(f"{label} holds Python objects: it could not be read without unpickling, "
                         "and cnnvis never unpickles files. Save a numeric array.")
    if limit is not None and shape and not fortran:
        shape = (min(shape[0], limit), *shape[1:])  # C order: the first N entries are a prefix
    count = math.prod(shape)
    if count * dtype.itemsize > max_bytes:
        raise PayloadTooLarge(
            f"{label} declares a {dtype} array of shape {tuple(shape)} ({count * dtype.itemsize} bytes), more "
            f"than the {max_bytes} bytes read here. Send fewer inputs (inputs_limit=) or a smaller array.")
    flat = np.empty(count, dtype)
    if not _read_into(fh, flat.view(np.uint8)):
        raise BadRequest(f"{label} is shorter than its header says: the file is truncated.")
    array = flat.reshape(shape, order="F" if fortran else "C")
    return array[:limit] if limit is not None and fortran and array.ndim else array


def _read_into(fh: BinaryIO, buffer: np.ndarray) -> bool:
    view, filled = memoryview(buffer), 0
    while filled < len(view):
        chunk = fh.read(min(len(view) - filled, 1 << 24))
        if not chunk:
            return False
        view[filled:filled + len(chunk)] = chunk
        filled += len(chunk)
    return True


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
