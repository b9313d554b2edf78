"""The rest of the CAM family, smoothing options and baselines against pytorch-grad-cam."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import pearson, small_resnet18

import cnnvis

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
pgc = pytest.importorskip("pytorch_grad_cam")

# cnnvis name -> pytorch-grad-cam class
ANCHOR_NAMES = ("eigengradcam:EigenGradCAM gradcamelementwise:GradCAMElementWise kpca_cam:KPCA_CAM fem:FEM "
                "segeigencam:SegEigenCAM randomcam:RandomCAM gradcam:GradCAM gradcam++:GradCAMPlusPlus layercam:LayerCAM")
ANCHORS = {ours: getattr(pgc, theirs) for ours, theirs in (pair.split(":") for pair in ANCHOR_NAMES.split())}


@pytest.fixture(scope="module")
def resnet18(torch_threads):
    return small_resnet18(size=64, seed=3)


def theirs(method, model, x, layers, **call):
    with ANCHORS[method](model=model, target_layers=layers) as cam:
        return cam(input_tensor=x, targets=None, **call)


def assert_same(ours, reference, threshold=0.999):
    assert ours.shape == reference.shape
    for i, (a, b) in enumerate(zip(ours, reference, strict=True)):
        r = pearson(a, b)
        assert r >= threshold, f"image {i}: Pearson {r:.5f} < {threshold}"


@pytest.mark.parametrize("method", ["eigengradcam", "gradcamelementwise", "kpca_cam", "fem", "segeigencam"])
def test_method_equals_pytorch_grad_cam(resnet18, method):
    model, x = resnet18
    exp = cnnvis.explain(model, x, method, layer="layer3", progress=False)
    assert exp.method == method
    assert_same(exp.maps, theirs(method, model, x, [model.layer3]))


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "layercam", "gradcamelementwise"])
def test_eigen_smooth_equals_pytorch_grad_cam(resnet18, method):
    model, x = resnet18
    exp = cnnvis.explain(model, x, method, layer="layer3", eigen_smooth=True, progress=False)
    assert_same(exp.maps, theirs(method, model, x, [model.layer3], eigen_smooth=True))


def test_aug_smooth_equals_pytorch_grad_cam(resnet18):
    model, x = resnet18
    exp = cnnvis.explain(model, x, "gradcam", layer="layer3", aug_smooth=True, progress=False)
    assert_same(exp.maps, theirs("gradcam", model, x, [model.layer3], aug_smooth=True))
    plain = cnnvis.explain(model, x, "gradcam", layer="layer3", progress=False)
    assert not np.allclose(exp.maps, plain.maps)  # the augmentations did change something
    assert exp.targets == plain.targets and exp.raw.shape == plain.raw.shape


def test_randomcam_seeded(resnet18):
    model, x = resnet18
    exp = cnnvis.explain(model, x, "randomcam", layer="layer3", seed=7, progress=False)
    np.random.seed(7)  # pytorch-grad-cam draws from numpy's global generator
    assert_same(exp.maps, theirs("randomcam", model, x, [model.layer3]))
    again = cnnvis.explain(model, x, "random-cam", layer="layer3", seed=7, progress=False)
    np.testing.assert_array_equal(exp.maps, again.maps)


def test_finercam_equals_pytorch_grad_cam(resnet18):
    model, x = resnet18
    exp = cnnvis.explain(model, x, "finercam", layer="layer3", progress=False)
    with pgc.FinerCAM(model=model, target_layers=[model.layer3]) as cam:
        reference = cam(input_tensor=x, targets=None)
    assert_same(exp.maps, reference)


def test_refinecam_equals_pytorch_grad_cam(resnet18):
    model, x = resnet18
    exp = cnnvis.explain(model, x, "refinecam", layer="layer3", layers=["layer2", "layer3"], progress=False)
    reference = pgc.RefineCAM(model=model, target_layers=[model.layer2, model.layer3])(input_tensor=x)
    assert_same(exp.maps, reference)


def test_sobelcam_is_the_edge_baseline(resnet18):
    from pytorch_grad_cam.sobel_cam import sobel_cam

    model, x = resnet18
    exp = cnnvis.explain(model, x, "sobelcam", progress=False)
    for image, ours in zip(x.numpy(), exp.maps, strict=True):
        rgb8 = np.uint8((image - image.min()) / (image.max() - image.min()) * 255).transpose(1, 2, 0)
        assert pearson(ours, sobel_cam(np.ascontiguousarray(rgb8)).astype(np.float32)) >= 0.999


def test_every_name_answers(resnet18):
    names = ("eigengradcam", "gradcamelementwise", "grad-cam-elementwise", "kpca_cam", "kpca-cam", "fem",
             "finercam", "refinecam", "segeigencam", "sobelcam", "randomcam")
    methods = cnnvis.available_methods()
    assert set(names) <= set(methods)


def test_onnx_refuses_gradient_methods_and_runs_gradient_free_ones(resnet18, tmp_path):
    model, x = resnet18
    path = tmp_path / "m.onnx"
    torch.onnx.export(model, x[:1], str(path), dynamo=False, input_names=["x"], dynamic_axes={"x": {0: "n"}})
    handle = cnnvis.load(str(path))
    with pytest.raises(cnnvis.CnnvisError, match="needs gradients"):
        cnnvis.explain(handle, x.numpy(), "eigengradcam")
    fem = cnnvis.explain(handle, x.numpy(), "fem", progress=False)
    assert fem.maps.shape == (2, 64, 64) and np.isfinite(fem.maps).all()


def test_keras_gradcam_elementwise_equals_a_gradient_tape():
    keras = pytest.importorskip("keras")
    tf = pytest.importorskip("tensorflow")
    keras.utils.set_random_seed(0)
    layers = keras.layers
    inputs = keras.Input((32, 32, 3))
    conv = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv")(inputs)
    head = layers.Dense(5, name="fc")(layers.GlobalAveragePooling2D()(conv))
    model = keras.Model(inputs, head)
    x = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    exp = cnnvis.explain(model, x, "gradcamelementwise", layer="conv", target=[1, 3], normalize="none",
                         progress=False)
    probe = keras.Model(inputs, [conv, head])
    with tf.GradientTape() as tape:
        acts, out = probe(x)
        score = tf.reduce_sum(tf.gather(out, [1, 3], axis=1, batch_dims=1))
    grads = tape.gradient(score, acts).numpy()
    expected = np.maximum(grads * acts.numpy(), 0).sum(axis=-1)
    np.testing.assert_allclose(exp.raw, expected, rtol=1e-4, atol=1e-6)


def smooth_cnn():
    """A CNN with SiLU after the explained layer: its score has a second derivative there."""
    torch.manual_seed(0)
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.SiLU(),
        nn.Conv2d(8, 16, 3, padding=1, stride=2), nn.SiLU(),
        nn.Conv2d(16, 16, 3, padding=1), nn.SiLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 5),
    ).eval()


def test_shapleycam_equals_pytorch_grad_cam(torch_threads):
    model = smooth_cnn()
    x = torch.randn(2, 3, 24, 24, generator=torch.Generator().manual_seed(1))
    exp = cnnvis.explain(model, x, "shapleycam", layer="3", progress=False)
    with pgc.ShapleyCAM(model=model, target_layers=[model[3]]) as cam:
        reference = cam(input_tensor=x, targets=None)
    assert_same(exp.maps, reference)
    grad = cnnvis.explain(model, x, "gradcam", layer="3", progress=False)
    assert not np.allclose(exp.raw, grad.raw, atol=1e-6)  # the second-order term is not zero here


@pytest.mark.parametrize("eigen_smooth", [False, True])
def test_fullgrad_equals_pytorch_grad_cam(resnet18, eigen_smooth):
    model, x = resnet18
    exp = cnnvis.explain(model, x, "fullgrad", eigen_smooth=eigen_smooth, progress=False)
    with pgc.FullGrad(model=model, target_layers=[]) as cam:
        reference = cam(input_tensor=x, targets=None, eigen_smooth=eigen_smooth)
    assert_same(exp.maps, reference)


def test_second_order_methods_say_they_are_torch_only():
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3, name="conv"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])
    x = np.zeros((1, 16, 16, 3), np.float32)
    for method in ("shapleycam", "fullgrad"):
        with pytest.raises(cnnvis.CnnvisError, match="PyTorch models only"):
            cnnvis.explain(model, x, method, layer="conv", progress=False)


def test_unknown_method_options_are_refused(resnet18):
    model, x = resnet18
    with pytest.raises(cnnvis.CnnvisError, match="gradcam takes no option 'seed'"):
        cnnvis.explain(model, x, "gradcam", seed=3)
    with pytest.raises(cnnvis.CnnvisError, match="its options: alpha, comparison_categories"):
        cnnvis.explain(model, x, "finercam", alpah=2)


KERAS_METHODS = ("eigengradcam", "gradcamelementwise", "kpca_cam", "fem", "segeigencam", "sobelcam", "randomcam",
                 "finercam", "refinecam")


def test_every_method_runs_on_keras_the_same_engine():
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    layers = keras.layers
    model = keras.Sequential([
        keras.Input((32, 32, 3)), layers.Conv2D(8, 3, padding="same", activation="relu", name="c1"),
        layers.MaxPooling2D(), layers.Conv2D(16, 3, padding="same", activation="relu", name="c2"),
        layers.GlobalAveragePooling2D(), layers.Dense(10, activation="softmax")])
    x = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    for method in KERAS_METHODS:
        exp = cnnvis.explain(model, x, method, layer="c2", progress=False)
        assert exp.maps.shape == (2, 32, 32), method
        assert np.isfinite(exp.maps).all() and exp.maps.min() >= 0 and exp.maps.max() <= 1 + 1e-6, method
    smooth = cnnvis.explain(model, x, "gradcam", layer="c2", aug_smooth=True, eigen_smooth=True, progress=False)
    assert smooth.maps.shape == (2, 32, 32)
