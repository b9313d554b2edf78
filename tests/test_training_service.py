"""The training requests without a browser: live scalar updates by cursor, histograms and images."""

import numpy as np
import pytest

from cnnvis.scalars import EventWriter, TorchLogger
from cnnvis.services import BadRequest, Dispatcher, NotFound


def _write(logdir, run, tag, steps, value=lambda s: 1.0 / (1 + s)):
    with EventWriter(logdir / run) as w:
        for s in steps:
            w.add_scalar(tag, value(s), s)


def _cursors(reply):
    out = {}
    for c in reply.result["series"]:
        out.setdefault(c["run"], {})[c["tag"]] = c["cursor"]
    return out


def test_updates_send_every_point_once_in_order(tmp_path):
    d = Dispatcher()
    _write(tmp_path, "train", "loss", range(5))
    _write(tmp_path, "validation", "loss", range(0, 5, 2))
    first = d.handle("scalar_updates", {"logdir": str(tmp_path)})
    got = {(c["run"], c["tag"]): list(c["steps"]) for c in first.result["series"]}
    assert got == {("train", "loss"): [0, 1, 2, 3, 4], ("validation", "loss"): [0, 2, 4]}
    cursors = _cursors(first)

    # Appended points (a new file in the run, as a restarted writer makes) and a new tag arrive once.
    seen = {k: list(v) for k, v in got.items()}
    with EventWriter(tmp_path / "train", filename_suffix=".b") as w:
        for s in range(5, 9):
            w.add_scalar("loss", 0.1, s)
            w.add_scalar("accuracy", 0.5, s)
            w.flush()
            d.scalars.cache(str(tmp_path)).refreshed = 0  # no waiting for the refresh interval
            reply = d.handle("scalar_updates", {"logdir": str(tmp_path), "cursors": cursors})
            for c in reply.result["series"]:
                assert c["since"] == cursors.get(c["run"], {}).get(c["tag"], 0)
                seen.setdefault((c["run"], c["tag"]), []).extend(c["steps"])
                cursors.setdefault(c["run"], {})[c["tag"]] = c["cursor"]
    assert seen[("train", "loss")] == list(range(9))
    assert seen[("train", "accuracy")] == list(range(5, 9))
    assert seen[("validation", "loss")] == [0, 2, 4]
    d.scalars.cache(str(tmp_path)).refreshed = 0
    assert d.handle("scalar_updates", {"logdir": str(tmp_path), "cursors": cursors}).result["series"] == []


def test_updates_downsample_long_series_with_the_envelope(tmp_path):
    spikes = {1234: 50.0, 7777: -40.0}
    _write(tmp_path, ".", "loss", range(20_000), lambda s: spikes.get(s, np.sin(s / 500)))
    reply = Dispatcher().handle("scalar_updates", {"logdir": str(tmp_path), "points": 500})
    (c,) = reply.result["series"]
    assert c["downsampled"] and len(c["steps"]) <= 520 and c["cursor"] == 20_000
    assert 1234 in c["steps"] and 7777 in c["steps"]
    assert max(c["hi"]) == 50.0 and min(c["lo"]) == -40.0


def test_updates_send_nan_as_strings_and_reset_a_shrunk_series(tmp_path):
    _write(tmp_path, "train", "loss", range(4), lambda s: float("nan") if s == 2 else 1.0)
    d = Dispatcher()
    (c,) = d.handle("scalar_updates", {"logdir": str(tmp_path)}).result["series"]
    assert c["values"] == [1.0, 1.0, "NaN", 1.0]
    (again,) = d.handle("scalar_updates", {"logdir": str(tmp_path),
                                           "cursors": {"train": {"loss": 99}}}).result["series"]
    assert again["reset"] and again["since"] == 0 and len(again["steps"]) == 4
    alerts = d.handle("alerts", {"logdir": str(tmp_path)}).result["alerts"]
    assert [(a["kind"], a["first_step"]) for a in alerts] == [("nan", 2)]
    with pytest.raises(BadRequest):
        d.handle("scalar_updates", {"logdir": str(tmp_path), "cursors": [1]})


def test_histograms_list_and_data(tmp_path):
    rng = np.random.default_rng(0)
    with EventWriter(tmp_path / "train") as w:
        for step in range(12):
            w.add_histogram("weights/fc", rng.normal(step, 1, size=500), step)
    d = Dispatcher()
    listing = d.handle("histograms", {"logdir": str(tmp_path)}).result
    assert listing["runs"] == [{"run": "train", "tags": [{"tag": "weights/fc", "count": 12, "last_step": 11}]}]
    data = d.handle("histograms", {"logdir": str(tmp_path), "run": "train", "tag": "weights/fc", "limit": 5}).result
    assert data["total"] == 12 and data["steps"][0] == 0 and data["steps"][-1] == 11 and len(data["steps"]) == 5
    assert all(len(e) == len(c) + 1 for e, c in zip(data["edges"], data["counts"], strict=True))
    assert sum(data["counts"][0]) == pytest.approx(500)
    with pytest.raises(NotFound):
        d.handle("histograms", {"logdir": str(tmp_path), "run": "train", "tag": "nope"})


def test_images_include_logger_snapshots(tmp_path):
    torch = pytest.importorskip("torch")
    model = torch.nn.Linear(4, 2)

    def snapshot(m):
        return np.full((2, 8, 8, 3), 200, np.uint8)  # a batch: one tag per image

    with TorchLogger(tmp_path / "train", snapshot=snapshot) as log:
        for step in range(3):
            log.log_model(model, step, histograms=False)
        log.log_image("sample", np.zeros((6, 5, 3), np.uint8), 0)
    d = Dispatcher()
    runs = d.handle("images", {"logdir": str(tmp_path)}).result["runs"]
    tags = {t["tag"]: t["steps"] for t in runs[0]["tags"]}
    assert tags == {"sample": [0], "snapshot/0": [0, 1, 2], "snapshot/1": [0, 1, 2]}
    reply = d.handle("images", {"logdir": str(tmp_path), "run": "train", "tag": "snapshot/0"})
    assert [m["step"] for m in reply.result["images"]] == [0, 1, 2]
    assert len(reply.buffers) == 3 and all(b.startswith(b"\x89PNG") for b in reply.buffers)
    assert reply.result["images"][0]["mime"] == "image/png"
    one = d.handle("images", {"logdir": str(tmp_path), "run": "train", "tag": "sample", "step": 0})
    assert one.result["images"][0]["width"] == 5 and one.result["images"][0]["height"] == 6


def test_logdir_only_widget_and_magic(tmp_path):
    pytest.importorskip("anywidget")
    from cnnvis.notebook import show
    from cnnvis.notebook.magic import cnnvis_magic

    _write(tmp_path, "train", "loss", range(3))
    w = show(logdir=tmp_path)
    try:
        assert w.summary["has_model"] is False and w.summary["logdir"] == str(tmp_path)
        replies = []
        w.send = lambda content, buffers=None: replies.append(content)
        w.handle_request("r1", "scalar_updates", {"logdir": str(tmp_path)})
        assert replies[0]["ok"] and replies[0]["result"]["series"][0]["steps"] == [0, 1, 2]
    finally:
        w.close()
    m = cnnvis_magic(f"--logdir {tmp_path}", {})
    try:
        assert m.summary["has_model"] is False
    finally:
        m.close()
