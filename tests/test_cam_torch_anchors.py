"""cnnvis CAMs against pytorch-grad-cam and Captum on real torchvision models."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
pytorch_grad_cam = pytest.importorskip("pytorch_grad_cam")

from helpers import assert_same_maps, grad_cam_anchor_maps  # noqa: E402

import cnnvis  # noqa: E402


def anchor_maps(method, model, module, x):
    return grad_cam_anchor_maps(method, model, module, x, batch_size=32)


@pytest.fixture(scope="module")
def resnet50(torch_threads):
    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None).eval()
    x = torch.randn(4, 3, 224, 224)
    return model, x


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "hirescam", "xgradcam", "layercam", "eigencam"])
def test_resnet50_matches_pytorch_grad_cam(resnet50, method):
    model, x = resnet50
    exp = cnnvis.explain(model, x, method=method)
    assert exp.layer == "layer4"
    assert exp.maps.dtype == np.float32 and exp.maps.shape == (4, 224, 224)
    assert exp.raw.shape == (4, 7, 7)
    assert_same_maps(exp.maps, anchor_maps(method, model, model.layer4, x), 0.999)


def test_gradcam_raw_equals_captum(resnet50):
    captum_attr = pytest.importorskip("captum.attr")
    model, x = resnet50
    exp = cnnvis.explain(model, x, method="gradcam", layer="layer4.2")
    theirs = captum_attr.LayerGradCam(model, model.layer4[2]).attribute(
        x, target=exp.targets, relu_attributions=False
    )
    theirs = theirs.detach().numpy()[:, 0]
    scale = max(1.0, float(np.abs(theirs).max()))
    np.testing.assert_allclose(exp.raw, theirs, atol=1e-4 * scale, rtol=0)


@pytest.mark.parametrize("method", ["scorecam", "ablationcam"])
def test_score_methods_match_on_resnet18(torch_threads, method):
    torch.manual_seed(1)
    model = torchvision.models.resnet18(weights=None).eval()
    x = torch.randn(3, 3, 64, 64)
    exp = cnnvis.explain(model, x, method=method, layer="layer4", progress=False)
    assert_same_maps(exp.maps, anchor_maps(method, model, model.layer4, x), 0.999)


@pytest.mark.parametrize(
    "family, layer",
    [
        # DenseNet's forward applies an in-place ReLU to `features`; pytorch-grad-cam then sees the
        # rectified tensor while cnnvis keeps the module's true output, so compare one block earlier.
        ("densenet121", "features.denseblock4"),
        ("mobilenet_v3_small", None),
        ("efficientnet_b0", None),
        ("convnext_tiny", None),
    ],
)
@pytest.mark.parametrize("method", ["gradcam", "gradcam++"])
def test_other_families(torch_threads, family, layer, method):
    torch.manual_seed(2)
    model = getattr(torchvision.models, family)(weights=None).eval()
    x = torch.randn(2, 3, 128, 128)
    exp = cnnvis.explain(model, x, method=method, layer=layer)
    module = dict(model.named_modules())[exp.layer]
    assert exp.layer == (layer or "features")
    assert_same_maps(exp.maps, anchor_maps(method, model, module, x), 0.999)
