"""Opening .keras and .h5 files: safe mode by default, an explicit opt-in for Lambda layers."""

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
keras = pytest.importorskip("keras")
pytest.importorskip("tensorflow")

import cnnvis  # noqa: E402
from cnnvis.errors import UnsafeFileError, UnsupportedFileError  # noqa: E402

layers = keras.layers


def cnn(with_lambda=False):
    keras.utils.set_random_seed(0)
    inp = keras.Input((12, 12, 3))
    x = layers.Conv2D(4, 3, activation="relu", name="conv")(inp)
    if with_lambda:
        x = layers.Lambda(lambda t: t * 2.0, name="double")(x)
    out = layers.Dense(3, activation="softmax", name="fc")(layers.GlobalAveragePooling2D()(x))
    return keras.Model(inp, out)


def test_keras_round_trip(tmp_path):
    model = cnn()
    path = tmp_path / "model.keras"
    model.save(path)
    handle = cnnvis.load(path)
    assert (handle.format, handle.framework) == ("keras", "keras")
    x = np.random.default_rng(0).random((2, 12, 12, 3), dtype=np.float32)
    ours = cnnvis.explain(handle, x, layer="conv", progress=False)
    ref = cnnvis.explain(model, x, layer="conv", progress=False)
    np.testing.assert_allclose(ours.raw, ref.raw, atol=1e-6)
    assert cnnvis.graph(handle).node("conv")["kind"] == "layer"


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_lambda_layer_needs_explicit_opt_in(tmp_path, suffix):
    path = tmp_path / f"lambda{suffix}"
    cnn(with_lambda=True).save(path)
    with pytest.raises(UnsafeFileError, match="safe_mode=False"):
        cnnvis.load(path)
    handle = cnnvis.load(path, safe_mode=False)
    assert handle.model.get_layer("double") is not None


def test_broken_file_is_unsupported(tmp_path):
    path = tmp_path / "broken.keras"
    path.write_bytes(b"not a zip archive")
    with pytest.raises(UnsupportedFileError, match="broken.keras"):
        cnnvis.load(path)
