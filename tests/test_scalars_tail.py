"""ScalarTail: only new points, each exactly once, new files and runs picked up."""

from __future__ import annotations

import numpy as np
import pytest

from cnnvis.scalars import EventWriter, ScalarTail, read_scalars
from cnnvis.scalars.writers import encode_event, frame_record, scalar_value


def steps_of(polled, run, tag):
    return polled.get(run, {}).get(tag).steps.tolist() if tag in polled.get(run, {}) else []


def test_tail_with_live_torch_writer(tmp_path):
    pytest.importorskip("torch")
    from torch.utils.tensorboard import SummaryWriter

    tail = ScalarTail(tmp_path)
    assert tail.poll() == {}
    w = SummaryWriter(str(tmp_path / "a"))
    seen: list[int] = []
    for chunk in range(4):
        for step in range(chunk * 70, chunk * 70 + 70):  # crosses the 128-step varint boundary
            w.add_scalar("loss", step * 0.5, step)
            w.add_scalar("acc", 1.0, step)
        w.flush()
        new = tail.poll()
        assert steps_of(new, "a", "loss") == list(range(chunk * 70, chunk * 70 + 70))
        np.testing.assert_array_equal(new["a"]["loss"].values, np.arange(chunk * 70, chunk * 70 + 70) * 0.5)
        seen += steps_of(new, "a", "loss")
        assert tail.poll() == {}  # nothing twice
    w.close()
    assert seen == list(range(280))

    w2 = SummaryWriter(str(tmp_path / "b" / "nested"))  # a new run directory appears
    w2.add_scalar("loss", 3.0, 7)
    w2.close()
    new = tail.poll()
    assert list(new) == ["b/nested"] and steps_of(new, "b/nested", "loss") == [7]
    full = read_scalars(tmp_path)
    assert full["a"]["loss"].steps.tolist() == seen


def test_half_written_record_waits(tmp_path):
    rec = [frame_record(encode_event(100.0 + i, i, values=[scalar_value("x", float(i))])) for i in range(3)]
    path = tmp_path / "events.out.tfevents.1.host"
    path.write_bytes(rec[0] + rec[1][:7])
    tail = ScalarTail(tmp_path)
    assert steps_of(tail.poll(), ".", "x") == [0]
    with open(path, "ab") as f:
        f.write(rec[1][7:20])
    assert tail.poll() == {}
    with open(path, "ab") as f:
        f.write(rec[1][20:] + rec[2])
    polled = tail.poll()
    assert steps_of(polled, ".", "x") == [1, 2]
    np.testing.assert_array_equal(polled["."]["x"].wall_times, [101.0, 102.0])


def test_new_event_file_in_existing_run_and_missing_logdir(tmp_path):
    tail = ScalarTail(tmp_path / "later")
    assert tail.poll() == {}
    with EventWriter(tmp_path / "later") as w:
        w.add_scalar("loss", 1.0, 1)
    assert steps_of(tail.poll(), ".", "loss") == [1]
    with EventWriter(tmp_path / "later") as w:  # a second file (a restarted job)
        w.add_scalar("loss", 2.0, 2)
    assert steps_of(tail.poll(), ".", "loss") == [2]
    assert tail.poll() == {}


def test_tail_of_tensor_scalars_keeps_plugin_metadata(tmp_path):
    tf = pytest.importorskip("tensorflow", reason="tf.summary writer")
    writer = tf.summary.create_file_writer(str(tmp_path))
    tail = ScalarTail(tmp_path)
    with writer.as_default():
        tf.summary.scalar("loss", 1.0, step=0)
        writer.flush()
        assert steps_of(tail.poll(), ".", "loss") == [0]
        for step in range(1, 4):
            tf.summary.scalar("loss", 1.0 / step, step=step)
        writer.flush()
    assert steps_of(tail.poll(), ".", "loss") == [1, 2, 3]
    writer.close()


def test_tail_over_fsspec_memory_filesystem():
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    recs = [frame_record(encode_event(1.0 + i, i, values=[scalar_value("loss", float(i))])) for i in range(5)]
    path = "/cnnvis-tail-test/run/events.out.tfevents.1.host"
    try:
        fs.pipe(path, recs[0] + recs[1][:9])
        tail = ScalarTail("memory://cnnvis-tail-test")
        assert steps_of(tail.poll(), "run", "loss") == [0]
        fs.pipe(path, b"".join(recs))  # the file grew
        assert steps_of(tail.poll(), "run", "loss") == [1, 2, 3, 4]
        assert tail.poll() == {}
    finally:
        fs.rm("/cnnvis-tail-test", recursive=True)
