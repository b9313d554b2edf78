"""CRC-32C (Castagnoli) in numpy, as TFRecord framing needs it.

Event files carry a masked CRC-32C of every record's length and data. Checking one record at a
time in Python costs more than decoding it, so the checksums are computed for many records at
once: every record of one length is a row of a ``uint8`` matrix and the table look-ups run down
the columns (slicing-by-8 with 16-bit tables: four look-ups per eight bytes). Long single
buffers are cut into equal chunks whose checksums are combined with a "feed N zero bytes"
operator, which CRCs being linear over GF(2) allows.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

_POLY = np.uint32(0x82F63B78)  # reflected Castagnoli polynomial
_MASK_DELTA = 0xA282EAD8


def _byte_tables() -> np.ndarray:
    """t[k][i]: the CRC state after feeding byte i followed by k zero bytes (slicing-by-8)."""
    crc = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        crc = np.where(crc & 1, (crc >> 1) ^ _POLY, crc >> 1).astype(np.uint32)
    tables = [crc]
    for _ in range(7):
        prev = tables[-1]
        tables.append((prev >> 8) ^ crc[prev & 0xFF])
    return np.stack(tables)


_T8 = _byte_tables()
_LO = np.arange(65536, dtype=np.uint32) & 0xFF
_HI = np.arange(65536, dtype=np.uint32) >> 8
# 16-bit tables: U0/U1 consume the word that was xored with the state, U2/U3 the next word.
_U = np.stack([_T8[7][_LO] ^ _T8[6][_HI], _T8[5][_LO] ^ _T8[4][_HI],
               _T8[3][_LO] ^ _T8[2][_HI], _T8[1][_LO] ^ _T8[0][_HI]])
_U0, _U1, _U2, _U3 = _U


def crc_rows(rows: np.ndarray, state: np.ndarray | None = None) -> np.ndarray:
    """Raw (no init, no final xor) CRC-32C of every row of a C-contiguous uint8 matrix.

    The row width must be a multiple of 8. Leading zero bytes leave a zero state unchanged,
    so callers left-pad rows with zeros to reach that width.
    """
    n, width = rows.shape
    words = rows.view("<u4")
    halves = rows.view("<u2")
    crc = np.zeros(n, np.uint32) if state is None else state.astype(np.uint32)
    for i in range(width // 8):
        x = crc ^ words[:, 2 * i]
        crc = _U0[x & 0xFFFF] ^ _U1[x >> 16] ^ _U2[halves[:, 4 * i + 2]] ^ _U3[halves[:, 4 * i + 3]]
    return crc


def _crc_bytes_py(state: int, data: bytes) -> int:
    t0 = _T8[0]
    for b in data:
        state = int(t0[(state ^ b) & 0xFF]) ^ (state >> 8)
    return state


@lru_cache(maxsize=512)
def init_term(length: int) -> int:
    """The part of a CRC-32C of ``length`` bytes that comes from the 0xFFFFFFFF initial state.

    ``crc32c(data) == raw_crc(data) ^ init_term(len(data)) ^ 0xFFFFFFFF`` with ``raw_crc`` as
    computed by :func:`crc_rows` (zero initial state).
    """
    return _shift(0xFFFFFFFF, length)


def _apply(tables: np.ndarray, state: np.ndarray) -> np.ndarray:
    return (tables[0][state & 0xFF] ^ tables[1][(state >> 8) & 0xFF]
            ^ tables[2][(state >> 16) & 0xFF] ^ tables[3][state >> 24])


def _tables_from_images(images: np.ndarray) -> np.ndarray:
    """Byte tables of a GF(2)-linear map on 32-bit states given the images of the 32 unit bits."""
    bits = ((np.arange(256)[:, None] >> np.arange(8)) & 1).astype(bool)  # (256, 8)
    tables = np.zeros((4, 256), np.uint32)
    for k in range(4):
        tables[k] = np.bitwise_xor.reduce(np.where(bits, images[8 * k: 8 * k + 8], 0), axis=1)
    return tables


_BASIS = (np.uint32(1) << np.arange(32, dtype=np.uint32)).astype(np.uint32)


@lru_cache(maxsize=64)
def _zeros_tables(log2_bytes: int) -> np.ndarray:
    """Byte tables of the linear map "feed 2**log2_bytes zero bytes", by repeated squaring."""
    if log2_bytes <= 3:
        images = np.array([_crc_bytes_py(int(s), bytes(1 << log2_bytes)) for s in _BASIS], np.uint32)
    else:
        half = _zeros_tables(log2_bytes - 1)
        images = _apply(half, _apply(half, _BASIS))
    return _tables_from_images(images)


def _shift(state: int, nbytes: int) -> int:
    if nbytes < 64:
        return _crc_bytes_py(state, bytes(nbytes))
    s = np.array([state], np.uint32)
    for k in range(nbytes.bit_length()):
        if nbytes >> k & 1:
            s = _apply(_zeros_tables(k), s)
    return int(s[0])


def crc32c(data: bytes | bytearray | memoryview | np.ndarray) -> int:
    """Standard CRC-32C of one buffer (any length)."""
    arr = np.frombuffer(memoryview(data).cast("B"), np.uint8) if not isinstance(data, np.ndarray) else data
    n = int(arr.size)
    if n < 256:
        return _crc_bytes_py(0xFFFFFFFF, arr.tobytes()) ^ 0xFFFFFFFF
    # Equal chunks (a power of two near sqrt(n)) checksummed side by side, then combined.
    chunk = 64
    while chunk * chunk < n and chunk < 65536:
        chunk *= 2
    nrows = -(-n // chunk)
    padded = np.zeros(nrows * chunk, np.uint8)
    padded[nrows * chunk - n:] = arr  # zeros in front do not change a zero-state CRC
    raw = crc_rows(padded.reshape(nrows, chunk))
    t0, t1, t2, t3 = _zeros_tables(chunk.bit_length() - 1).tolist()
    state = 0
    for r in raw.tolist():
        state = t0[state & 0xFF] ^ t1[(state >> 8) & 0xFF] ^ t2[(state >> 16) & 0xFF] ^ t3[state >> 24] ^ r
    return state ^ init_term(n) ^ 0xFFFFFFFF


def mask(crc: np.ndarray | int) -> np.ndarray | int:
    """TFRecord's masked CRC: rotate right by 15 bits and add a constant."""
    if isinstance(crc, int):
        return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF
    crc = crc.astype(np.uint32)
    return ((crc >> np.uint32(15)) | (crc << np.uint32(17))) + np.uint32(_MASK_DELTA)


def header_crcs(headers: np.ndarray) -> np.ndarray:
    """Masked CRC-32C of the 8-byte length field of each row of an (n, 8) uint8 matrix."""
    raw = crc_rows(np.ascontiguousarray(headers))
    return mask(raw ^ np.uint32(init_term(8) ^ 0xFFFFFFFF))
