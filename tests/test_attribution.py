"""Pixel attributions against their anchors: Captum and pytorch-grad-cam (PyTorch), tf-keras-vis (Keras)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from helpers import pearson, small_resnet18

import cnnvis

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")


@pytest.fixture(scope="module")
def resnet18(torch_threads):
    return small_resnet18(size=64, seed=1, uniform=True)


def per_image_corr(ours, theirs):
    return [pearson(a.ravel(), b.ravel()) for a, b in zip(ours, theirs, strict=True)]


def test_saliency_equals_captum(resnet18):
    from captum.attr import Saliency

    model, x = resnet18
    ours = cnnvis.attribute(model, x, "saliency", target=[3, 7], per_channel=True, progress=False)
    theirs = Saliency(model).attribute(x.clone().requires_grad_(True), target=[3, 7], abs=True).detach().numpy()
    assert ours.shape == (2, 3, 64, 64)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)
    reduced = cnnvis.attribute(model, x, "saliency", target=[3, 7], progress=False)
    np.testing.assert_allclose(reduced, theirs.max(axis=1), rtol=1e-4, atol=1e-6)


def test_integrated_gradients_equals_captum(resnet18):
    from captum.attr import IntegratedGradients

    model, x = resnet18
    ours = cnnvis.attribute(model, x, "integrated_gradients", target=[3, 7], steps=20, per_channel=True,
                            progress=False)
    theirs = IntegratedGradients(model).attribute(x, target=[3, 7], n_steps=20).detach().numpy()
    assert min(per_image_corr(ours, theirs)) >= 0.999
    summed = cnnvis.attribute(model, x, "ig", target=[3, 7], steps=20, progress=False)
    assert min(per_image_corr(summed, theirs.sum(axis=1))) >= 0.999


def test_guided_backprop_equals_captum_and_pytorch_grad_cam(resnet18):
    from captum.attr import GuidedBackprop
    from pytorch_grad_cam import GuidedBackpropReLUModel

    model, x = resnet18
    ours = cnnvis.attribute(model, x, "guided_backprop", target=[3, 7], per_channel=True, progress=False)
    # The model is left as it was: in-place ReLUs and no hooks (plain saliency is unchanged).
    assert all(m.inplace for m in model.modules() if isinstance(m, torch.nn.ReLU))
    assert not any(m._forward_hooks for m in model.modules())
    theirs = GuidedBackprop(model).attribute(x.clone(), target=[3, 7]).detach().numpy()
    assert min(per_image_corr(ours, theirs)) >= 0.999
    grad_cam_one = GuidedBackpropReLUModel(model, device="cpu")(x[:1].clone(), target_category=3)
    assert pearson(ours[0].transpose(1, 2, 0).ravel(), grad_cam_one.ravel()) >= 0.999


def test_guided_gradcam_equals_captum(resnet18):
    from captum.attr import GuidedGradCam

    model, x = resnet18
    ours = cnnvis.attribute(model, x, "guided_gradcam", target=[3, 7], layer="layer3", per_channel=True,
                            progress=False)
    theirs = GuidedGradCam(model, model.layer3).attribute(x.clone(), target=[3, 7]).detach().numpy()
    assert min(per_image_corr(ours, theirs)) >= 0.999


def test_smoothgrad_is_the_mean_of_noisy_saliencies(resnet18):
    model, x = resnet18
    ours = cnnvis.attribute(model, x, "smoothgrad", target=[3, 7], samples=4, noise=0.1, seed=5,
                            per_channel=True, progress=False)
    rng = np.random.RandomState(5)
    xs = x.numpy()
    sigma = 0.1 * (xs.max(axis=(1, 2, 3), keepdims=True) - xs.min(axis=(1, 2, 3), keepdims=True))
    noisy = xs[None] + rng.normal(0.0, np.broadcast_to(sigma[None], (4, 2, 1, 1, 1)), (4, *xs.shape))
    expected = np.mean([cnnvis.attribute(model, torch.from_numpy(n.astype(np.float32)), "saliency",
                                         target=[3, 7], per_channel=True, progress=False) for n in noisy], axis=0)
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-6)


def test_top_class_target_progress_and_names(resnet18):
    model, x = resnet18
    seen = []
    maps = cnnvis.attribute(model, x, "IntegratedGradients", steps=3, progress=lambda d, t: seen.append((d, t)))
    top = model(x).argmax(1).tolist()
    np.testing.assert_allclose(maps, cnnvis.attribute(model, x, "ig", target=top, steps=3, progress=False))
    assert seen[-1] == (6, 6)
    with pytest.raises(cnnvis.UnknownMethodError, match="saliency"):
        cnnvis.attribute(model, x, "nothing")
    with pytest.raises(cnnvis.CnnvisError, match="steps must be a positive integer"):
        cnnvis.attribute(model, x, "ig", steps=0)


def test_onnx_models_are_refused_with_the_reason(resnet18, tmp_path):
    pytest.importorskip("onnxruntime")
    model, x = resnet18
    path = tmp_path / "m.onnx"
    torch.onnx.export(model, x[:1], str(path), dynamo=False, input_names=["x"],
                      dynamic_axes={"x": {0: "n"}})
    with pytest.raises(cnnvis.CnnvisError, match="needs gradients with respect to the inputs"):
        cnnvis.attribute(cnnvis.load(str(path)), x.numpy(), "saliency")


# ---------------------------------------------------------------------------------------------- Keras

def _keras_cnn():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    layers = keras.layers
    return keras.Sequential([
        keras.Input((32, 32, 3)),
        layers.Conv2D(8, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(16, 3, padding="same", activation="relu"),
        layers.GlobalAveragePooling2D(),
        layers.Dense(10, activation="softmax"),
    ])


def _tkv_saliency(model, x, targets, **kwargs):
    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.utils.scores import CategoricalScore

    def linear_head(m):
        m.layers[-1].activation = __import__("keras").activations.linear

    return np.asarray(Saliency(model, model_modifier=linear_head, clone=True)(CategoricalScore(targets), x, **kwargs))


@pytest.mark.parametrize("method,kwargs,theirs_kwargs", [
    ("saliency", {}, {}),
    ("smoothgrad", {"samples": 5, "noise": 0.2, "seed": 3}, {"smooth_samples": 5, "smooth_noise": 0.2}),
])
def test_keras_equals_tf_keras_vis(method, kwargs, theirs_kwargs):
    model = _keras_cnn()
    x = np.random.default_rng(2).random((2, 32, 32, 3), dtype=np.float32)
    ours = cnnvis.attribute(model, x, method, target=[1, 4], normalize=True, progress=False, **kwargs)
    np.random.seed(3)  # tf-keras-vis draws SmoothGrad's noise from numpy's global generator
    theirs = _tkv_saliency(model, x, [1, 4], **theirs_kwargs)
    assert ours.shape == theirs.shape == (2, 32, 32)
    assert min(per_image_corr(ours, theirs)) >= 0.999


def test_keras_guided_methods_are_torch_only():
    model = _keras_cnn()
    x = np.zeros((1, 32, 32, 3), np.float32)
    with pytest.raises(cnnvis.CnnvisError, match="PyTorch models only"):
        cnnvis.attribute(model, x, "guided_backprop")
    ig = cnnvis.attribute(model, x + 0.5, "integrated_gradients", target=1, steps=8, progress=False)
    assert ig.shape == (1, 32, 32) and np.isfinite(ig).all()


# ---------------------------------------------------------------------------------------------- concepts

def test_concepts_equal_pytorch_grad_cam_dff(resnet18):
    from pytorch_grad_cam import DeepFeatureFactorization

    model, x = resnet18
    found = cnnvis.concepts(model, x, "layer3", n_components=3, top_k=2, class_names=[f"c{i}" for i in range(10)])
    vectors, maps = DeepFeatureFactorization(model, model.layer3)(x, 3)
    assert found.maps.shape == (2, 3, 64, 64) and found.vectors.shape == (256, 3)
    np.testing.assert_allclose(found.vectors, vectors, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(found.maps, np.stack(maps), atol=1e-4)
    # layer3 feeds layer4 before the head: the scores come from running the rest of the model.
    assert found.scores.shape == (3, 10)
    assert [name for name, _ in found.top_classes[0]] == [f"c{i}" for i in np.argsort(-found.scores[0])[:2]]
    assert found.regions().shape == (2, 64, 64) and len(found.labels()) == 3


def test_concepts_at_the_head_score_like_the_classifier(resnet18):
    model, x = resnet18
    found = cnnvis.concepts(model, x, "layer4", n_components=2)
    expected = model.fc(torch.from_numpy(found.vectors.T)).detach().numpy()
    np.testing.assert_allclose(found.scores, expected, rtol=1e-4, atol=1e-4)
    with pytest.raises(cnnvis.CnnvisError, match="n_components must be a positive integer"):
        cnnvis.concepts(model, x, "layer4", n_components=0)


def test_keras_concepts():
    model = _keras_cnn()
    x = np.random.default_rng(2).random((2, 32, 32, 3), dtype=np.float32)
    found = cnnvis.concepts(model, x, n_components=2)
    assert found.maps.shape == (2, 2, 32, 32) and found.scores.shape == (2, 10)
    assert np.isfinite(found.maps).all() and found.maps.max() <= 1.0 + 1e-6
