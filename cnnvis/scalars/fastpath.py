"""Vectorised decoding of scalar events that share one byte layout.

Records of equal length written by the same writer for scalar summaries differ only in the
bytes of the wall time, the step, the tag and the value; every other byte (field keys, length
prefixes, summary metadata) is identical. A *template* is built from one record with the
generic decoder: it marks those variable byte ranges and keeps the rest as expected bytes.
Every row of an (n, width) byte matrix is then checked against it with a few masked uint64
compares, and the fields of the rows that match are read column-wise. Rows that do not match
get another template or go to the generic decoder.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnvis.scalars.events import ProtoError, _plugin_name, fields

MAX_TEMPLATES = 8


@dataclass
class Template:
    mask: np.ndarray  # uint64 per 8-byte word: which bits must equal ``expect``
    expect: np.ndarray
    wall: int | None  # column of the float64 wall time (None: field absent = 0.0)
    step: tuple[int, int] | None  # (column, varint byte count); None: step 0
    tag: tuple[int, int]  # (column, byte length)
    value: tuple[int, str]  # (column, "<f4" or "<f8")
    kind: str  # "simple" (Summary.Value.simple_value) or "tensor" (scalar TensorProto)
    plugin: str | None  # plugin named in the record's metadata, if any


def _tensor_value(buf: bytes, start: int, end: int) -> tuple[int, str] | None:
    """Position and type of a scalar float/double TensorProto's single value."""
    dtype, where = None, None
    for num, wt, val, _ in fields(buf, start, end):
        if num == 1 and wt == 0 and val in (1, 2):
            dtype = val
        elif num == 2 and wt == 2 and val[0] == val[1]:
            continue  # empty TensorShapeProto: a scalar
        elif num in (4, 5, 6) and wt == 2 and val[1] - val[0] in (4, 8):
            where = (val[0], val[1] - val[0])
        elif num == 5 and wt == 5:
            where = (val, 4)
        elif num == 6 and wt == 1:
            where = (val, 8)
        else:
            return None
    if dtype is None or where is None or where[1] != (4 if dtype == 1 else 8):
        return None
    return where[0], "<f4" if dtype == 1 else "<f8"


def _value_layout(buf: bytes, start: int, end: int):
    tag = value = None
    kind, plugin = "", None
    for num, wt, val, _ in fields(buf, start, end):
        if num == 1 and wt == 2:
            tag = (val[0], val[1] - val[0])
        elif num == 2 and wt == 5:
            value, kind = (val, "<f4"), "simple"
        elif num == 8 and wt == 2:
            value, kind = _tensor_value(buf, *val), "tensor"
        elif num == 9 and wt == 2:
            plugin = _plugin_name(buf, *val)
        else:
            return None
    if tag is None or value is None:
        return None
    return tag, value, kind, plugin


def make_template(row: bytes, pad: int) -> Template | None:
    """Template for a record (``row`` = its data) holding one scalar value, else None."""
    try:
        return _make_template(row, pad)
    except ProtoError:
        return None


def _make_template(row: bytes, pad: int) -> Template | None:
    n = len(row)
    mask = np.full(pad + n, 0xFF, np.uint8)
    mask[:pad] = 0
    wall = step = layout = None
    nvalues = 0
    for num, wt, val, start in fields(row):
        if num == 1 and wt == 1:
            wall = val
        elif num == 2 and wt == 0:
            step = (start, _varint_len(row, start))
        elif num == 5 and wt == 2:
            for n2, w2, v2, _ in fields(row, *val):
                if n2 != 1 or w2 != 2:
                    return None
                nvalues += 1
                layout = _value_layout(row, *v2)
        else:
            return None
    if nvalues != 1 or layout is None:
        return None
    (tag_at, tag_len), (value_at, fmt), kind, plugin = layout
    expect = np.zeros(pad + n, np.uint8)
    expect[pad:] = np.frombuffer(row, np.uint8)
    if wall is not None:
        mask[pad + wall: pad + wall + 8] = 0
    mask[pad + tag_at: pad + tag_at + tag_len] = 0
    mask[pad + value_at: pad + value_at + (4 if fmt == "<f4" else 8)] = 0
    if step is not None:
        # Only the continuation bits are fixed: the same varint byte count in every row.
        mask[pad + step[0]: pad + step[0] + step[1]] = 0x80
    return Template(mask=mask.view("<u8"), expect=(expect & mask).view("<u8"),
                    wall=None if wall is None else pad + wall,
                    step=None if step is None else (pad + step[0], step[1]),
                    tag=(pad + tag_at, tag_len), value=(pad + value_at, fmt), kind=kind, plugin=plugin)


def _varint_len(buf: bytes, pos: int) -> int:
    k = 0
    while buf[pos + k] & 0x80:
        k += 1
    return k + 1


def matches(rows: np.ndarray, tmpl: Template) -> np.ndarray:
    words = rows.view("<u8")
    ok = np.ones(len(rows), bool)
    for j in np.flatnonzero(tmpl.mask):
        ok &= (words[:, j] & tmpl.mask[j]) == tmpl.expect[j]
    return ok


@dataclass
class Decoded:
    steps: np.ndarray
    walls: np.ndarray
    values: np.ndarray
    tag_ids: np.ndarray  # index into ``tags`` per row
    tags: list[str]


def decode(rows: np.ndarray, tmpl: Template) -> Decoded:
    """Read the fields of rows that match ``tmpl``."""
    n = len(rows)
    if tmpl.wall is None:
        walls = np.zeros(n)
    else:
        walls = np.ascontiguousarray(rows[:, tmpl.wall: tmpl.wall + 8]).view("<f8").ravel()
    steps = np.zeros(n, np.int64)
    if tmpl.step is not None:
        col, k = tmpl.step
        acc = np.zeros(n, np.uint64)
        for i in range(k):
            acc |= (rows[:, col + i] & np.uint8(0x7F)).astype(np.uint64) << np.uint64(7 * i)
        steps = acc.view(np.int64)
    col, fmt = tmpl.value
    width = 4 if fmt == "<f4" else 8
    values = np.ascontiguousarray(rows[:, col: col + width]).view(fmt).ravel().astype(np.float64)
    ids, tags = _tag_ids(rows[:, tmpl.tag[0]: tmpl.tag[0] + tmpl.tag[1]])
    return Decoded(steps, walls, values, ids, tags)


def _tag_ids(tag_bytes: np.ndarray) -> tuple[np.ndarray, list[str]]:
    n, width = tag_bytes.shape
    first = tag_bytes[0]
    if width == 0 or (tag_bytes == first).all():
        return np.zeros(n, np.intp), [first.tobytes().decode("utf-8", "replace")]
    packed = np.ascontiguousarray(tag_bytes).view(np.dtype((np.void, width))).ravel()
    uniq, inverse = np.unique(packed, return_inverse=True)
    return inverse.ravel(), [u.tobytes().decode("utf-8", "replace") for u in uniq]
