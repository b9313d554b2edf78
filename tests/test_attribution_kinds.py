"""The protocol's view of the CAM family: status lists every method with its gradient need and cost,
explain takes the smoothing switches and method options, attribute and concepts answer arrays equal
to the Python API's, ROAD is a faithfulness metric, and models without gradients say so up front."""

import numpy as np
import pytest

import cnnvis
from cnnvis.services import BadRequest, Dispatcher, ModelSession
from cnnvis.services.codec import from_npy

torch = pytest.importorskip("torch")


def small_cnn():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 6, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(6, 8, 3, padding=1),
        torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 3),
    ).eval()


@pytest.fixture()
def setup():
    model = small_cnn()
    x = torch.randn(2, 3, 12, 12, generator=torch.Generator().manual_seed(1))
    d = Dispatcher()
    d.add_session("m", ModelSession(model, x, class_names=["cat", "<b>dog</b>", "eel"]))
    return d, model, x


def test_status_lists_every_method_with_gradients_and_cost(setup):
    d, _, _ = setup
    info = d.handle("status").result["method_info"]
    cams = {m["name"]: m for m in info["cam"]}
    assert set(cams) == set(d.handle("status").result["methods"])
    assert {"eigengradcam", "kpca_cam", "fem", "finercam", "refinecam", "sobelcam", "randomcam"} <= set(cams)
    assert cams["gradcam"]["gradients"] and not cams["eigencam"]["gradients"] and not cams["fem"]["gradients"]
    assert cams["gradcam"]["forwards"] == 1 and cams["scorecam"]["forwards"] == "channels"
    assert "C forward passes" in cams["ablationcam"]["cost"]
    assert "kpca-cam" in cams["kpca_cam"]["aliases"]
    assert info["aug_smooth_passes"] == 6
    pixel = {m["name"]: m for m in info["attribution"]}
    assert set(pixel) == {"saliency", "smoothgrad", "integrated_gradients", "guided_backprop", "guided_gradcam"}
    assert pixel["guided_backprop"]["torch_only"] and pixel["integrated_gradients"]["forwards"] == "steps"


def test_explain_takes_smoothing_and_method_options(setup):
    d, model, x = setup
    reply = d.handle("explain", {"method": "gradcam", "layer": "2", "eigen_smooth": True, "aug_smooth": True})
    expected = cnnvis.explain(model, x, "gradcam", layer="2", eigen_smooth=True, aug_smooth=True, progress=False)
    assert reply.result["eigen_smooth"] and reply.result["aug_smooth"]
    np.testing.assert_allclose(from_npy(reply.buffers[3]), expected.maps, atol=1e-5)
    plain = from_npy(d.handle("explain", {"method": "gradcam", "layer": "2"}).buffers[3])
    assert not np.allclose(plain, expected.maps, atol=1e-3)
    seeded = d.handle("explain", {"method": "randomcam", "layer": "2", "options": {"seed": 3}})
    again = cnnvis.explain(model, x, "randomcam", layer="2", seed=3, progress=False)
    np.testing.assert_allclose(from_npy(seeded.buffers[3]), again.maps, atol=1e-5)


@pytest.mark.parametrize("args, message", [
    ({"eigen_smooth": "yes"}, "eigen_smooth"),
    ({"options": [1]}, "options must be an object"),
    ({"options": {"steps": 3}}, "Unknown method option 'steps'"),
    ({"method": "kpca_cam", "options": {"kernel": "magic"}}, "kernel must be one of"),
    ({"method": "finercam", "options": {"comparison_categories": [0]}}, "comparison_categories"),
])
def test_bad_explain_options_are_refused(setup, args, message):
    with pytest.raises(BadRequest, match=message):
        setup[0].handle("explain", args)


def test_attribute_answers_the_api_maps(setup):
    d, model, x = setup
    reply = d.handle("attribute", {"method": "integrated_gradients", "target": 2, "steps": 8, "indices": [1]})
    raw = from_npy(reply.buffers[1])
    expected = cnnvis.attribute(model, x[1:], "integrated_gradients", target=2, steps=8, progress=False)
    np.testing.assert_allclose(raw, expected, rtol=1e-4, atol=1e-6)
    maps = from_npy(reply.buffers[0])
    assert maps.shape == (1, 12, 12) and maps.max() == pytest.approx(1.0) and maps.min() >= 0
    assert reply.result["signed"] and reply.result["buffers"] == ["maps", "raw", "images"]
    assert from_npy(reply.buffers[2]).shape == (1, 12, 12, 3)
    seen = []
    d.handle("attribute", {"method": "smoothgrad", "samples": 4}, progress=lambda done, total: seen.append(total))
    assert seen and seen[-1] == 2 * 4
    with pytest.raises(cnnvis.CnnvisError, match="Unknown attribution method"):
        d.handle("attribute", {"method": "gradcam"})


def test_concepts_answer_maps_regions_and_named_classes(setup):
    d, model, x = setup
    reply = d.handle("concepts", {"layer": "2", "n_components": 3, "top_k": 2})
    found = cnnvis.concepts(model, x, "2", 3, top_k=2)
    maps, regions = from_npy(reply.buffers[0]), from_npy(reply.buffers[1])
    np.testing.assert_allclose(maps, found.maps, atol=1e-6)
    assert regions.shape == (2, 12, 12) and regions.max() < 3
    np.testing.assert_array_equal(regions, found.regions())
    concept = reply.result["concepts"][0]
    assert [c["index"] for c in concept["top_classes"]] == [c for c, _ in found.top_classes[0]]
    names = {c["name"] for k in reply.result["concepts"] for c in k["top_classes"]}
    assert names <= {"cat", "<b>dog</b>", "eel"}  # class names as given; the views escape them
    with pytest.raises(BadRequest, match="n_components"):
        d.handle("concepts", {"n_components": 99})


def test_road_is_a_faithfulness_metric(setup):
    d, _, _ = setup
    d.handle("explain", {"method": "gradcam", "layer": "2"})
    reply = d.handle("faithfulness", {"metrics": ["road", "deletion"], "steps": 4, "indices": [0]})
    road = reply.result["metrics"]["road"]
    assert road["metric"] == "road" and len(road["morf"]) == 9 and len(road["combined"]) == 1
    assert list(reply.result["metrics"]) == ["road", "deletion"]
    default = d.handle("faithfulness", {"steps": 2, "indices": [0]})
    assert list(default.result["metrics"]) == ["deletion", "insertion"]


def test_models_without_gradients_say_so(tmp_path):
    pytest.importorskip("onnx")
    path = tmp_path / "m.onnx"
    torch.onnx.export(small_cnn(), (torch.randn(1, 3, 12, 12),), str(path), dynamo=False)
    d = Dispatcher()
    d.add_session("o", ModelSession(cnnvis.load(str(path)), np.zeros((1, 3, 12, 12), np.float32)))
    caps = d.handle("models").result["models"][0]["capabilities"]
    assert not caps["gradients"] and not caps["attribute"] and caps["concepts"]
    assert "no gradients" in caps["reasons"]["gradients"]
    with pytest.raises(cnnvis.CnnvisError, match="needs gradients"):
        d.handle("attribute", {"method": "saliency"})
    assert d.handle("concepts", {"n_components": 2}).result["shape"][:2] == [1, 2]


def test_the_notebook_widget_answers_attribute_and_concepts():
    import threading

    x = np.random.default_rng(0).normal(size=(2, 3, 12, 12)).astype(np.float32)
    widget = cnnvis.show(small_cnn(), x)
    replies, done = {}, threading.Event()

    def send(content, buffers=None):
        if "progress" not in content:
            replies[content.get("id")] = (content, buffers)
            done.set() if len(replies) == 2 else None

    widget.send = send
    try:
        widget._on_message(widget, {"id": "a", "kind": "attribute", "args": {"method": "smoothgrad", "samples": 3}}, [])
        widget._on_message(widget, {"id": "c", "kind": "concepts", "args": {"n_components": 2, "layer": "2"}}, [])
        assert done.wait(120)
    finally:
        widget.close()
    (attributed, buffers), (found, _) = replies["a"], replies["c"]
    assert attributed["ok"] and attributed["result"]["shape"] == [2, 12, 12] and len(buffers) == 3
    assert found["ok"] and found["result"]["shape"] == [2, 2, 12, 12]
