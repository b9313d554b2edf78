"""The Explain view's targets for detectors and segmentation models: the explain reply carries the
boxes (labels, scores) or the classes present with a per-pixel class buffer, and ``{"box": i}`` /
``{"class": c}`` targets explain that box or class, through the widget as through the dispatcher."""

import threading

import numpy as np
import pytest

import cnnvis
from cnnvis.services import Dispatcher, ModelSession
from cnnvis.services.codec import from_npy

torch = pytest.importorskip("torch")


class TinySegmenter(torch.nn.Module):
    """A dict output as torchvision's segmentation models: {"out": (N, classes, H, W)}."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU())
        self.head = torch.nn.Conv2d(8, 3, 1)

    def forward(self, x):
        return {"out": self.head(self.body(x))}


@pytest.fixture(scope="module")
def detector():
    detection = pytest.importorskip("torchvision.models.detection")
    torch.manual_seed(0)
    model = detection.fasterrcnn_mobilenet_v3_large_fpn(weights=None, weights_backbone=None, box_score_thresh=0,
                                                        min_size=224, max_size=224).eval()
    return model, torch.rand(1, 3, 224, 224)


def ask(widget, args):
    replies, done = [], threading.Event()

    def send(content, buffers=None):
        if content.get("id") == "e1" and "ok" in content:
            replies.append((content, buffers))
            done.set()

    widget.send = send
    widget._on_message(widget, {"id": "e1", "kind": "explain", "args": args}, [])
    assert done.wait(180)
    return replies[0]


def test_widget_explains_a_picked_box_and_lists_the_detections(detector):
    model, x = detector
    widget = cnnvis.show(model, x)
    try:
        first, _ = ask(widget, {})  # a detector's layer defaults to the end of its backbone
        other, _ = ask(widget, {"layer": "backbone.body.16", "target": {"box": 3}})
    finally:
        widget.close()
    assert first["ok"] is True, first
    result = first["result"]
    assert result["layer"] == "backbone.body.16"
    assert result["output_kind"] == "detection" and result["target"] == {"box": 0} and result["top_k"] == [[]]
    boxes = result["detections"][0]
    assert len(boxes) == 20 and set(boxes[0]) == {"box", "label", "name", "score"} and len(boxes[0]["box"]) == 4
    assert boxes[0]["score"] >= boxes[-1]["score"]
    assert other["ok"] is True and other["result"]["target"] == {"box": 3}


def test_box_targets_follow_the_detection_target(detector):
    from cnnvis.targets import Detection

    model, x = detector
    dispatcher = Dispatcher()
    dispatcher.add_session("det", ModelSession(model, x))
    reply = dispatcher.handle("explain", {"layer": "backbone.body.16", "target": {"box": 2}})
    found = model(x)[0]
    expected = cnnvis.explain(model, x, target=Detection(found["boxes"][2:3].detach(), found["labels"][2:3]),
                              layer="backbone.body.16")
    assert np.allclose(from_npy(reply.buffers[2]), expected.maps, atol=1e-5)
    with pytest.raises(cnnvis.CnnvisError, match="per-pixel"):
        dispatcher.handle("explain", {"layer": "backbone.body.16", "target": {"class": 1}})


def test_segmentation_classes_and_class_targets():
    from cnnvis.targets import Segmentation

    model = TinySegmenter().eval()
    x = torch.rand(2, 3, 12, 12)
    dispatcher = Dispatcher()
    dispatcher.add_session("seg", ModelSession(model, x))
    default = dispatcher.handle("explain", {"layer": "body.1"})
    predicted = model(x)["out"].argmax(1).numpy()
    assert default.result["output_kind"] == "segmentation"
    assert default.result["buffers"][-1] == "segmentation"
    assert np.array_equal(from_npy(default.buffers[-1]), predicted)
    dominant = int(np.bincount(predicted.ravel()).argmax())
    assert default.result["target"] == {"class": dominant}
    shares = default.result["segmentation"][0]
    assert abs(sum(c["share"] for c in shares) - 1) < 1e-6 and shares[0]["share"] >= shares[-1]["share"]
    picked = dispatcher.handle("explain", {"layer": "body.1", "target": {"class": 1}})
    expected = cnnvis.explain(model, x, target=Segmentation(1), layer="body.1")
    assert np.allclose(from_npy(picked.buffers[3]), expected.maps, atol=1e-5)
    with pytest.raises(cnnvis.CnnvisError, match="detector"):
        dispatcher.handle("explain", {"layer": "body.1", "target": {"box": 0}})
    with pytest.raises(cnnvis.CnnvisError, match="target must be"):
        dispatcher.handle("explain", {"layer": "body.1", "target": {"box": 0, "class": 1}})


def test_classifiers_keep_their_reply():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                                torch.nn.Flatten(), torch.nn.Linear(4, 3)).eval()
    dispatcher = Dispatcher()
    dispatcher.add_session("m", ModelSession(model, torch.rand(2, 3, 8, 8)))
    result = dispatcher.handle("explain", {"target": 1}).result
    assert result["output_kind"] == "classes" and result["target"] == 1 and len(result["top_k"][0]) == 3
    assert "detections" not in result and result["buffers"][-1] == "images"
