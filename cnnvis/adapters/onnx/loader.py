"""Reading ``.onnx`` files: the proto, and external weights only from the model's own folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ...errors import UnsafeFileError, UnsupportedFileError
from . import external as _external
from .external import ExternalData, check_bounds, entries, inline_small


def read_model(file: Path, map_above: int | None = None) -> tuple[Any, ExternalData | None]:
    """The checked proto of ``file`` and, when its external data is larger than ``map_above`` bytes
    (default ``external.MAP_EXTERNAL_ABOVE``), that data memory-mapped rather than read into the proto."""
    import onnx

    try:
        proto = onnx.load(str(file), load_external_data=False)
    except Exception as exc:  # truncated files fail inside protobuf
        raise UnsupportedFileError(f"{file.name} is not a readable ONNX model ({first_line(exc)}). "
                                   "Re-export it, or check that the copy is complete.") from None
    if not proto.graph.node:
        raise UnsupportedFileError(f"{file.name} holds no ONNX graph (no nodes): it is empty or not ONNX.")
    external = load_external_data(proto, file, map_above)
    try:  # a proto with external references is checked from its file, where the references resolve
        onnx.checker.check_model(proto if external is None else str(file))
    except Exception as exc:
        raise UnsupportedFileError(f"{file.name} is not a valid ONNX model: {first_line(exc)}") from None
    return proto, external


def load_external_data(proto: Any, file: Path, map_above: int | None = None) -> ExternalData | None:
    """Reads external weights, only from files inside the model's own folder, and only the bytes
    each tensor's offset and length name within its file. Above ``map_above`` bytes the files are
    memory-mapped instead and returned; the proto then keeps its references and stays small."""
    from onnx.external_data_helper import load_external_data_for_model

    folder = file.resolve().parent
    external = [t for t in _all_tensors(proto.graph) if t.data_location == 1]  # TensorProto.EXTERNAL
    for tensor in external:
        location = entries(tensor).get("location", "")
        target = (folder / location).resolve()
        if not location or os.path.isabs(location) or not target.is_relative_to(folder):
            raise UnsafeFileError(
                f"{file.name} asks for weights at {location!r}, outside the model's folder. cnnvis reads "
                "external data only from the model's own folder; move the data file next to the model."
            )
        if not target.is_file():
            # names only, never the folder: the message may reach a client of the server
            raise UnsupportedFileError(f"{file.name} needs its external data file {location!r}, which is missing "
                                       "from the model's folder.")
    if not external:
        return None
    limit = _external.MAP_EXTERNAL_ABOVE if map_above is None else int(map_above)
    if check_bounds(file.name, external, folder) > limit:
        mapped = ExternalData.map_files(folder, external)
        inline_small(external, mapped)
        return mapped
    try:
        load_external_data_for_model(proto, str(folder))
    except Exception as exc:
        raise UnsupportedFileError(f"{file.name}: its external data could not be read ({first_line(exc)}).") from None
    return None


def serialized_bytes(proto: Any) -> int:
    """The size ``proto`` would have with its external data read in (protobuf caps it at 2 GiB)."""
    lengths = [int(entries(t).get("length", 0)) for t in _all_tensors(proto.graph) if t.data_location == 1]
    return proto.ByteSize() + sum(lengths)


def _all_tensors(graph: Any) -> list[Any]:
    tensors = list(graph.initializer)
    for node in graph.node:
        for attr in node.attribute:
            tensors.extend([attr.t] if attr.HasField("t") else [])
            tensors.extend(attr.tensors)
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                tensors.extend(_all_tensors(sub))
    return tensors


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def dynamic_dims_named(proto: Any) -> Any:
    """A copy of ``proto`` whose dims written as ``-1`` or ``0`` (exporters' ways of saying "dynamic")
    are symbolic, as onnxruntime reads dynamic dims; the proto itself when it has none."""
    def values(graph: Any) -> list[Any]:
        return [*graph.input, *graph.output, *graph.value_info]

    def dims(graph: Any) -> list[Any]:
        return [d for v in values(graph) if v.type.HasField("tensor_type")
                for d in v.type.tensor_type.shape.dim if d.HasField("dim_value") and d.dim_value <= 0]

    if not dims(proto.graph):
        return proto
    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    for i, dim in enumerate(dims(copy.graph)):
        dim.dim_param = f"dynamic_{i}"  # setting the name clears the value (a oneof)
    return copy
