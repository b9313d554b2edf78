"""Turn the bytes of one event file into batches of decoded scalar points and other events.

Per batch of framed records: records of equal length become rows of one byte matrix (a single
fancy-indexing copy out of the file buffer); their data CRCs are checked column-wise and scalar
events are decoded with layout templates (:mod:`cnnvis.scalars.fastpath`). Everything else (the
file version, restarts, histograms, images, records too long for a matrix) goes through the
generic protobuf decoder one record at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from cnnvis.scalars import fastpath
from cnnvis.scalars.crc import crc32c, crc_rows, init_term, mask
from cnnvis.scalars.events import Event, ProtoError, decode_event
from cnnvis.scalars.records import Framing, frame, warn_corrupt

MATRIX_MAX = 1024  # longer records are checked and decoded one by one
_MAX_CRC_WARNINGS = 5


@dataclass
class Chunk:
    """Scalar points of one tag decoded together; ``rec`` orders them within the batch."""

    tag: str
    kind: str  # "simple" or "tensor"
    rec: np.ndarray
    steps: np.ndarray
    walls: np.ndarray
    values: np.ndarray
    plugin: str | None = None


@dataclass
class BatchResult:
    chunks: list[Chunk] = field(default_factory=list)
    slow: list[tuple[int, Event]] = field(default_factory=list)  # (rec, event), sorted by rec


@dataclass
class _Ctx:
    buf: np.ndarray
    path: str
    base: int
    want: frozenset[str]
    bad_crc: int = 0

    def bad(self, offset: int) -> None:
        self.bad_crc += 1
        if self.bad_crc <= _MAX_CRC_WARNINGS:
            warn_corrupt(self.path, self.base + offset, "bad data CRC; record skipped")


def scan(buf: np.ndarray, start: int, end: int, path: str, on_batch: Callable[[BatchResult], None], *,
         final: bool, base: int = 0, want: frozenset[str] = frozenset({"simple", "tensor"})) -> Framing:
    """Decode the records of ``buf[start:end]``, calling ``on_batch`` in file order."""
    state = Framing(end=start)
    ctx = _Ctx(buf, path, base, want)
    for batch in frame(buf, start, end, path, state, final=final, base=base):
        on_batch(_decode_batch(ctx, batch.offsets, batch.lengths))
    if ctx.bad_crc > _MAX_CRC_WARNINGS:
        warn_corrupt(path, base + start, f"{ctx.bad_crc} records in all had a bad data CRC and were skipped")
    return state


def _decode_batch(ctx: _Ctx, offs: np.ndarray, lens: np.ndarray) -> BatchResult:
    out = BatchResult()
    small = np.flatnonzero((lens <= MATRIX_MAX) & (lens > 0))
    if len(small):
        order = small[np.argsort(lens[small], kind="stable")]
        sorted_lens = lens[order]
        cuts = np.flatnonzero(np.diff(sorted_lens)) + 1
        for idx in np.split(order, cuts):
            _decode_group(ctx, offs, int(lens[idx[0]]), idx, out)
    for i in np.flatnonzero(lens > MATRIX_MAX).tolist():
        _decode_large(ctx, int(offs[i]), int(lens[i]), i, out)
    out.slow.sort(key=lambda item: item[0])
    return out


def _decode_group(ctx: _Ctx, offs: np.ndarray, length: int, idx: np.ndarray, out: BatchResult) -> None:
    """Records ``idx`` all of data length ``length``: check CRCs, decode scalars column-wise."""
    pad = -length % 8
    data_at = offs[idx] + 12
    rows = sliding_window_view(ctx.buf, pad + length)[data_at - pad]
    if pad:
        rows[:, :pad] = 0  # leading zeros leave a zero-state CRC unchanged
    stored = sliding_window_view(ctx.buf, 4)[data_at + length].view("<u4").ravel()
    ok = mask(crc_rows(rows) ^ np.uint32(init_term(length) ^ 0xFFFFFFFF)) == stored
    if not ok.all():
        for i in np.flatnonzero(~ok).tolist():
            ctx.bad(int(offs[idx[i]]))
        rows, idx = rows[ok], idx[ok]
    for _ in range(fastpath.MAX_TEMPLATES):
        if not len(idx):
            return
        tmpl = fastpath.make_template(rows[0, pad:].tobytes(), pad)
        if tmpl is None:
            _decode_slow(ctx, rows[0, pad:].tobytes(), int(idx[0]), int(offs[idx[0]]), out)
            rows, idx = rows[1:], idx[1:]
            continue
        hit = fastpath.matches(rows, tmpl)
        sel_rows, sel_idx = (rows, idx) if hit.all() else (rows[hit], idx[hit])
        _emit(fastpath.decode(sel_rows, tmpl), tmpl, sel_idx, out)
        if hit.all():
            return
        rows, idx = rows[~hit], idx[~hit]
    for r, i in zip(rows, idx.tolist(), strict=True):
        _decode_slow(ctx, r[pad:].tobytes(), i, int(offs[i]), out)


def _emit(dec: fastpath.Decoded, tmpl: fastpath.Template, idx: np.ndarray, out: BatchResult) -> None:
    if len(dec.tags) == 1:
        out.chunks.append(Chunk(dec.tags[0], tmpl.kind, idx, dec.steps, dec.walls, dec.values, tmpl.plugin))
        return
    for t, tag in enumerate(dec.tags):
        sel = dec.tag_ids == t
        out.chunks.append(Chunk(tag, tmpl.kind, idx[sel], dec.steps[sel], dec.walls[sel], dec.values[sel],
                                tmpl.plugin))


def _decode_large(ctx: _Ctx, offset: int, length: int, rec: int, out: BatchResult) -> None:
    data = ctx.buf[offset + 12: offset + 12 + length]
    stored = int(ctx.buf[offset + 12 + length: offset + 16 + length].view("<u4")[0])
    if mask(crc32c(data)) != stored:
        ctx.bad(offset)
        return
    _decode_slow(ctx, data.tobytes(), rec, offset, out)


def _decode_slow(ctx: _Ctx, data: bytes, rec: int, offset: int, out: BatchResult) -> None:
    try:
        out.slow.append((rec, decode_event(data, ctx.want)))
    except (ProtoError, ValueError, IndexError) as exc:
        warn_corrupt(ctx.path, ctx.base + offset, f"record is not a readable Event ({exc}); skipped")
