"""A fixed slice of the model zoos, one model per family, each with one outcome: a map equal to the
reference (pytorch-grad-cam, a closed-form GradientTape GradCAM, onnxruntime) or a clear refusal;
never a crash or a silent wrong map. ``make sweep`` runs the whole zoos (benchmarks/sweep_*.py)."""

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
pytest.importorskip("pytorch_grad_cam")
sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
from sweep_torch_cases import classifier_outcome  # noqa: E402

SIZE = 64  # small inputs keep the slice quick; every family here takes them


def image(size=SIZE):
    return torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small", "densenet121", "squeezenet1_1"])
def test_torchvision_classifier_equals_pytorch_grad_cam(name):
    torch.manual_seed(0)
    model = torchvision.models.get_model(name, weights=None, num_classes=5).eval()
    result, detail = classifier_outcome(model, image())
    assert result == "equal", detail


@pytest.mark.parametrize("name", ["resnet10t", "levit_128s", "mobilevit_xxs"])
def test_timm_family_equals_pytorch_grad_cam_or_refuses(name):
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False, num_classes=5).eval()
    size = model.pretrained_cfg.get("input_size", (3, 224, 224))[-1]
    result, detail = classifier_outcome(model, image(size))
    assert result in ("equal", "refused"), detail
    if result == "refused":  # a refusal names what to do
        assert "layer=" in detail or "Pass" in detail, detail


def test_segmentation_equals_pytorch_grad_cam():
    from sweep_torchvision import _segmentation_outcome

    torch.manual_seed(0)
    model = torchvision.models.segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None,
                                                                       num_classes=3).eval()
    result, detail = _segmentation_outcome(model, image(96))
    assert result == "equal", detail


def test_detection_equals_pytorch_grad_cam():
    from sweep_torchvision import _detection_outcome

    torch.manual_seed(0)
    model = torchvision.models.detection.fasterrcnn_mobilenet_v3_large_320_fpn(
        weights=None, weights_backbone=None, num_classes=3, box_score_thresh=0.0).eval()
    result, detail = _detection_outcome(model, torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(0)))
    assert result == "equal" and "backbone.body" in detail, detail


def test_onnx_export_equals_onnxruntime_projection():
    pytest.importorskip("onnxruntime")
    from sweep_onnx_torchvision import outcome

    torch.manual_seed(0)
    result, detail = outcome(torchvision.models.mobilenet_v3_small(weights=None).eval(), image())
    assert result == "equal", detail


def test_keras_application_equals_gradient_tape():
    keras = pytest.importorskip("keras")
    from sweep_keras import outcome

    def small_mobilenet(**options):
        return keras.applications.MobileNetV2(input_shape=(64, 64, 3), alpha=0.35, **options)

    result, detail = outcome("MobileNetV2", small_mobilenet)
    assert result == "equal", detail
