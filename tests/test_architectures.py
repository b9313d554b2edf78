"""Vision transformers, Swin and channels-last layers agree with pytorch-grad-cam's reshape transforms."""

import copy

import numpy as np
import pytest
from helpers import pearson

import cnnvis

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
gradcam = pytest.importorskip("pytorch_grad_cam")
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402
from pytorch_grad_cam.utils.reshape_transforms import vit_reshape_transform  # noqa: E402

REFERENCE = {"gradcam": gradcam.GradCAM, "gradcam++": gradcam.GradCAMPlusPlus, "eigencam": gradcam.EigenCAM}
TARGET = 3


def permute_transform(tensor):
    return tensor.permute(0, 3, 1, 2)  # torchvision Swin's (N, H, W, C) to (N, C, H, W)


@pytest.fixture(scope="module")
def image():
    torch.manual_seed(0)
    return torch.randn(1, 3, 224, 224)


@pytest.fixture(scope="module")
def swin():
    torch.manual_seed(0)
    return torchvision.models.swin_t(weights=None).eval()


@pytest.fixture(scope="module")
def vit():
    torch.manual_seed(0)
    return torchvision.models.vit_b_16(weights=None).eval()


def reference(model, image, method, layer, transform):
    with REFERENCE[method](model, [model.get_submodule(layer)], reshape_transform=transform) as cam:
        return cam(image, targets=[ClassifierOutputTarget(TARGET)])


@pytest.mark.slow
@pytest.mark.parametrize("layer", ["norm", "features.7"])
def test_swin_channels_last_layers_match_the_permute_transform(swin, image, layer):
    exp = cnnvis.explain(swin, image, target=TARGET, layer=layer)
    assert exp.raw.shape == (1, 7, 7)
    assert pearson(exp.maps, reference(swin, image, "gradcam", layer, permute_transform)) >= 0.999


@pytest.mark.slow
@pytest.mark.parametrize("method", list(REFERENCE))
def test_swin_default_layer_matches_pytorch_grad_cam(swin, image, method):
    exp = cnnvis.explain(swin, image, method=method, target=TARGET)
    assert exp.layer == "features.7.1.norm2"
    assert pearson(exp.maps, reference(swin, image, method, exp.layer, permute_transform)) >= 0.999


@pytest.mark.slow
@pytest.mark.parametrize("method", list(REFERENCE))
def test_vit_default_layer_matches_pytorch_grad_cam(vit, image, method):
    exp = cnnvis.explain(vit, image, method=method, target=TARGET)
    assert exp.layer == "encoder.layers.encoder_layer_11.ln_1"
    assert exp.raw.shape == (1, 14, 14)  # 197 tokens: the class token dropped, 14x14 patches
    assert pearson(exp.maps, reference(vit, image, method, exp.layer, vit_reshape_transform)) >= 0.999


class RenamedViT(torchvision.models.VisionTransformer):
    """A subclass that renames its parts: recognition must not hang on attribute names."""

    def __init__(self):
        super().__init__(image_size=64, patch_size=16, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64,
                         num_classes=5)
        self.trunk, self.classifier, self.patchify = self.encoder, self.heads, self.conv_proj
        del self.encoder, self.heads, self.conv_proj

    def forward(self, x):
        tokens = self.patchify(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.class_token.expand(len(x), -1, -1), tokens], dim=1)
        return self.classifier(self.trunk(tokens)[:, 0])


def test_vit_is_recognised_by_structure():
    torch.manual_seed(0)
    model = RenamedViT().eval()
    exp = cnnvis.explain(model, torch.randn(2, 3, 64, 64))
    assert exp.layer == "trunk.layers.encoder_layer_1.ln_1"
    assert exp.raw.shape == (2, 4, 4)


@pytest.mark.slow
def test_fine_tuned_vit_with_a_new_head_keeps_its_default_layer(vit, image):
    tuned = copy.deepcopy(vit)
    tuned.heads = torch.nn.Sequential(torch.nn.Linear(768, 10))
    exp = cnnvis.explain(tuned, image, method="eigencam")
    assert exp.layer == "encoder.layers.encoder_layer_11.ln_1"
    assert exp.outputs.shape == (1, 10) and exp.raw.shape == (1, 14, 14)


class Untold(torch.nn.Module):
    """Hides a channels-last tensor behind plain tensor methods: no layer says which axis is which."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.mix = Mix()
        self.weight = torch.nn.Parameter(torch.randn(16, 4))

    def forward(self, x):
        return self.mix(self.conv(x)).mean(dim=(1, 2)) @ self.weight


class Mix(torch.nn.Module):
    def forward(self, x):
        return x.permute(0, 2, 3, 1).tanh()


def test_a_layer_whose_layout_cannot_be_told_is_refused():
    model = Untold().eval()
    x = torch.randn(2, 3, 16, 16)
    with pytest.raises(cnnvis.NonSpatialLayerError, match="channels-last"):
        cnnvis.explain(model, x, layer="mix")
    assert cnnvis.explain(model, x, layer="conv").raw.shape == (2, 8, 8)  # a Conv2d says NCHW
    assert "mix" not in cnnvis.activations(model, x)  # listing every layer leaves it out


def test_channels_last_is_told_from_the_next_layer():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), Mix(), torch.nn.LayerNorm(8),
                                torch.nn.Flatten(), torch.nn.LazyLinear(3)).eval()
    x = torch.randn(1, 3, 6, 6)
    model(x)
    assert cnnvis.activations(model, x, layers=["1"])["1"].shape == (1, 8, 6, 6)  # permuted back
    assert cnnvis.explain(model, x, layer="2", target=0).raw.shape == (1, 6, 6)


def test_keras_convnext_default_layer_matches_a_gradient_tape():
    keras = pytest.importorskip("keras")
    tf = pytest.importorskip("tensorflow")
    keras.utils.set_random_seed(0)
    model = keras.applications.ConvNeXtTiny(weights=None, classifier_activation=None)
    x = np.random.default_rng(0).uniform(0, 255, (2, 224, 224, 3)).astype("float32")
    exp = cnnvis.explain(model, x, target=[1, 2])
    assert exp.layer == "convnext_tiny_head_gap:input"  # the last block's output, after its residual add
    pool = model.get_layer("convnext_tiny_head_gap")
    features = tf.convert_to_tensor(keras.Model(model.input, pool.input)(x))
    with tf.GradientTape() as tape:
        tape.watch(features)
        head = model.get_layer("convnext_tiny_head_layernorm")(pool(features))
        logits = model.get_layer("convnext_tiny_head_dense")(head)
        score = tf.reduce_sum(tf.gather(logits, [1, 2], axis=1, batch_dims=1))
    grads = tape.gradient(score, features).numpy()
    raw = np.einsum("nc,nhwc->nhw", grads.mean(axis=(1, 2)), features.numpy())
    np.testing.assert_allclose(exp.raw, raw, atol=1e-5)
