"""A small protobuf decoder for the TensorBoard ``Event`` messages cnnvis reads.

Only the fields that carry scalars, histograms, images, the file version and restarts are
decoded; everything else is skipped by wire type. Field numbers follow
``tensorboard/compat/proto/{event,summary,tensor,histogram}.proto``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_D = struct.Struct("<d").unpack_from
_F = struct.Struct("<f").unpack_from

# TensorFlow DataType enum -> numpy dtype (the ones summaries use).
TF_DTYPES: dict[int, Any] = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16,
                             6: np.int8, 7: object, 9: np.int64, 10: np.bool_, 17: np.uint16,
                             19: np.float16, 22: np.uint32, 23: np.uint64}
SESSION_START = 1


class ProtoError(ValueError):
    """Bytes that do not parse as the expected protobuf message."""


def varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ProtoError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def fields(buf: bytes, pos: int = 0, end: int | None = None):
    """Yield ``(field_number, wire_type, value, start)`` for each field of a message.

    ``value`` is an int for varints, ``(start, stop)`` for length-delimited fields and the
    payload offset for fixed32/fixed64 fields.
    """
    end = len(buf) if end is None else end
    while pos < end:
        key, pos = varint(buf, pos)
        num, wt = key >> 3, key & 7
        start = pos
        if wt == 0:
            value, pos = varint(buf, pos)
        elif wt == 1:
            value, pos = pos, pos + 8
        elif wt == 2:
            n, pos = varint(buf, pos)
            value, pos = (pos, pos + n), pos + n
        elif wt == 5:
            value, pos = pos, pos + 4
        else:
            raise ProtoError(f"unsupported wire type {wt}")
        if pos > end:
            raise ProtoError("field runs past the end of its message")
        yield num, wt, value, start


@dataclass
class Value:
    """One ``Summary.Value``: ``kind`` is simple, tensor, histo, image or other."""

    tag: str
    kind: str
    payload: Any = None
    plugin: str | None = None


@dataclass
class Event:
    wall_time: float = 0.0
    step: int = 0
    file_version: str | None = None
    session_start: bool = False
    values: list[Value] = field(default_factory=list)


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def decode_event(buf: bytes, want: frozenset[str] = frozenset({"simple", "tensor", "histo", "image"})) -> Event:
    """Decode one serialized ``Event``; value payloads are decoded only for kinds in ``want``."""
    ev = Event()
    for num, wt, val, _ in fields(buf):
        if num == 1 and wt == 1:
            ev.wall_time = _D(buf, val)[0]
        elif num == 2 and wt == 0:
            ev.step = _signed(val)
        elif num == 3 and wt == 2:
            ev.file_version = buf[val[0]:val[1]].decode("utf-8", "replace")
        elif num == 5 and wt == 2:
            ev.values = [_value(buf, s, e, want) for n, w, (s, e), _ in _len_fields(buf, *val) if n == 1]
        elif num == 7 and wt == 2:
            ev.session_start = any(n == 1 and w == 0 and v == SESSION_START for n, w, v, _ in fields(buf, *val))
    return ev


def _len_fields(buf: bytes, start: int, end: int):
    return ((n, w, v, s) for n, w, v, s in fields(buf, start, end) if w == 2)


def _value(buf: bytes, start: int, end: int, want: frozenset[str]) -> Value:
    v = Value(tag="", kind="other")
    for num, wt, val, _ in fields(buf, start, end):
        if num == 1 and wt == 2:
            v.tag = buf[val[0]:val[1]].decode("utf-8", "replace")
        elif num == 2 and wt == 5:
            v.kind, v.payload = "simple", _F(buf, val)[0]
        elif num == 8 and wt == 2:
            v.kind = "tensor"
            v.payload = tensor_to_array(buf, *val) if "tensor" in want else None
        elif num == 5 and wt == 2:
            v.kind = "histo"
            v.payload = histogram_proto(buf, *val) if "histo" in want else None
        elif num == 4 and wt == 2:
            v.kind = "image"
            v.payload = image_proto(buf, *val) if "image" in want else None
        elif num == 9 and wt == 2:
            v.plugin = _plugin_name(buf, *val)
    return v


def _plugin_name(buf: bytes, start: int, end: int) -> str | None:
    for num, wt, val, _ in fields(buf, start, end):
        if num == 1 and wt == 2:  # SummaryMetadata.plugin_data
            for n2, w2, v2, _ in fields(buf, *val):
                if n2 == 1 and w2 == 2:
                    return buf[v2[0]:v2[1]].decode("utf-8", "replace")
    return None


def _packed(buf: bytes, wt: int, val: Any, fmt: str, out: list) -> None:
    """Append one repeated numeric field occurrence, packed or not."""
    if wt == 2:
        s, e = val
        if fmt in "df":
            out.extend(np.frombuffer(buf[s:e], "<f8" if fmt == "d" else "<f4").tolist())
        else:
            pos = s
            while pos < e:
                x, pos = varint(buf, pos)
                out.append(x)
    elif wt == 1:
        out.append(_D(buf, val)[0])
    elif wt == 5:
        out.append(_F(buf, val)[0])
    else:
        out.append(val)


_TYPED_FIELDS = {5: "f", 6: "d", 7: "v", 10: "v", 11: "v", 13: "v", 16: "v", 17: "v"}


def tensor_to_array(buf: bytes, start: int, end: int) -> np.ndarray:
    """``TensorProto`` -> numpy array, with ``tensor_util.make_ndarray``'s broadcasting rule."""
    dtype, shape, content, vals, strings = 1, [], None, [], []
    for num, wt, val, _ in fields(buf, start, end):
        if num == 1 and wt == 0:
            dtype = val
        elif num == 2 and wt == 2:
            shape = [_dim_size(buf, *v) for n, w, v, _ in fields(buf, *val) if n == 2 and w == 2]
        elif num == 4 and wt == 2:
            content = buf[val[0]:val[1]]
        elif num == 8 and wt == 2:
            strings.append(buf[val[0]:val[1]])
        elif num in _TYPED_FIELDS:
            _packed(buf, wt, val, _TYPED_FIELDS[num], vals)
    np_dtype = TF_DTYPES.get(dtype)
    if np_dtype is None:
        raise ProtoError(f"tensor dtype {dtype} is not supported")
    size = int(np.prod(shape)) if shape else 1
    if np_dtype is object:
        arr = np.empty(len(strings), object)
        arr[:] = strings
    elif content is not None:
        return np.frombuffer(content, np.dtype(np_dtype).newbyteorder("<")).astype(np_dtype).reshape(shape)
    elif dtype == 19:
        arr = np.array(vals, np.uint16).view(np.float16)
    else:
        if np.issubdtype(np_dtype, np.signedinteger):
            vals = [x - (1 << 64) if x >= 1 << 63 else x for x in vals]
        arr = np.array(vals, np_dtype)
    if arr.size == size:
        return arr.reshape(shape)
    if arr.size == 0:
        return np.zeros(shape, np_dtype)
    if arr.size < size:  # make_ndarray pads with the last value
        arr = np.concatenate([arr, np.repeat(arr[-1:], size - arr.size)])
    return arr[:size].reshape(shape)


def _dim_size(buf: bytes, start: int, end: int) -> int:
    for num, wt, val, _ in fields(buf, start, end):
        if num == 1 and wt == 0:
            return _signed(val)
    return 0


def histogram_proto(buf: bytes, start: int, end: int) -> dict[str, Any]:
    h: dict[str, Any] = {"min": 0.0, "max": 0.0, "num": 0.0, "sum": 0.0, "sum_squares": 0.0}
    limits: list[float] = []
    counts: list[float] = []
    names = {1: "min", 2: "max", 3: "num", 4: "sum", 5: "sum_squares"}
    for num, wt, val, _ in fields(buf, start, end):
        if num in names and wt == 1:
            h[names[num]] = _D(buf, val)[0]
        elif num == 6:
            _packed(buf, wt, val, "d", limits)
        elif num == 7:
            _packed(buf, wt, val, "d", counts)
    h["bucket_limit"] = np.array(limits, np.float64)
    h["bucket"] = np.array(counts, np.float64)
    return h


def image_proto(buf: bytes, start: int, end: int) -> dict[str, Any]:
    img: dict[str, Any] = {"height": 0, "width": 0, "colorspace": 0, "data": b""}
    for num, wt, val, _ in fields(buf, start, end):
        if num == 1 and wt == 0:
            img["height"] = val
        elif num == 2 and wt == 0:
            img["width"] = val
        elif num == 3 and wt == 0:
            img["colorspace"] = val
        elif num == 4 and wt == 2:
            img["data"] = bytes(buf[val[0]:val[1]])
    return img
