"""The services behind the widget and the server: one protocol, real models and real event files."""

import os

import numpy as np
import pytest
from helpers import small_cnn_dispatcher

from cnnvis.scalars import EventWriter
from cnnvis.services import BadRequest, Dispatcher, ModelSession, NotFound, resolve_under_root
from cnnvis.services.codec import from_npy, to_npy
from cnnvis.services.errors import Forbidden

torch = pytest.importorskip("torch")


@pytest.fixture()
def dispatcher():
    return small_cnn_dispatcher(class_names=["a", "b", "c"])


def test_status_lists_methods_and_kinds(dispatcher):
    result = dispatcher.handle("status").result
    assert "gradcam" in result["methods"] and "explain" in result["kinds"]


def test_explain_reply_carries_png_and_npy(dispatcher):
    reply = dispatcher.handle("explain", {"method": "gradcam++", "target": 1})
    assert reply.result["targets"] == [1, 1]
    assert reply.result["target_names"] == ["b", "b"]
    assert len(reply.buffers) == 2 + 3
    assert all(b.startswith(b"\x89PNG") for b in reply.buffers[:2])
    raw = from_npy(reply.buffers[2])
    assert raw.shape == tuple(reply.result["raw_shape"])


def test_explain_accepts_inputs_as_npy(dispatcher):
    x = np.random.default_rng(0).normal(size=(1, 3, 12, 12)).astype(np.float32)
    reply = dispatcher.handle("explain", {}, [to_npy(x)])
    assert reply.result["shape"] == [1, 12, 12]


def test_activations_reply(dispatcher):
    reply = dispatcher.handle("activations", {"layer": "1", "index": 1})
    channels = from_npy(reply.buffers[0])
    assert channels.shape == (8, 12, 12)
    stats = reply.result["stats"]
    assert len(stats["mean"]) == 8 and all(0 <= s <= 1 for s in stats["sparsity"])


def test_bad_requests_are_service_errors(dispatcher):
    with pytest.raises(BadRequest, match="Unknown request kind"):
        dispatcher.handle("bogus")
    with pytest.raises(BadRequest, match="layer"):
        dispatcher.handle("activations", {})
    with pytest.raises(BadRequest, match="out of range"):
        dispatcher.handle("activations", {"layer": "1", "index": 5})
    with pytest.raises(NotFound):
        dispatcher.handle("graph", {"model": "nope"})
    with pytest.raises(BadRequest, match="unpickling|npy"):
        dispatcher.handle("explain", {}, [np.array([object()]).dumps()])


def test_scalars_since_cursor_sends_each_point_once(dispatcher, tmp_path):
    writer = EventWriter(str(tmp_path / "train"))
    for step in range(10):
        writer.add_scalar("loss", 1.0 / (step + 1), step)
    writer.flush()
    dispatcher.scalars.max_age = 0.0  # re-read on every query
    first = dispatcher.handle("scalars", {"logdir": str(tmp_path), "run": "train", "tag": "loss"}).result
    assert first["steps"] == list(range(10)) and first["cursor"] == 10
    for step in range(10, 15):
        writer.add_scalar("loss", float("nan") if step == 12 else 0.05, step)
    writer.flush()
    more = dispatcher.handle("scalars", {"logdir": str(tmp_path), "run": "train", "tag": "loss",
                                         "since": first["cursor"]}).result
    assert more["steps"] == [10, 11, 12, 13, 14]
    assert more["values"][2] == "NaN"
    alerts = dispatcher.handle("alerts", {"logdir": str(tmp_path)}).result["alerts"]
    assert any(a["kind"] == "nan" or "nan" in a["kind"].lower() for a in alerts)
    writer.close()


def test_scalars_downsample_and_smooth(dispatcher, tmp_path):
    writer = EventWriter(str(tmp_path))
    values = np.sin(np.arange(5000) / 50.0)
    values[1234] = 40.0  # a spike sampling would drop
    for step, v in enumerate(values):
        writer.add_scalar("acc", float(v), step)
    writer.close()
    result = dispatcher.handle("scalars", {"logdir": str(tmp_path), "run": ".", "tag": "acc",
                                           "points": 200, "smoothing": 0.6}).result
    assert result["downsampled"] and len(result["steps"]) <= 202
    assert 40.0 in result["values"] and 1234 in result["steps"]
    assert len(result["smoothed"]) == len(result["steps"])
    with pytest.raises(BadRequest):
        dispatcher.handle("scalars", {"logdir": str(tmp_path), "run": ".", "tag": "acc", "points": "many"})


def test_paths_stay_under_root(tmp_path):
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "ok.txt").write_text("x")
    (tmp_path / "secret.txt").write_text("x")
    os.symlink(tmp_path / "secret.txt", tmp_path / "root" / "link.txt")
    root = tmp_path / "root"
    assert resolve_under_root(root, "ok.txt") == (root / "ok.txt").resolve()
    for bad in ("../secret.txt", str(tmp_path / "secret.txt"), "link.txt", "a/../../secret.txt"):
        with pytest.raises(Forbidden):
            resolve_under_root(root, bad)
    with pytest.raises(NotFound):
        resolve_under_root(root, "missing.txt")


def test_job_manager_refuses_more_than_its_pending_limit():
    import threading

    from cnnvis.services.errors import TooManyJobs
    from cnnvis.services.jobs import JobManager

    release = threading.Event()
    manager = JobManager(concurrency=1, max_pending=2)
    try:
        for _ in range(2):
            manager.submit("wait", lambda progress, cancel: release.wait(10) and None)
        with pytest.raises(TooManyJobs, match="already queued or running"):
            manager.submit("wait", lambda progress, cancel: None)
    finally:
        release.set()
        manager.shutdown()


def test_keras_session_explains_selected_inputs():
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((12, 12, 3)), keras.layers.Conv2D(4, 3, padding="same", name="conv"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])
    x = np.random.default_rng(0).normal(size=(3, 12, 12, 3)).astype(np.float32)
    d = Dispatcher()
    d.add_session("k", ModelSession(model, x))
    reply = d.handle("explain", {"indices": [2, 0], "layer": "conv"})
    assert reply.result["shape"] == [2, 12, 12]
