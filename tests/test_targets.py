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
    exp = cnnvis.explain(model, x, target=Segmentation(3, quadrant(size)))
    assert exp.layer == layer  # the backbone's last stage, not the class logits
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
    exp = cnnvis.explain(model, x, target=Detection(boxes, labels))
    assert exp.layer == "backbone.body.16"  # the backbone's last stage: every pyramid level comes from it
    ref = reference(model, "backbone.body.16", x, [FasterRCNNBoxScoreTarget(labels, boxes)])
    assert exp.maps.std() > 0.01 and pearson(exp.maps, ref) >= 0.99
    # outputs: each input's target score; every reference box matched itself (IoU 1) plus its score
    assert exp.outputs.shape == (1, 1)
    np.testing.assert_allclose(exp.outputs[0, 0], 5 + found["scores"][:5].sum().item(), rtol=1e-5)
    # The RoI pooling has one row per box, not per image: refused, never turned into maps.
    with pytest.raises(cnnvis.NonSpatialLayerError, match="not one entry per input"):
        cnnvis.explain(model, x, target=Detection(boxes, labels), layer="roi_heads.box_roi_pool")


def test_dense_predictors_default_to_the_backbones_last_stage():
    from cnnvis.architectures.dense import default_layer

    for module in (torchvision.models.detection, torchvision.models.segmentation):
        for name in torchvision.models.list_models(module=module):
            model = torchvision.models.get_model(name, weights=None, weights_backbone=None, num_classes=3)
            layer = default_layer(model)
            assert layer.startswith("backbone.") and model.get_submodule(layer) is not None, name
    assert default_layer(segmentation.fcn_resnet50(weights=None, weights_backbone=None)) == "backbone.layer4"
    assert default_layer(torchvision.models.resnet18()) is None


def test_detection_refuses_what_it_cannot_score():
    with pytest.raises(cnnvis.TargetError, match="has no area"):
        Detection([[5, 5, 5, 9]], [1])
    target = Detection([[0, 0, 10, 10]], [1])
    # random weights make boxes of no area: their IoU is 0/0, never a match, never NaN in a score
    flat = {"boxes": torch.tensor([[0.0, 3, 10, 3]]), "labels": torch.tensor([1]), "scores": torch.tensor([0.9])}
    good = {"boxes": torch.tensor([[0.0, 0, 10, 10]]), "labels": torch.tensor([1]), "scores": torch.tensor([0.5])}
    assert float(target([good])[0]) == pytest.approx(1.5)
    with pytest.raises(cnnvis.TargetError, match=r"input\(s\) \[1\]"):
        target([good, flat])  # a blank map for input 1 would look like an explanation


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
