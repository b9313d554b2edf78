"""Keras CAMs: agreement with tf-keras-vis, nested and subclassed models, targets, errors."""

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from helpers import pearson  # noqa: E402

import cnnvis  # noqa: E402
from cnnvis.adapters.keras import KerasAdapter  # noqa: E402
from cnnvis.imaging import minmax, resize_maps  # noqa: E402

layers = keras.layers
TKV_METHODS = ("gradcam", "gradcam++", "layercam")


def small_cnn() -> "keras.Model":
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((32, 32, 3)),
        layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1"),
        layers.MaxPooling2D(name="pool"),
        layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2"),
        layers.GlobalAveragePooling2D(name="gap"),
        layers.Dense(10, activation="softmax", name="fc"),
    ])


@pytest.fixture(scope="module")
def resnet50():
    keras.utils.set_random_seed(0)
    return keras.applications.ResNet50(weights=None, input_shape=(224, 224, 3))


def tkv_maps(model, x, method, layer, targets, expand=True):
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.layercam import Layercam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    cls = {"gradcam": Gradcam, "gradcam++": GradcamPlusPlus, "layercam": Layercam}[method]
    cam = cls(model, model_modifier=replace_to_linear(ReplaceToLinear), clone=True)
    return np.asarray(cam(CategoricalScore(list(targets)), x, penultimate_layer=layer,
                          seek_penultimate_conv_layer=False, expand_cam=expand, normalize_cam=True))


def replace_to_linear(modifier_cls):
    """tf-keras-vis's ReplaceToLinear; Keras 3 Sequential lacks the ``output_names`` it reads."""

    def modify(model):
        if hasattr(model, "output_names"):
            return modifier_cls()(model)
        model.layers[-1].activation = keras.activations.linear
        return model

    return modify


def assert_agrees_with_tkv(model, x, layer):
    """tf-keras-vis upsamples with scipy's corner-aligned zoom, cnnvis (like pytorch-grad-cam) with
    OpenCV's half-pixel bilinear resize: compare its normalised maps at the layer's resolution,
    then both brought to the input resolution by the same resize."""
    for method in TKV_METHODS:
        ours = cnnvis.explain(model, x, method=method, layer=layer, progress=False)
        theirs = tkv_maps(model, x, method, layer, ours.targets, expand=False).reshape(ours.raw.shape)
        theirs_full = minmax(resize_maps(theirs, *ours.maps.shape[1:]))
        for i in range(len(x)):
            assert pearson(minmax(np.maximum(ours.raw, 0))[i], theirs[i]) >= 0.99, (method, i)
            assert pearson(ours.maps[i], theirs_full[i]) >= 0.99, (method, i)


def test_small_sequential_agrees_with_tf_keras_vis():
    model = small_cnn()
    x = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    assert_agrees_with_tkv(model, x, "conv2")


def test_resnet50_agrees_with_tf_keras_vis(resnet50):
    x = np.random.default_rng(1).normal(size=(2, 224, 224, 3)).astype(np.float32)
    assert_agrees_with_tkv(resnet50, x, "conv5_block3_out")


def test_softmax_is_bypassed_and_model_left_alone():
    model = small_cnn()
    x = np.random.default_rng(2).random((3, 32, 32, 3), dtype=np.float32)
    exp = cnnvis.explain(model, x, progress=False)
    probs = model(x).numpy()
    np.testing.assert_allclose(tf.nn.softmax(exp.outputs).numpy(), probs, atol=1e-5)
    assert exp.targets == list(probs.argmax(1))
    assert model.get_layer("fc").activation.__name__ == "softmax"
    assert "call" not in model.get_layer("fc").__dict__


def test_default_layer_and_no_retracing():
    model = small_cnn()
    x = np.random.default_rng(3).random((2, 32, 32, 3), dtype=np.float32)
    exp = cnnvis.explain(model, x, progress=False)
    assert exp.layer == "conv2"
    adapter = KerasAdapter(model)
    before = adapter.trace_count
    cnnvis.explain(model, x, progress=False)
    cnnvis.explain(model, x[:1], target=3, progress=False)  # another batch size, same trace
    assert adapter.trace_count == before


def nested_model():
    keras.utils.set_random_seed(0)
    inner_in = keras.Input((24, 24, 3))
    h = layers.Conv2D(8, 3, activation="relu", name="conv1")(inner_in)
    h = layers.Conv2D(8, 3, activation="relu", name="conv2")(h)
    backbone = keras.Model(inner_in, h, name="backbone")
    outer_in = keras.Input((24, 24, 3))
    y = layers.GlobalAveragePooling2D(name="gap")(backbone(outer_in))
    return keras.Model(outer_in, layers.Dense(5, activation="softmax", name="head")(y), name="classifier")


def test_nested_layer_path_matches_a_flat_rebuild():
    model = nested_model()
    x = np.random.default_rng(4).random((2, 24, 24, 3), dtype=np.float32)
    exp = cnnvis.explain(model, x, method="gradcam", layer="backbone/conv2", progress=False)
    assert exp.raw.shape == (2, 20, 20)
    # The same computation written flat gives the same map.
    flat_in = keras.Input((24, 24, 3))
    backbone = model.get_layer("backbone")
    h = backbone.get_layer("conv2")(backbone.get_layer("conv1")(flat_in))
    flat = keras.Model(flat_in, model.get_layer("head")(model.get_layer("gap")(h)))
    ref = cnnvis.explain(flat, x, method="gradcam", layer="conv2", progress=False)
    np.testing.assert_allclose(exp.raw, ref.raw, rtol=1e-4, atol=1e-6)
    assert cnnvis.explain(model, x, progress=False).layer == "backbone"  # outermost spatial output
    acts = cnnvis.activations(model, x, ["backbone/conv1"])
    assert acts["backbone/conv1"].shape == (2, 8, 22, 22)


class SubclassedNet(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv1 = layers.Conv2D(6, 3, activation="relu", name="conv1")
        self.conv2 = layers.Conv2D(8, 3, activation="relu", name="conv2")
        self.pool = layers.GlobalAveragePooling2D(name="gap")
        self.head = layers.Dense(4, name="head")
        self.softmax = layers.Softmax(name="softmax")

    def call(self, x):
        return self.softmax(self.head(self.pool(self.conv2(self.conv1(x)))))


def test_subclassed_model_explains_with_every_method():
    keras.utils.set_random_seed(0)
    model = SubclassedNet()
    x = np.random.default_rng(5).random((2, 16, 16, 3), dtype=np.float32)
    model(x)
    logits = model.head(model.pool(model.conv2(model.conv1(x)))).numpy()
    for method in ("gradcam", "hirescam", "eigencam", "scorecam", "ablationcam"):
        exp = cnnvis.explain(model, x, method=method, progress=False, batch_size=4)
        assert exp.layer == "conv2" and exp.maps.shape == (2, 16, 16)
        np.testing.assert_allclose(exp.outputs, logits, atol=1e-5)


def test_callable_target_and_tensor_inputs():
    model = small_cnn()
    x = tf.random.uniform((2, 32, 32, 3), seed=1)
    by_index = cnnvis.explain(model, x, target=[1, 2], progress=False)
    by_callable = cnnvis.explain(model, x, target=lambda out: tf.stack([out[0, 1], out[1, 2]]), progress=False)
    assert by_callable.targets is None
    np.testing.assert_allclose(by_index.raw, by_callable.raw, rtol=1e-4, atol=1e-6)


def test_clear_errors():
    model = small_cnn()
    x = np.zeros((1, 32, 32, 3), np.float32)
    with pytest.raises(cnnvis.errors.InputShapeError, match="channels-first.*transpose"):
        cnnvis.explain(model, x.transpose(0, 3, 1, 2), progress=False)
    with pytest.raises(cnnvis.errors.InputShapeError, match="x\\[None\\]"):
        cnnvis.explain(model, x[0], progress=False)
    with pytest.raises(cnnvis.errors.UnknownLayerError, match="conv2"):
        cnnvis.explain(model, x, layer="conv_2", progress=False)
    with pytest.raises(cnnvis.errors.NonSpatialLayerError, match="spatial"):
        cnnvis.explain(model, x, layer="fc", progress=False)
    with pytest.raises(cnnvis.errors.InputShapeError, match="32x32"):
        cnnvis.explain(model, np.zeros((1, 30, 30, 3), np.float32), progress=False)


def test_resnet_backbone_inside_a_classifier():
    keras.utils.set_random_seed(0)
    backbone = keras.applications.ResNet50(weights=None, include_top=False, input_shape=(64, 64, 3))
    gap, head = layers.GlobalAveragePooling2D(), layers.Dense(4, activation="softmax")
    inp = keras.Input((64, 64, 3))
    nested = keras.Model(inp, head(gap(backbone(inp))))
    flat = keras.Model(backbone.input, head(gap(backbone.output)))  # same layers, one level
    x = np.random.default_rng(6).random((2, 64, 64, 3), dtype=np.float32)
    ours = cnnvis.explain(nested, x, layer="resnet50/conv5_block3_out", progress=False)
    ref = cnnvis.explain(flat, x, layer="conv5_block3_out", progress=False)
    np.testing.assert_allclose(ours.raw, ref.raw, rtol=1e-4, atol=1e-5)
    assert cnnvis.explain(nested, x, progress=False).layer == "resnet50"
