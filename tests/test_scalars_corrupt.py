"""Damaged event files: every intact record is read and the damage is reported, never raised."""

from __future__ import annotations

import struct
import warnings

import numpy as np
import pytest

from cnnvis.scalars import CorruptEventFileWarning, EventWriter, read_scalars
from cnnvis.scalars.crc import crc32c, mask
from cnnvis.scalars.writers import encode_event, frame_record, scalar_value


def write_log(directory, n=100):
    with EventWriter(directory) as w:
        for step in range(n):
            w.add_scalar("loss", float(step), step)
            if step % 10 == 0:
                w.add_histogram("h", np.arange(step + 5.0), step)  # long records mixed in
    return next(directory.glob("*tfevents*"))


def record_offsets(data: bytes) -> list[int]:
    offsets, pos = [], 0
    while pos + 12 <= len(data):
        offsets.append(pos)
        pos += struct.unpack_from("<Q", data, pos)[0] + 16
    return offsets


def scalar_offsets(data: bytes) -> list[int]:
    """Offsets of the records holding a "loss" scalar."""
    return [o for o in record_offsets(data) if b"\x0a\x04loss\x15" in data[o + 12: o + 60]]


def read_warned(logdir):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runs = read_scalars(logdir)
    found = [w.message for w in caught if issubclass(w.category, CorruptEventFileWarning)]
    return runs, found


def test_crc32c_known_values():
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0
    assert crc32c(bytes(32)) == 0x8A9136AA
    data = np.random.default_rng(0).integers(0, 256, 100_000, dtype=np.uint8)
    small = crc32c(data[:200].tobytes())
    assert crc32c(data[:200]) == small
    state = 0xFFFFFFFF
    table = [0] * 256
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table[i] = c
    for b in data.tobytes():
        state = table[(state ^ b) & 0xFF] ^ (state >> 8)
    assert crc32c(data) == state ^ 0xFFFFFFFF


def test_frame_matches_tensorflow_framing():
    record = frame_record(b"hello")
    assert record[:8] == struct.pack("<Q", 5)
    assert struct.unpack("<I", record[8:12])[0] == mask(crc32c(record[:8]))
    assert struct.unpack("<I", record[-4:])[0] == mask(crc32c(b"hello"))


def test_truncated_last_record(tmp_path):
    path = write_log(tmp_path)
    data = path.read_bytes()
    last = record_offsets(data)[-1]
    path.write_bytes(data[:-5])
    runs, found = read_warned(tmp_path)
    assert len(runs["."]["loss"]) == 99
    assert len(found) == 1 and found[0].offset == last and found[0].path.endswith(path.name)
    assert "truncated" in str(found[0]) and str(last) in str(found[0])


def test_bad_data_crc_in_the_middle(tmp_path):
    path = write_log(tmp_path)
    data = bytearray(path.read_bytes())
    victim = scalar_offsets(bytes(data))[40]
    data[victim + 14] ^= 0x55  # inside the wall time: still parses, only the CRC can tell
    path.write_bytes(bytes(data))
    runs, found = read_warned(tmp_path)
    loss = runs["."]["loss"]
    assert len(loss) == 99 and 40 not in loss.steps
    np.testing.assert_array_equal(loss.steps, [s for s in range(100) if s != 40])
    assert [w.offset for w in found] == [victim]
    assert "CRC" in str(found[0]) and path.name in str(found[0])


def test_bad_length_crc_resyncs(tmp_path):
    path = write_log(tmp_path)
    data = bytearray(path.read_bytes())
    victim = scalar_offsets(bytes(data))[60]
    data[victim] ^= 0x7F  # the length field: the next record must be found by scanning
    path.write_bytes(bytes(data))
    runs, found = read_warned(tmp_path)
    np.testing.assert_array_equal(runs["."]["loss"].steps, [s for s in range(100) if s != 60])
    assert found and found[0].offset == victim


def test_garbage_between_records_and_garbage_file(tmp_path):
    path = write_log(tmp_path / "run")
    data = path.read_bytes()
    cut = scalar_offsets(data)[30]
    junk = np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    path.write_bytes(data[:cut] + junk + data[cut:])
    (tmp_path / "run" / "events.out.tfevents.123.garbage").write_bytes(junk * 3)
    (tmp_path / "run" / "notes.txt").write_text("not an event file, ignored like TensorBoard does")
    runs, found = read_warned(tmp_path)
    np.testing.assert_array_equal(runs["run"]["loss"].steps, np.arange(100))
    assert {w.offset for w in found if w.path.endswith(path.name)} == {cut}
    assert any(w.path.endswith("garbage") and w.offset == 0 for w in found)


def test_undecodable_event_inside_valid_framing(tmp_path):
    good = frame_record(encode_event(1.0, 1, values=[scalar_value("loss", 1.0)]))
    bad = frame_record(b"\xff\xff\xff")  # valid CRCs around bytes that are not an Event
    (tmp_path / "events.out.tfevents.1.x").write_bytes(good + bad + good)
    runs, found = read_warned(tmp_path)
    assert len(runs["."]["loss"]) == 2
    assert [w.offset for w in found] == [len(good)]


@pytest.mark.parametrize("keep", [3, 11, 12, 20])
def test_every_prefix_of_a_record_is_left_alone(tmp_path, keep):
    rec = frame_record(encode_event(1.0, 5, values=[scalar_value("loss", 2.0)]))
    (tmp_path / "events.out.tfevents.1.x").write_bytes(rec + rec[:keep])
    runs, found = read_warned(tmp_path)
    assert len(runs["."]["loss"]) == 1
    assert len(found) == 1 and found[0].offset == len(rec)
