"""cnnvis GradCAM on Keras ResNet-50 against its lower bound, tf-keras-vis and an eager tape (CPU).

Goals: cnnvis GradCAM <= 1.2x one compiled forward + gradient to the layer; repeated calls with the
same shapes do not retrace.
Run: .venv/bin/python benchmarks/bench_cam_keras.py [--repeats N] [--batch N]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from _timing import report, side_by_side  # noqa: E402

import cnnvis  # noqa: E402
from cnnvis.adapters.keras import KerasAdapter  # noqa: E402

LAYER = "conv5_block3_out"


def limit_function(model):
    """The lower bound: a compiled forward to the layer and logits, gradient of the top scores only."""
    probe = keras.Model(model.inputs, [model.get_layer(LAYER).output, model.get_layer("predictions").output])
    head = model.get_layer("predictions")

    @tf.function(input_signature=[tf.TensorSpec((None, 224, 224, 3), "float32")])
    def forward_and_grad(x):
        with tf.GradientTape() as tape:
            activation, _ = probe(x, training=False)
            tape.watch(activation)
            features = model.get_layer("avg_pool")(activation)
            logits = tf.matmul(features, head.kernel) + head.bias  # pre-softmax, as cnnvis scores
            score = tf.reduce_sum(tf.gather(logits, tf.argmax(logits, 1), axis=1, batch_dims=1))
        return activation, tape.gradient(score, activation)

    return forward_and_grad


def eager_tape(model):
    probe = keras.Model(model.inputs, [model.get_layer(LAYER).output, model.output])

    def run(x):
        with tf.GradientTape() as tape:
            activation, probs = probe(x, training=False)
            score = tf.reduce_sum(tf.reduce_max(probs, axis=1))
        return tape.gradient(score, activation)

    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    keras.utils.set_random_seed(0)
    model = keras.applications.ResNet50(weights=None)
    x = np.random.default_rng(0).normal(size=(args.batch, 224, 224, 3)).astype(np.float32)
    print(f"tensorflow {tf.__version__}, keras {keras.__version__}, resnet50 batch {args.batch} 224x224, CPU")

    limit = limit_function(model)
    tape = eager_tape(model)
    tkv = Gradcam(model, model_modifier=ReplaceToLinear(), clone=True)
    targets = list(np.argmax(model(x).numpy(), axis=1))

    medians = side_by_side({
        "compiled forward + gradient to layer (limit)": lambda: limit(x),
        "cnnvis gradcam (maps at input size)": lambda: cnnvis.explain(model, x, layer=LAYER, progress=False),
        "tf-keras-vis Gradcam": lambda: tkv(CategoricalScore(targets), x, penultimate_layer=LAYER,
                                           seek_penultimate_conv_layer=False),
        "eager GradientTape (no maps)": lambda: tape(x),
    }, repeats=args.repeats)
    report("GradCAM, Keras ResNet-50", medians, "compiled forward + gradient to layer (limit)")
    ours = medians["cnnvis gradcam (maps at input size)"]
    print(f"  => cnnvis is {ours / medians['compiled forward + gradient to layer (limit)']:.2f}x the limit "
          f"(goal <= 1.2x), {medians['tf-keras-vis Gradcam'] / ours:.2f}x faster than tf-keras-vis")

    adapter = KerasAdapter(model)
    before = adapter.trace_count
    for _ in range(3):
        cnnvis.explain(model, x, layer=LAYER, progress=False)
    cnnvis.explain(model, x[:2], layer=LAYER, progress=False)
    print(f"  traces: {before} after warm-up, {adapter.trace_count} after 3 more calls and another batch size "
          "(no retracing when equal)")


if __name__ == "__main__":
    main()
