"""TFRecord framing: find record boundaries, check their CRCs and report damage.

A record is ``uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)``.
Finding boundaries is a chain (each record's length gives the next offset), so the walk is
sequential, but writers emit long runs of records whose lengths repeat with a short period (one
record per tag per step). Once such a period shows up, the next few thousand offsets are
predicted at once and confirmed with one vectorised read of their length fields.
"""

from __future__ import annotations

import struct
import warnings
from array import array
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from cnnvis.scalars.crc import header_crcs

_Q = struct.Struct("<Q").unpack_from
_HEADER = 12
_FOOTER = 4
_RESYNC_WINDOW = 1 << 16


class CorruptEventFileWarning(UserWarning):
    """Part of an event file could not be read; the intact records around it were kept.

    ``path`` and ``offset`` (byte offset of the damage) are set on the instance.
    """

    path: str = ""
    offset: int = -1


def warn_corrupt(path: str, offset: int, message: str) -> None:
    w = CorruptEventFileWarning(f"{path}: {message} (at byte offset {offset})")
    w.path, w.offset = path, offset
    warnings.warn(w, stacklevel=4)


@dataclass
class Batch:
    """Offsets and lengths of consecutive records whose length CRCs are valid."""

    offsets: np.ndarray  # int64, start of each record's header
    lengths: np.ndarray  # int64, data length


@dataclass
class Framing:
    """Where walking a byte range stopped."""

    end: int = 0  # first byte not consumed (start of an incomplete record, or the range end)
    truncated: bool = False  # stopped at a record that is not complete yet


def _u64_at(buf: np.ndarray, positions: np.ndarray) -> np.ndarray:
    return sliding_window_view(buf, 8)[positions].view("<u8").ravel()


def _predict(buf: np.ndarray, lens: array, pos: int, end: int, room: int) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (and lengths) of the records ahead if the recent length period continues."""
    recent = lens[-48:]
    for period in range(1, 17):
        if len(recent) >= 3 * period and recent[-period:] == recent[-2 * period:-period] == \
                recent[-3 * period:-2 * period]:
            break
    else:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    pattern = np.asarray(recent[-period:], np.int64)
    steps = pattern + (_HEADER + _FOOTER)
    stride = int(steps.sum())
    cycles = min((end - pos) // stride, -(-room // period), 4096)
    if cycles <= 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    starts = np.concatenate([[0], np.cumsum(steps)[:-1]])
    cand = (pos + np.arange(cycles, dtype=np.int64)[:, None] * stride + starts[None, :]).ravel()[:room]
    expect = np.tile(pattern, cycles)[:room]
    ok = _u64_at(buf, cand).astype(np.int64) == expect
    good = int(ok.argmin()) if not ok.all() else len(ok)
    return cand[:good], expect[:good]


def walk(buf: np.ndarray, pos: int, end: int, limit: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Follow record lengths from ``pos`` (no CRC checks yet) for at most ``limit`` records.

    Returns offsets, lengths and the position after the last complete record found.
    """
    mv = memoryview(buf)
    offs, lens = array("q"), array("q")
    since_jump, backoff = 0, 24
    while len(offs) < limit and pos + _HEADER <= end:
        n = _Q(mv, pos)[0]
        if n > end - pos - _HEADER - _FOOTER:
            break
        offs.append(pos)
        lens.append(n)
        pos += n + _HEADER + _FOOTER
        since_jump += 1
        if since_jump >= backoff:
            cand, clen = _predict(buf, lens, pos, end, limit - len(offs))
            since_jump = 0
            if len(cand):
                offs.frombytes(cand.tobytes())
                lens.frombytes(clen.tobytes())
                pos = int(cand[-1] + clen[-1]) + _HEADER + _FOOTER
                backoff = 24
            else:
                backoff = min(backoff * 2, 4096)  # irregular stretch: try predicting less often
    return np.frombuffer(offs, np.int64), np.frombuffer(lens, np.int64), pos


def _header_ok(buf: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    rows = sliding_window_view(buf, _HEADER)[offsets]
    stored = np.ascontiguousarray(rows[:, 8:12]).view("<u4").ravel()
    return header_crcs(rows[:, :8]) == stored


def resync(buf: np.ndarray, pos: int, end: int) -> tuple[bool, int]:
    """The first offset >= pos holding a record header with a valid length CRC.

    Returns ``(True, offset)``, or ``(False, p)`` where ``p`` is the first position not yet
    ruled out (a header may still be arriving in the last few bytes).
    """
    while pos + _HEADER <= end:
        stop = min(pos + _RESYNC_WINDOW, end - _HEADER + 1)
        # Lengths below 2**40 only: the top three bytes are zero, which rules out most bytes.
        cand = pos + np.flatnonzero((buf[pos + 5:stop + 5] == 0) & (buf[pos + 6:stop + 6] == 0)
                                    & (buf[pos + 7:stop + 7] == 0))
        if len(cand):
            ok = np.flatnonzero(_header_ok(buf, cand))
            if len(ok):
                return True, int(cand[ok[0]])
        pos = stop
    return False, pos


def frame(buf: np.ndarray, pos: int, end: int, path: str, state: Framing, *, final: bool,
          base: int = 0, batch_records: int = 65536) -> Iterator[Batch]:
    """Yield batches of intact record positions in ``buf[pos:end]``; set ``state`` at the end.

    Damage is reported with :class:`CorruptEventFileWarning` and skipped. With ``final=False``
    (tailing a file that may still grow) an incomplete last record is left for later silently.
    ``base`` is the file offset of ``buf[0]``, for the messages.
    """
    while pos < end:
        offs, lens, after = walk(buf, pos, end, batch_records)
        if len(offs):
            ok = _header_ok(buf, offs)
            if not ok.all():
                bad = int(ok.argmin())
                if bad:
                    yield Batch(offs[:bad], lens[:bad])
                pos = _skip_damage(buf, int(offs[bad]), end, path, final, base)
                continue
            yield Batch(offs, lens)
            pos = after
            if len(offs) == batch_records:
                continue
        if pos >= end:
            break
        # Stopped before the end: an incomplete record, or a length field that is damaged.
        if pos + _HEADER <= end and not _header_ok(buf, np.array([pos]))[0]:
            pos = _skip_damage(buf, pos, end, path, final, base)
            continue
        state.truncated = True
        if final:
            warn_corrupt(path, base + pos, f"truncated record ({end - pos} bytes at the end of the file, "
                                           "a writer may still be writing it); ignored")
        break
    state.end = pos


def _skip_damage(buf: np.ndarray, pos: int, end: int, path: str, final: bool, base: int) -> int:
    found, nxt = resync(buf, pos + 1, end)
    if not found:
        warn_corrupt(path, base + pos, f"bad record header; no valid record in the remaining {end - pos} bytes")
        return end if final else nxt
    else:
        warn_corrupt(path, base + pos, f"bad record header; skipped {nxt - pos} bytes to the next valid "
                                       f"record at offset {base + nxt}")
    return nxt
