"""The batch_results kind on a real `cnnvis.batch` run: groups per class, worst deletion AUC first,
one PNG thumbnail per shown row, and refusals with a reason."""

import cv2
import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("pyarrow")

from batch_run import COUNT, make_batch_run  # noqa: E402

from cnnvis.services import Dispatcher  # noqa: E402
from cnnvis.services.errors import BadRequest, NotFound  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_batch_run(tmp_path_factory.mktemp("batchview"))


def test_groups_worst_deletion_first_with_thumbnails(run):
    reply = Dispatcher().handle("batch_results", {"dir": str(run)})
    result = reply.result
    assert result["methods"] == ["gradcam"] and result["metric"] == "deletion" and result["worst"] == "highest"
    assert sum(g["count"] for g in result["groups"]) == COUNT and result["failed"] == 0
    assert [g["class"] for g in result["groups"]] == result["classes"] == [0, 1]
    for group in result["groups"]:
        aucs = [r["deletion"] for r in group["rows"]]
        assert aucs == sorted(aucs, reverse=True) and len(aucs) == min(24, group["count"])
    shown = [r for g in result["groups"] for r in g["rows"]]
    assert [r["thumbnail"] for r in shown] == list(range(len(reply.buffers)))
    thumb = cv2.imdecode(np.frombuffer(reply.buffers[0], np.uint8), cv2.IMREAD_COLOR)
    assert thumb.shape == (64, 64, 3)  # 32x32 maps enlarged for the gallery


def test_one_class_limit_and_no_thumbnails(run):
    reply = Dispatcher().handle("batch_results", {"dir": str(run), "class": 1, "limit": 3, "thumbnails": False})
    (group,) = reply.result["groups"]
    assert group["class"] == 1 and len(group["rows"]) == 3 and not reply.buffers
    everything = Dispatcher().handle("batch_results", {"dir": str(run), "class": 1, "limit": 500}).result
    assert group["rows"][0]["key"] == everything["groups"][0]["rows"][0]["key"]


def test_refusals(run, tmp_path):
    dispatcher = Dispatcher()
    for args in ({}, {"dir": str(run), "method": "scorecam"}, {"dir": str(run), "limit": 0},
                 {"dir": str(run), "class": "cat"}, {"dir": str(run), "metric": "insertion"}):
        with pytest.raises(BadRequest):
            dispatcher.handle("batch_results", args)
    with pytest.raises(NotFound):
        dispatcher.handle("batch_results", {"dir": str(tmp_path)})
