"""read_scalars / read_histograms / read_images against TensorBoard's own EventAccumulator,
on logs written by the real writers."""

from __future__ import annotations

import os

import numpy as np
import pytest

from cnnvis.errors import CnnvisError
from cnnvis.scalars import (
    EventWriter,
    LogdirError,
    TorchLogger,
    read_histograms,
    read_images,
    read_scalars,
)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ea = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator",
                         reason="tensorboard is the reference implementation")


def accumulator(path) -> ea.EventAccumulator:
    keep_all = {ea.SCALARS: 0, ea.TENSORS: 0, ea.HISTOGRAMS: 0, ea.IMAGES: 0,
                ea.COMPRESSED_HISTOGRAMS: 0, ea.AUDIO: 0}
    acc = ea.EventAccumulator(str(path), size_guidance=keep_all)
    acc.Reload()
    return acc


def reference_scalars(path) -> dict[str, tuple[list, list, list]]:
    """{tag: (steps, wall_times, values)}: simple values, then tensors of the scalars plugin."""
    from tensorboard.util import tensor_util

    acc = accumulator(path)
    out = {}
    for tag in acc.Tags()["scalars"]:
        evs = acc.Scalars(tag)
        out[tag] = ([e.step for e in evs], [e.wall_time for e in evs], [e.value for e in evs])
    for tag in acc.Tags()["tensors"]:
        if acc.SummaryMetadata(tag).plugin_data.plugin_name != "scalars":
            continue
        evs = acc.Tensors(tag)
        out[tag] = ([e.step for e in evs], [e.wall_time for e in evs],
                    [float(tensor_util.make_ndarray(e.tensor_proto)) for e in evs])
    return out


def assert_same_as_tensorboard(logdir, runs: dict) -> None:
    assert runs, "no runs read"
    for run, tags in runs.items():
        ref = reference_scalars(os.path.join(logdir, run))
        assert sorted(tags) == sorted(ref), run
        for tag, s in tags.items():
            steps, walls, values = ref[tag]
            assert s.steps.dtype == np.int64 and s.values.dtype == np.float64
            assert s.wall_times.dtype == np.float64
            np.testing.assert_array_equal(s.steps, steps)
            np.testing.assert_array_equal(s.wall_times, walls)
            np.testing.assert_array_equal(s.values, values)


def write_torch(logdir, steps=300):
    from torch.utils.tensorboard import SummaryWriter

    rng = np.random.default_rng(0)
    with SummaryWriter(str(logdir)) as w:
        for step in range(steps):  # 300 steps cross the one- and two-byte step varints
            w.add_scalar("loss", float(rng.normal()), step)
            w.add_scalar("train/acc1", float(rng.random()), step)
            w.add_scalar("train/acc5", float(rng.random()), step)  # same length as acc1
            if step % 50 == 0:
                w.add_scalar("val/loss", float("nan") if step == 100 else 1.0 / (step + 1), step)
        w.add_scalar("loss", 7.0, 10**12)  # a huge step: a long varint
        w.add_histogram("weights", rng.normal(size=1000), 0)
        w.add_histogram("weights", rng.normal(size=1000) * 2, 1)


def test_torch_summary_writer_matches_event_accumulator(tmp_path):
    pytest.importorskip("torch")
    write_torch(tmp_path / "run1")
    write_torch(tmp_path / "nested" / "run2", steps=20)
    runs = read_scalars(tmp_path)
    assert sorted(runs) == ["nested/run2", "run1"]
    assert len(runs["run1"]["loss"]) == 301
    assert np.isnan(runs["run1"]["val/loss"].values[2])
    assert_same_as_tensorboard(tmp_path, runs)


def test_histograms_match_event_accumulator(tmp_path):
    pytest.importorskip("torch")
    write_torch(tmp_path, steps=3)
    hist = read_histograms(tmp_path)["."]["weights"]
    ref = accumulator(tmp_path).Histograms("weights")
    np.testing.assert_array_equal(hist.steps, [e.step for e in ref])
    np.testing.assert_array_equal(hist.wall_times, [e.wall_time for e in ref])
    for i, e in enumerate(ref):
        h = e.histogram_value
        assert (hist.min[i], hist.max[i], hist.num[i], hist.sum[i], hist.sum_squares[i]) == \
            (h.min, h.max, h.num, h.sum, h.sum_squares)
        np.testing.assert_array_equal(hist.bucket_limits[i], h.bucket_limit)
        np.testing.assert_array_equal(hist.counts[i], h.bucket)
        assert len(hist.edges[i]) == len(hist.counts[i]) + 1
        assert np.all(np.diff(hist.edges[i]) >= 0)


def test_tensorboardx_matches_event_accumulator(tmp_path):
    tbx = pytest.importorskip("tensorboardX", reason="tensorboardX writer")
    with tbx.SummaryWriter(str(tmp_path / "tbx")) as w:
        for step in range(0, 400, 3):
            w.add_scalar("loss", 1.0 / (step + 1), step)
            w.add_scalar("metrics/accuracy", step / 400, step)
    runs = read_scalars(tmp_path)
    assert len(runs["tbx"]["loss"]) == 134
    assert_same_as_tensorboard(tmp_path, runs)


def test_tf_summary_scalar_tensors_match(tmp_path):
    tf = pytest.importorskip("tensorflow", reason="tf.summary writer")
    writer = tf.summary.create_file_writer(str(tmp_path / "tf"))
    with writer.as_default():
        for step in range(0, 300, 7):
            tf.summary.scalar("loss", 1.0 / (step + 1), step=step)
            tf.summary.scalar("lr", tf.constant(0.1, tf.float64), step=step)
            tf.summary.scalar("count", tf.constant(step, tf.int64), step=step)
        tf.summary.histogram("w", np.arange(10.0), step=0)
        tf.summary.image("img", np.zeros((2, 5, 7, 3), np.float32), step=3, max_outputs=2)
    writer.close()
    runs = read_scalars(tmp_path)
    assert sorted(runs["tf"]) == ["count", "loss", "lr"]
    assert_same_as_tensorboard(tmp_path, runs)
    hist = read_histograms(tmp_path)["tf"]["w"]
    assert hist.num[0] == 10 and hist.min[0] == 0 and hist.max[0] == 9
    images = read_images(tmp_path)["tf"]["img"]
    assert [(i.step, i.width, i.height, i.index) for i in images] == [(3, 7, 5, 0), (3, 7, 5, 1)]
    assert images[0].data.startswith(b"\x89PNG")


def test_keras_tensorboard_callback_matches(tmp_path):
    keras = pytest.importorskip("keras", reason="Keras TensorBoard callback")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x, y = np.random.default_rng(0).normal(size=(32, 4)), np.zeros((32, 1))
    model.fit(x, y, epochs=2, batch_size=8, validation_data=(x[:8], y[:8]), verbose=0,
              callbacks=[keras.callbacks.TensorBoard(str(tmp_path))])
    runs = read_scalars(tmp_path)
    assert {"train", "validation"} <= set(runs)
    assert len(runs["train"]["epoch_loss"]) == 2 and len(runs["validation"]["epoch_loss"]) == 2
    assert_same_as_tensorboard(tmp_path, runs)


def test_own_writer_is_readable_by_tensorboard(tmp_path):
    with EventWriter(tmp_path / "own") as w:
        for step in range(200):
            w.add_scalar("loss", 1.0 / (step + 1), step)
        w.add_histogram("h", np.arange(100.0), 5)
        w.add_image("img", np.zeros((4, 6, 3), np.uint8), 5)
    runs = read_scalars(tmp_path)
    assert_same_as_tensorboard(tmp_path, runs)
    ref = accumulator(tmp_path / "own")
    assert ref.Histograms("h")[0].histogram_value.num == 100
    img = read_images(tmp_path)["own"]["img"][0]
    assert (img.width, img.height) == (6, 4)
    assert ref.Images("img")[0].encoded_image_string == img.data


def test_torch_logger_model(tmp_path):
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    with TorchLogger(tmp_path, snapshot=lambda m: np.zeros((8, 8, 3), np.uint8)) as log:
        for step in range(3):
            model.zero_grad()
            model(torch.randn(5, 4)).sum().backward()
            log.log_scalars({"loss": 1.0 / (step + 1), "lr": 0.1}, step)
            log.log_model(model, step)
    runs = read_scalars(tmp_path)["."]
    assert {"loss", "lr", "grad_norm/total", "grad_norm/0.weight"} <= set(runs)
    hist = read_histograms(tmp_path)["."]
    assert {"weights/0.weight", "grads/2.bias"} <= set(hist)
    assert read_images(tmp_path)["."]["snapshot"][0].width == 8


def test_memory_filesystem_logdir():
    fsspec = pytest.importorskip("fsspec")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        with EventWriter(os.path.join(tmp, "a")) as w:
            for step in range(50):
                w.add_scalar("loss", float(step), step)
        fs = fsspec.filesystem("memory")
        for name in os.listdir(os.path.join(tmp, "a")):
            with open(os.path.join(tmp, "a", name), "rb") as f:
                fs.pipe(f"/cnnvis-test/logs/a/{name}", f.read())
    try:
        runs = read_scalars("memory://cnnvis-test/logs")
        assert list(runs) == ["a"]
        np.testing.assert_array_equal(runs["a"]["loss"].values, np.arange(50.0))
    finally:
        fs.rm("/cnnvis-test", recursive=True)


def test_missing_logdir_is_a_cnnvis_error(tmp_path):
    with pytest.raises(LogdirError, match="does not exist") as info:
        read_scalars(tmp_path / "nope")
    assert isinstance(info.value, CnnvisError)


def test_empty_logdir_and_empty_file(tmp_path):
    assert read_scalars(tmp_path) == {}
    (tmp_path / "events.out.tfevents.0.empty").write_bytes(b"")
    assert read_scalars(tmp_path) == {".": {}}


def test_keras_logger_callback(tmp_path):
    keras = pytest.importorskip("keras", reason="Keras callback")
    from cnnvis.scalars import KerasLogger, health_alerts

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="dense")])
    model.compile("sgd", "mse", metrics=["mae"])
    x, y = np.random.default_rng(0).normal(size=(16, 4)), np.zeros((16, 2))
    logger = KerasLogger(tmp_path, snapshot=lambda m: np.zeros((2, 6, 5, 3), np.uint8))
    assert isinstance(logger, keras.callbacks.Callback)
    model.fit(x, y, epochs=2, validation_data=(x[:4], y[:4]), verbose=0, callbacks=[logger])
    runs = read_scalars(tmp_path)
    assert {"epoch_loss", "epoch_mae", "epoch_learning_rate"} <= set(runs["train"])
    assert set(runs["validation"]) == {"epoch_loss", "epoch_mae"}
    np.testing.assert_array_equal(runs["validation"]["epoch_loss"].steps, [0, 1])
    assert_same_as_tensorboard(tmp_path, runs)
    assert len(read_histograms(tmp_path)["train"]) == 2  # kernel and bias
    assert [i.width for i in read_images(tmp_path)["train"]["snapshot/1"]] == [5, 5]
    assert health_alerts(runs) == []


def test_single_event_file_path(tmp_path):
    with EventWriter(tmp_path) as w:
        w.add_scalar("loss", 1.5, 3)
    path = next(tmp_path.glob("*tfevents*"))
    assert read_scalars(path)["."]["loss"].values.tolist() == [1.5]


def test_restart_purge_like_event_accumulator(tmp_path):
    from cnnvis.scalars.writers import _bytes_field, _int, encode_event

    with EventWriter(tmp_path) as w:
        for step in range(10):
            w.add_scalar("loss", float(step), step)
        w.write(encode_event(50.0, 5) + _bytes_field(7, _int(1, 1)))  # SessionLog START at step 5
        for step in range(5, 8):
            w.add_scalar("loss", 100.0 + step, step)
    runs = read_scalars(tmp_path)
    assert runs["."]["loss"].steps.tolist() == [0, 1, 2, 3, 4, 5, 6, 7]
    assert_same_as_tensorboard(tmp_path, runs)
