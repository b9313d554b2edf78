"""A long session explains model after model: once the user drops a model, nothing in cnnvis keeps
it (or its graph, sessions or compiled functions) alive, and resident memory stays flat.
benchmarks/bench_memory.py does the same with Keras ResNet50 and torch resnet50."""

import gc
import os
import weakref

import numpy as np
import pytest

import cnnvis

psutil = pytest.importorskip("psutil")
ROUNDS = 4
RSS_BOUND_MB = 150  # growth from the 2nd to the last round, whatever the model's size (generous)


def rss_mb() -> float:
    return psutil.Process(os.getpid()).memory_info().rss / 2**20


def rounds(make_model, inputs, after=lambda: None):
    """Explains ROUNDS fresh models in turn; after each, the model must be gone. Returns RSS per round."""
    sizes = []
    for _ in range(ROUNDS):
        model = make_model()
        cnnvis.explain(model, inputs)
        cnnvis.activations(model, inputs)
        alive = weakref.ref(model)
        del model
        after()
        gc.collect()
        assert alive() is None, "cnnvis kept a dropped model alive"
        sizes.append(rss_mb())
    return sizes


def test_keras_models_are_freed():
    keras = pytest.importorskip("keras")

    def make():
        inputs = keras.Input((32, 32, 3))
        x = keras.layers.Conv2D(16, 3, activation="relu")(inputs)
        x = keras.layers.Conv2D(16, 3, activation="relu")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        return keras.Model(inputs, keras.layers.Dense(5)(x))

    images = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    sizes = rounds(make, images, after=keras.backend.clear_session)
    assert sizes[-1] - sizes[1] < RSS_BOUND_MB, sizes


def test_keras_models_are_freed_without_clear_session():
    keras = pytest.importorskip("keras")

    def make():
        inputs = keras.Input((16, 16, 3))
        x = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
        return keras.Model(inputs, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x)))

    rounds(make, np.ones((1, 16, 16, 3), np.float32))


def test_torch_models_are_freed():
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")

    def make():
        return torchvision.models.resnet18(weights=None, num_classes=5).eval()

    sizes = rounds(make, torch.randn(1, 3, 64, 64))
    assert sizes[-1] - sizes[1] < RSS_BOUND_MB, sizes


def test_onnx_models_and_sessions_are_freed(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from helpers import tiny_onnx

    path = tmp_path / "tiny.onnx"
    tiny_onnx(path, channels=3, size=16)
    del torch
    sizes = rounds(lambda: cnnvis.load(path), np.ones((1, 3, 16, 16), np.float32))
    assert sizes[-1] - sizes[1] < RSS_BOUND_MB, sizes
