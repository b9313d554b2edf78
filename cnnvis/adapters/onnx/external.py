"""External weights kept out of the model proto, for models over protobuf's 2 GB.

A protobuf message cannot be serialised above 2 GB, and onnxruntime, the ONNX checker and shape
inference all take serialised models. So when a model's external data is large, the proto keeps
its tensors as references (location, offset, length) and stays small; every session reads the
data files from the model's folder itself (``session.model_external_initializers_file_folder_path``),
after cnnvis has checked each reference. Values made in memory (the sanity check's fresh weights)
go to sessions as in-memory files (``add_external_initializers_from_files_in_memory``), so the
files on disk are never written. Graphs derived from the proto (extra outputs, the part after a
layer) keep the references and stay small too. Small tensors (shape constants) are read into the
proto so shape inference sees them. cnnvis reads values itself through read-only memory maps.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import CnnvisError, UnsupportedFileError

# Above this many bytes of external data, the data stays in its files instead of being read into
# the proto; ``cnnvis.load(path, map_external_above=...)`` sets it per model.
MAP_EXTERNAL_ABOVE = 1 << 30
# External tensors up to this size are read into the proto even when the rest stays in the files.
INLINE_BYTES = 1024
_EXTERNAL = 1  # TensorProto.EXTERNAL
_FOLDER_KEY = "session.model_external_initializers_file_folder_path"
_IN_MEMORY_LIMIT = 2**31 - 1  # onnxruntime's limit on one tensor handed over in memory


def entries(tensor: Any) -> dict[str, str]:
    return {e.key: e.value for e in tensor.external_data}


class ExternalData:
    """Where a model's external references point: data files in its (checked) folder, mapped
    read-only for cnnvis's own reads, and buffers made in memory; shared by every session of one
    model and of the models derived from it."""

    def __init__(self, folder: Path | None = None, files: dict[str, np.ndarray] | None = None,
                 buffers: dict[str, np.ndarray] | None = None, largest: int = 0):
        self.folder, self.files, self.buffers = folder, dict(files or {}), dict(buffers or {})
        self.largest = largest  # the largest tensor in the files, in bytes

    @classmethod
    def map_files(cls, folder: Path, tensors: Iterable[Any]) -> ExternalData:
        tensors = list(tensors)
        locations = sorted({entries(t)["location"] for t in tensors})
        files = {loc: np.memmap(folder / loc, dtype=np.uint8, mode="r") for loc in locations}
        return cls(folder, files, largest=max((_nbytes(t) or 0 for t in tensors), default=0))

    def add_to(self, options: Any) -> None:
        """Points onnxruntime session ``options`` at the data files, or, once values were made in
        memory, hands it every file and buffer as in-memory files (onnxruntime then looks every
        location up in that table, and takes tensors from it only up to 2 GB each)."""
        if not self.buffers:
            if self.folder is not None:
                options.add_session_config_entry(_FOLDER_KEY, str(self.folder))
            return
        if self.largest > _IN_MEMORY_LIMIT:
            raise CnnvisError(
                f"This model holds a tensor of {self.largest / 2**30:.1f} GiB in its data file; onnxruntime takes "
                "changed weights only from memory, up to 2 GiB a tensor, so a copy of it with new weights "
                "cannot run. Checks that change weights (sanity_check) need a model without such tensors.")
        table = {**self.files, **self.buffers}
        names = list(table)
        options.add_external_initializers_from_files_in_memory(names, [table[n] for n in names],
                                                               [table[n].nbytes for n in names])

    def copy(self) -> ExternalData:
        return ExternalData(self.folder, self.files, self.buffers, self.largest)

    def read(self, tensor: Any) -> np.ndarray:
        """A tensor's values (a copy), from its buffer when it is external."""
        from onnx import numpy_helper

        if tensor.data_location != _EXTERNAL:
            return numpy_helper.to_array(tensor)
        return np.frombuffer(self.raw(tensor), dtype=_dtype(tensor)).reshape(tuple(tensor.dims)).copy()

    def raw(self, tensor: Any) -> bytes:
        """An external tensor's bytes as stored (little-endian, as ONNX writes them)."""
        meta = entries(tensor)
        buffer = self.buffers.get(meta.get("location", ""), self.files.get(meta.get("location", "")))
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
        self.largest = max(self.largest, data.nbytes)
        location = f"cnnvis-memory-{uuid.uuid4().hex}.bin"  # a name no file in the folder has
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
