"""The same CNN in PyTorch and Keras gives the same outputs and the same CAMs through one engine."""

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
keras = pytest.importorskip("keras")
pytest.importorskip("tensorflow")
torch = pytest.importorskip("torch")

import cnnvis  # noqa: E402

TIGHT = ("gradcam", "gradcam++", "hirescam", "xgradcam", "layercam", "eigencam")
LOOSE = ("scorecam", "ablationcam")


def torch_cnn():
    torch.manual_seed(0)
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10),
    ).eval()


def keras_twin(net):
    layers = keras.layers
    model = keras.Sequential([
        keras.Input((16, 16, 3)),
        layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1"),
        layers.MaxPooling2D(name="pool"),
        layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2"),
        layers.GlobalAveragePooling2D(name="gap"),
        layers.Dense(10, name="fc"),
    ])
    conv1, conv2, fc = net[0], net[3], net[7]
    for name, conv in (("conv1", conv1), ("conv2", conv2)):
        # torch (O, I, kh, kw) -> keras (kh, kw, I, O)
        model.get_layer(name).set_weights([conv.weight.detach().numpy().transpose(2, 3, 1, 0),
                                           conv.bias.detach().numpy()])
    model.get_layer("fc").set_weights([fc.weight.detach().numpy().T, fc.bias.detach().numpy()])
    return model


@pytest.fixture(scope="module")
def twins():
    net = torch_cnn()
    x_nchw = np.random.default_rng(0).normal(size=(2, 3, 16, 16)).astype(np.float32)
    return net, keras_twin(net), x_nchw, np.ascontiguousarray(x_nchw.transpose(0, 2, 3, 1))


def test_same_outputs(twins):
    net, model, x_nchw, x_nhwc = twins
    with torch.no_grad():
        expected = net(torch.from_numpy(x_nchw)).numpy()
    np.testing.assert_allclose(model(x_nhwc).numpy(), expected, atol=1e-4)


@pytest.mark.parametrize("method", TIGHT + LOOSE)
def test_same_raw_maps(twins, method):
    net, model, x_nchw, x_nhwc = twins
    ours_torch = cnnvis.explain(net, torch.from_numpy(x_nchw), method=method, layer="4", progress=False)
    ours_keras = cnnvis.explain(model, x_nhwc, method=method, layer="conv2", progress=False)
    assert ours_keras.targets == ours_torch.targets
    np.testing.assert_allclose(ours_keras.outputs, ours_torch.outputs, atol=1e-4)
    tol = 1e-4 if method in TIGHT else 1e-3
    np.testing.assert_allclose(ours_keras.raw, ours_torch.raw, atol=tol, rtol=tol)
    np.testing.assert_allclose(ours_keras.maps, ours_torch.maps, atol=10 * tol)


def test_same_activations(twins):
    net, model, x_nchw, x_nhwc = twins
    ours_torch = cnnvis.activations(net, torch.from_numpy(x_nchw), ["1", "4"])
    ours_keras = cnnvis.activations(model, x_nhwc, ["conv1", "conv2"])
    np.testing.assert_allclose(ours_keras["conv1"], ours_torch["1"], atol=1e-4)
    np.testing.assert_allclose(ours_keras["conv2"], ours_torch["4"], atol=1e-4)
