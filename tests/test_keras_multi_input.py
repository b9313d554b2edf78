"""Keras models with several inputs: list or dict batches, maps at the feeding input's resolution."""

import numpy as np
import pytest

import cnnvis

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def two_inputs():
    """An RGB image (16x16) and a one-channel map (8x8), each through its own convolutions."""
    keras.utils.set_random_seed(0)
    image = keras.Input((16, 16, 3), name="image")
    depth = keras.Input((8, 8, 1), name="depth")
    a = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="image_conv")(image)
    a = keras.layers.MaxPooling2D(name="image_pool")(a)
    b = keras.layers.Conv2D(5, 3, padding="same", activation="relu", name="depth_conv")(depth)
    merged = keras.layers.Concatenate(name="merge")([a, b])
    fused = keras.layers.Conv2D(4, 3, padding="same", name="fused_conv")(merged)
    pooled = keras.layers.GlobalAveragePooling2D()(fused)
    logits = keras.layers.Dense(3, name="logits")(pooled)
    return keras.Model({"image": image, "depth": depth}, logits)


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    return {"image": rng.normal(size=(2, 16, 16, 3)).astype("float32"),
            "depth": rng.normal(size=(2, 8, 8, 1)).astype("float32")}


def tape_gradcam(model, inputs, layer, targets):
    """Grad-CAM by hand: gradient of the target logits with respect to the layer's output."""
    probe = keras.Model(model.inputs, [model.get_layer(layer).output, model.output])
    with tf.GradientTape() as tape:
        features, logits = probe(inputs)
        score = tf.reduce_sum(tf.gather(logits, targets, axis=1, batch_dims=1))
    grads = tape.gradient(score, features).numpy()
    return np.einsum("nc,nhwc->nhw", grads.mean(axis=(1, 2)), features.numpy())


def normalised(raw):
    relu = np.maximum(raw, 0)
    low = relu.min(axis=(1, 2), keepdims=True)
    return (relu - low) / (relu.max(axis=(1, 2), keepdims=True) - low + 1e-7)


@pytest.mark.parametrize("layer", ["depth_conv", "fused_conv", "image_conv"])
def test_dict_inputs_match_a_gradient_tape(two_inputs, batch, layer):
    exp = cnnvis.explain(two_inputs, batch, target=[0, 2], layer=layer)
    np.testing.assert_allclose(exp.raw, tape_gradcam(two_inputs, batch, layer, [0, 2]), atol=1e-5)
    # The map takes the resolution of the input feeding the layer: 8x8 depth or 16x16 image.
    side = 16 if layer == "image_conv" else 8
    assert exp.maps.shape == (2, side, side)
    if layer != "image_conv":  # same resolution as its input: no resizing in between
        np.testing.assert_allclose(exp.maps, normalised(exp.raw), atol=1e-3)


def test_list_inputs_in_the_model_order():
    keras.utils.set_random_seed(1)
    image, extra = keras.Input((12, 12, 3)), keras.Input((4,))
    features = keras.layers.Conv2D(4, 3, padding="same", name="conv")(image)
    joined = keras.layers.Concatenate()([keras.layers.GlobalAveragePooling2D()(features), extra])
    model = keras.Model([image, extra], keras.layers.Dense(3)(joined))
    rng = np.random.default_rng(1)
    inputs = [rng.normal(size=(2, 12, 12, 3)).astype("float32"), rng.normal(size=(2, 4)).astype("float32")]
    exp = cnnvis.explain(model, inputs, target=1)
    assert exp.layer == "conv" and exp.maps.shape == (2, 12, 12)
    np.testing.assert_allclose(exp.raw, tape_gradcam(model, inputs, "conv", [1, 1]), atol=1e-5)
    assert cnnvis.explain(model, inputs, method="eigencam").maps.shape == (2, 12, 12)


def test_wrong_structures_are_refused(two_inputs, batch):
    with pytest.raises(cnnvis.InputShapeError, match="depth"):
        cnnvis.explain(two_inputs, {"image": batch["image"]})
    with pytest.raises(cnnvis.InputShapeError, match="dict"):
        cnnvis.explain(two_inputs, batch["image"])
    with pytest.raises(cnnvis.InputShapeError, match="batch size"):
        cnnvis.explain(two_inputs, {"image": batch["image"], "depth": batch["depth"][:1]})
