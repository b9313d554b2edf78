"""Graphs of Keras models: real edges from the functional graph, nesting, shared layers, subclassing."""

import json
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
keras = pytest.importorskip("keras")
pytest.importorskip("tensorflow")

import cnnvis  # noqa: E402

layers = keras.layers


def test_residual_add_has_both_edges():
    inp = keras.Input((16, 16, 3), name="image")
    x = layers.Conv2D(8, 3, padding="same", name="stem")(inp)
    y = layers.Conv2D(8, 3, padding="same", name="branch")(x)
    z = layers.Add(name="add")([x, y])
    out = layers.Dense(2, name="fc")(layers.GlobalAveragePooling2D(name="gap")(z))
    g = cnnvis.graph(keras.Model(inp, out))
    assert ("stem", "add") in g.edges and ("branch", "add") in g.edges and ("stem", "branch") in g.edges
    assert ("image", "stem") in g.edges and ("fc", "output") in g.edges
    assert g.node("image")["kind"] == "input" and g.node("output")["kind"] == "output"
    assert g.node("stem")["output_shape"] == [None, 16, 16, 8]
    assert g.node("stem")["params"] == 3 * 3 * 3 * 8 + 8
    json.dumps(g.to_dict())


def test_concatenate_and_shared_layer():
    a, b = keras.Input((8,), name="a"), keras.Input((8,), name="b")
    shared = layers.Dense(4, name="shared")
    joined = layers.Concatenate(name="cat")([shared(a), shared(b)])
    g = cnnvis.graph(keras.Model([a, b], layers.Dense(1, name="out")(joined)))
    assert [n["id"] for n in g.nodes].count("shared") == 1
    assert ("a", "shared") in g.edges and ("b", "shared") in g.edges and ("shared", "cat") in g.edges

    x, y = keras.Input((4, 4, 2), name="x"), keras.Input((4, 4, 3), name="y")
    cat = layers.Concatenate(name="cat")([layers.Conv2D(2, 1, name="cx")(x), layers.Conv2D(2, 1, name="cy")(y)])
    g = cnnvis.graph(keras.Model([x, y], cat))
    assert ("cx", "cat") in g.edges and ("cy", "cat") in g.edges
    assert g.node("cat")["output_shape"] == [None, 4, 4, 4]


def test_nested_model_is_a_group():
    inner_in = keras.Input((12, 12, 3))
    h = layers.Conv2D(4, 3, name="conv1")(inner_in)
    backbone = keras.Model(inner_in, layers.Conv2D(4, 3, name="conv2")(h), name="backbone")
    outer_in = keras.Input((12, 12, 3), name="image")
    y = layers.GlobalAveragePooling2D(name="gap")(backbone(outer_in))
    model = keras.Model(outer_in, layers.Dense(3, name="head")(y))
    g = cnnvis.graph(model)
    group = g.node("backbone")
    assert group["kind"] == "group" and group["params"] == backbone.count_params()
    assert g.node("backbone/conv2")["parent"] == "backbone"
    assert ("image", "backbone/conv1") in g.edges
    assert ("backbone/conv1", "backbone/conv2") in g.edges and ("backbone/conv2", "gap") in g.edges
    assert all(g.node(s)["kind"] != "group" and g.node(d)["kind"] != "group" for s, d in g.edges)


def test_sequential_graph():
    model = keras.Sequential([keras.Input((8, 8, 1)), layers.Conv2D(2, 3, name="c"), layers.Flatten(name="f")])
    g = cnnvis.graph(model)
    assert ("c", "f") in g.edges and g.node("f")["output_shape"] == [None, 72]


class Block(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = layers.Conv2D(4, 3, padding="same", name="conv")

    def call(self, x):
        return self.conv(x)


class Net(keras.Model):
    def __init__(self):
        super().__init__(name="net")
        self.block = Block(name="block")
        self.pool = layers.GlobalAveragePooling2D(name="gap")
        self.head = layers.Dense(2, name="head")

    def call(self, x):
        return self.head(self.pool(self.block(x)))


def test_subclassed_model_is_traced():
    model = Net()
    x = np.zeros((1, 8, 8, 3), np.float32)
    model(x)
    g = cnnvis.graph(model, x)
    assert g.node("block")["kind"] == "group" and g.node("block/conv")["parent"] == "block"
    assert ("input", "block/conv") in g.edges and ("block/conv", "gap") in g.edges and ("head", "output") in g.edges
    assert g.node("block/conv")["output_shape"] == [1, 8, 8, 4]
