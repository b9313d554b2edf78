"""The trust kinds (``sanity``, ``faithfulness``) over the notebook widget's message protocol and
the dispatcher: they explain with the last explain settings, report progress and can be cancelled."""

import threading

import numpy as np
import pytest

import cnnvis
from cnnvis.notebook.protocol import MessageProtocol
from cnnvis.services import Dispatcher, ModelSession

torch = pytest.importorskip("torch")


def small_cnn():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 4)).eval()


@pytest.fixture
def inputs():
    return np.random.default_rng(0).normal(size=(3, 3, 16, 16)).astype(np.float32)


def ask(widget, kind, args):
    """Sends one request through the widget's comm handler; the final reply and the progress seen."""
    replies, progress, done = [], [], threading.Event()

    def send(content, buffers=None):
        if "progress" in content:
            progress.append(content["progress"])
        elif content.get("id") == "r1":
            replies.append(content)
            done.set()

    widget.send = send
    widget._on_message(widget, {"id": "r1", "kind": kind, "args": args}, [])
    assert done.wait(120)
    return replies[0], progress


def test_widget_answers_sanity_with_per_stage_scores_and_progress(inputs):
    widget = cnnvis.show(small_cnn(), inputs)
    try:
        reply, progress = ask(widget, "sanity", {"method": "gradcam", "layer": "2", "indices": [0, 1]})
    finally:
        widget.close()
    assert reply["ok"] is True, reply
    result = reply["result"]
    assert result["method"] == "gradcam" and result["layer"] == "2" and result["inputs"] == 2
    assert isinstance(result["passed"], bool) and result["verdict"]
    assert [s["stage"] for s in result["stages"]] == [0, 1, 2, 3]  # original + three layers with weights
    assert result["stages"][0]["spearman"] == pytest.approx(1.0)
    assert progress and progress[-1] == {"done": 3, "total": 3}


def test_faithfulness_reuses_the_last_explain_settings(inputs):
    dispatcher = Dispatcher()
    dispatcher.add_session("m", ModelSession(small_cnn(), inputs))
    dispatcher.handle("explain", {"method": "gradcam++", "layer": "0", "target": 2})
    seen = []
    result = dispatcher.handle("faithfulness", {"steps": 4},
                               progress=lambda done, total: seen.append((done, total))).result
    assert result["method"] == "gradcam++" and result["layer"] == "0" and result["targets"] == [2, 2, 2]
    assert set(result["metrics"]) == {"deletion", "insertion"}
    deletion = result["metrics"]["deletion"]
    assert len(deletion["fractions"]) == 5 and len(deletion["auc"]) == 3 and 0 <= deletion["mean_auc"] <= 1
    assert seen[-1] == (30, 30)  # 3 images x 5 steps x 2 metrics, one bar


def test_trust_kinds_refuse_bad_arguments(inputs):
    dispatcher = Dispatcher()
    dispatcher.add_session("m", ModelSession(small_cnn(), inputs))
    for kind, args, match in (("faithfulness", {"metrics": ["roar"]}, "metrics"),
                              ("faithfulness", {"steps": 0}, "steps"),
                              ("sanity", {"threshold": "x"}, "threshold"),
                              ("sanity", {"indices": [7]}, "out of range")):
        with pytest.raises(cnnvis.CnnvisError, match=match):
            dispatcher.handle(kind, args)


def test_a_cancelled_check_answers_cancelled(inputs):
    dispatcher = Dispatcher()
    dispatcher.add_session("m", ModelSession(small_cnn(), inputs))
    replies = []
    protocol = MessageProtocol(dispatcher, lambda content, buffers: replies.append(content))
    cancel = threading.Event()
    cancel.set()
    try:
        protocol.handle_request("c1", "sanity", {"layer": "2"}, cancel=cancel)
    finally:
        protocol.close()
    final = [r for r in replies if "ok" in r]
    assert final[0]["ok"] is False and final[0]["error"]["type"] == "CancelledError"
