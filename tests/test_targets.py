"""Segmentation and detection targets agree with pytorch-grad-cam; output= picks a part of the output."""

import numpy as np
import pytest
from helpers import pearson

import cnnvis
from cnnvis.targets import Detection, Segmentation

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
gradcam = pytest.importorskip("pytorch_grad_cam")
from pytorch_grad_cam.utils.model_targets import (  # noqa: E402
    FasterRCNNBoxScoreTarget,
    SemanticSegmentationTarget,
)

segmentation = torchvision.models.segmentation


class OutOnly(torch.nn.Module):
    """pytorch-grad-cam's documented wrapper: its targets see the 'out' tensor, not the dict."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)["out"]


def reference(model, layer, x, targets):
    with gradcam.GradCAM(model, [model.get_submodule(layer)]) as cam:
        return cam(x, targets=targets)


def quadrant(size):
    mask = np.zeros((size, size), np.float32)
    mask[: size // 2, : size // 2] = 1
    return mask


@pytest.mark.parametrize(("build", "layer", "size"), [
    (segmentation.deeplabv3_mobilenet_v3_large, "backbone.16", 224),
    pytest.param(segmentation.fcn_resnet50, "backbone.layer4", 128, marks=pytest.mark.slow),
])
def test_segmentation_target_matches_pytorch_grad_cam(build, layer, size):
    torch.manual_seed(0)
    model = build(weights=None, weights_backbone=None).eval()
    x = torch.randn(1, 3, size, size)
    exp = cnnvis.explain(model, x, target=Segmentation(3, quadrant(size)), layer=layer)
    ref = reference(OutOnly(model), "model." + layer, x, [SemanticSegmentationTarget(3, quadrant(size))])
    assert exp.maps.std() > 0.01 and pearson(exp.maps, ref) >= 0.99
    assert exp.outputs.shape == (1, 21, size, size) and exp.targets is None  # the 'out' logits


def test_segmentation_without_a_mask_uses_the_predicted_pixels():
    torch.manual_seed(0)
    model = segmentation.deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=4).eval()
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        predicted = model(x)["out"].argmax(1).numpy()
    label = int(np.bincount(predicted.ravel()).argmax())
    implicit = cnnvis.explain(model, x, target=Segmentation(label), layer="backbone.13")
    explicit = cnnvis.explain(model, x, target=Segmentation(label, predicted == label), layer="backbone.13")
    np.testing.assert_allclose(implicit.raw, explicit.raw, rtol=1e-5, atol=1e-7)
    with pytest.raises(cnnvis.TargetError, match="Segmentation"):
        cnnvis.explain(model, x, target=2, layer="backbone.13")  # a class index has no meaning per pixel


@pytest.mark.slow
def test_detection_target_matches_pytorch_grad_cam():
    torch.manual_seed(0)
    detection = torchvision.models.detection
    # Random weights detect nothing above the default threshold; 224-pixel images keep the test quick.
    model = detection.fasterrcnn_mobilenet_v3_large_fpn(weights=None, weights_backbone=None, box_score_thresh=0,
                                                        min_size=224, max_size=224).eval()
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        found = model(x)[0]
    boxes, labels = found["boxes"][:5].numpy(), found["labels"][:5].numpy()
    exp = cnnvis.explain(model, x, target=Detection(boxes, labels), layer="backbone.body.16")
    ref = reference(model, "backbone.body.16", x, [FasterRCNNBoxScoreTarget(labels, boxes)])
    assert exp.maps.std() > 0.01 and pearson(exp.maps, ref) >= 0.99
    # outputs: each input's target score; every reference box matched itself (IoU 1) plus its score
    assert exp.outputs.shape == (1, 1)
    np.testing.assert_allclose(exp.outputs[0, 0], 5 + found["scores"][:5].sum().item(), rtol=1e-5)
    # The RoI pooling has one row per box, not per image: refused, never turned into maps.
    with pytest.raises(cnnvis.NonSpatialLayerError, match="not one entry per input"):
        cnnvis.explain(model, x, target=Detection(boxes, labels), layer="roi_heads.box_roi_pool")


def test_detection_sums_best_same_label_matches():
    boxes = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 9], [50, 50, 60, 60]])
    output = {"boxes": boxes, "labels": torch.tensor([1, 2, 2]), "scores": torch.tensor([0.9, 0.5, 0.4])}
    target = Detection([[0, 0, 10, 10], [50, 50, 60, 60], [80, 80, 90, 90]], [2, 2, 2])
    # box 1: best label-2 match IoU 0.9 (score 0.5); box 2: exact (0.4); box 3: nothing overlaps
    assert float(target([output])[0]) == pytest.approx(0.9 + 0.5 + 1 + 0.4)


class Heads(torch.nn.Module):
    """A model with several outputs, in the shapes models return them."""

    def __init__(self, kind):
        super().__init__()
        self.kind = kind
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.a, self.b = torch.nn.Linear(4, 3), torch.nn.Linear(4, 5)

    def forward(self, x):
        pooled = self.conv(x).mean(dim=(2, 3))
        a, b = self.a(pooled), self.b(pooled)
        if self.kind == "tuple":
            return a, b
        if self.kind == "dict":
            return {"first": a, "second": b}
        return type("ModelOutput", (), {"logits": a, "aux": b})()  # a HuggingFace-style object


@pytest.mark.parametrize(("kind", "selector"), [("tuple", 1), ("dict", "second"), ("object", "aux")])
def test_output_selects_the_scored_part(kind, selector):
    torch.manual_seed(0)
    model = Heads(kind).eval()
    x = torch.randn(2, 3, 8, 8)
    exp = cnnvis.explain(model, x, target=4, output=selector)
    assert exp.outputs.shape == (2, 5)
    with torch.no_grad():
        raw = model(x)
    second = raw[1] if kind == "tuple" else raw["second"] if kind == "dict" else raw.aux
    np.testing.assert_allclose(exp.outputs, second.numpy(), rtol=1e-6)
    assert exp.targets == [4, 4]
    if kind != "dict":  # a tuple's first tensor and an object's .logits are the default
        assert cnnvis.explain(model, x).outputs.shape == (2, 3)
    with pytest.raises(cnnvis.TargetError, match="output="):
        cnnvis.explain(model, x, target=0, output="missing" if kind != "tuple" else 7)
