"""External weights kept out of the model proto: memory-mapped data files handed to onnxruntime.

A protobuf message cannot be serialised above 2 GB, and onnxruntime, the ONNX checker and shape
inference all take serialised models. So when a model's external data is large, the proto keeps
its tensors as references (location, offset, length) and stays small; every session gets the data
files' bytes through ``SessionOptions.add_external_initializers_from_files_in_memory``. Graphs
derived from the proto (extra outputs, the part after a layer) keep the references, so they stay
small too. Small tensors (shape constants) are read into the proto so shape inference sees them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import CnnvisError, UnsupportedFileError

# Above this many bytes of external data, the data files are memory-mapped instead of read into
# the proto; ``cnnvis.load(path, map_external_above=...)`` sets it per model.
MAP_EXTERNAL_ABOVE = 1 << 30
# External tensors up to this size are read into the proto even when the rest is mapped.
INLINE_BYTES = 1024
_EXTERNAL = 1  # TensorProto.EXTERNAL
_names = itertools.count()


def entries(tensor: Any) -> dict[str, str]:
    return {e.key: e.value for e in tensor.external_data}


class ExternalData:
    """Read-only buffers by location (memory-mapped files, or arrays made in memory), shared by
    every session of one model and of the models derived from it."""

    def __init__(self, buffers: dict[str, np.ndarray]):
        self.buffers = dict(buffers)

    @classmethod
    def map_files(cls, folder: Path, locations: Iterable[str]) -> ExternalData:
        return cls({loc: np.memmap(folder / loc, dtype=np.uint8, mode="r") for loc in sorted(set(locations))})

    def add_to(self, options: Any) -> None:
        """Hands the buffers to onnxruntime session ``options``."""
        names = list(self.buffers)
        if not names:
            return
        buffers = [self.buffers[n] for n in names]
        options.add_external_initializers_from_files_in_memory(names, buffers, [b.nbytes for b in buffers])

    def copy(self) -> ExternalData:
        return ExternalData(self.buffers)

    def read(self, tensor: Any) -> np.ndarray:
        """A tensor's values (a copy), from its buffer when it is external."""
        from onnx import numpy_helper

        if tensor.data_location != _EXTERNAL:
            return numpy_helper.to_array(tensor)
        return np.frombuffer(self.raw(tensor), dtype=_dtype(tensor)).reshape(tuple(tensor.dims)).copy()

    def raw(self, tensor: Any) -> bytes:
        """An external tensor's bytes as stored (little-endian, as ONNX writes them)."""
        meta = entries(tensor)
        buffer = self.buffers.get(meta.get("location", ""))
        if buffer is None:
            raise CnnvisError(f"Tensor {tensor.name!r} refers to external data {meta.get('location')!r}, "
                              "which this model was not opened with.")
        start = int(meta.get("offset", 0))
        length = int(meta["length"]) if "length" in meta else _nbytes(tensor) or buffer.nbytes - start
        return bytes(buffer[start:start + length])

    def write(self, tensor: Any, array: np.ndarray) -> None:
        """Gives ``tensor`` new values: an external tensor points at a new in-memory buffer (the
        proto stays small and the files are never written); any other gets them in the proto."""
        from onnx import numpy_helper

        if tensor.data_location != _EXTERNAL:
            tensor.CopyFrom(numpy_helper.from_array(array, tensor.name))
            return
        data = np.frombuffer(np.ascontiguousarray(array, dtype=_dtype(tensor)).tobytes(), dtype=np.uint8)
        location = f"cnnvis-memory-{next(_names)}.bin"
        self.buffers[location] = data
        del tensor.external_data[:]
        for key, value in (("location", location), ("offset", "0"), ("length", str(data.nbytes))):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value


def check_bounds(name: str, tensors: list[Any], folder: Path) -> int:
    """Refuses tensors whose offset and length do not fall inside their data file; returns the
    external bytes in all."""
    total = 0
    sizes: dict[str, int] = {}
    for tensor in tensors:
        meta = entries(tensor)
        location = meta["location"]
        size = sizes.setdefault(location, (folder / location).stat().st_size)
        needed = _nbytes(tensor)
        try:
            offset = int(meta.get("offset", 0))
            length = int(meta["length"]) if "length" in meta else size - offset if needed is None else needed
        except ValueError:
            raise UnsupportedFileError(f"{name}: tensor {tensor.name!r} has an unreadable external offset or "
                                       "length.") from None
        if offset < 0 or length < 0 or offset + length > size or (needed is not None and needed != length):
            raise UnsupportedFileError(
                f"{name}: tensor {tensor.name!r} needs bytes {offset}..{offset + length} of {location!r}"
                f"{'' if needed is None else f' ({needed} bytes for its shape)'}, but that file holds {size} "
                "bytes or the lengths disagree: the data file is truncated or belongs to another export. "
                "Copy the model and its data file again.")
        total += length
    return total


def inline_small(tensors: list[Any], external: ExternalData) -> None:
    """Reads external tensors of at most ``INLINE_BYTES`` into the proto (shape constants, biases),
    so shape inference and the graph see the values that fix shapes."""
    for tensor in tensors:
        length = _nbytes(tensor)
        if length is not None and length <= INLINE_BYTES:
            data = external.raw(tensor)
            tensor.data_location = 0  # TensorProto.DEFAULT
            del tensor.external_data[:]
            tensor.raw_data = data


def _dtype(tensor: Any) -> np.dtype:
    from onnx import helper

    try:
        return np.dtype(helper.tensor_dtype_to_np_dtype(tensor.data_type))
    except Exception:
        raise CnnvisError(f"Tensor {tensor.name!r} has an element type cnnvis cannot read from external "
                          "data.") from None


def _nbytes(tensor: Any) -> int | None:
    """The bytes a tensor's shape and type need; None for types without a fixed size."""
    if tensor.data_type in (8, 0):  # STRING, UNDEFINED
        return None
    try:
        itemsize = _dtype(tensor).itemsize
    except CnnvisError:
        return None
    if tensor.data_type in (21, 22, 25, 26):  # 4-bit and 2-bit types pack several values per byte
        return None
    count = 1
    for d in tensor.dims:
        count *= int(d)
    return count * itemsize
