"""Sweep: every ``keras.applications`` model (random weights, logits out), cnnvis's GradCAM on its
default layer against a closed-form GradientTape GradCAM on the same tensor; prints one outcome
per model. ``python benchmarks/sweep_keras.py [ModelName ...]``."""

from __future__ import annotations

import inspect
import sys
import time
import warnings

import numpy as np
from sweep_torch_cases import corr, print_table


def applications() -> dict:
    import keras

    found = {}
    spaces = [vars(keras.applications), *(vars(m) for m in vars(keras.applications).values() if inspect.ismodule(m))]
    for space in spaces:
        for name, fn in space.items():
            if inspect.isfunction(fn) and name[:1].isupper() and "classifier_activation" in inspect.signature(fn).parameters:
                found[name] = fn
    return dict(sorted(found.items()))


def reference(model, layer: str, x: np.ndarray, target: int) -> np.ndarray:
    """GradCAM in closed form: ReLU(sum_k mean(dy/dA_k) A_k) on the layer's tensor."""
    import keras
    import tensorflow as tf

    base = layer.removesuffix(":input")
    tensor = model.get_layer(base).input if layer.endswith(":input") else model.get_layer(base).output
    probe = keras.Model(model.inputs, [tensor, model.output])

    # Run as a graph, as cnnvis runs Keras models: with random weights some deep models are chaotic
    # (EfficientNetV2-M/L: a 1e-6 change of the input changes every logit), and eager and graph
    # kernels round differently enough to give another map.
    @tf.function(autograph=False)
    def gradcam(batch):
        with tf.GradientTape() as tape:
            activation, logits = probe(batch, training=False)
            score = logits[:, target]
        return activation, tape.gradient(score, activation)

    activation, grads = (t.numpy() for t in gradcam(tf.constant(x)))
    weights = grads.mean(axis=(1, 2), keepdims=True)
    return np.maximum((weights * activation).sum(axis=-1), 0)


def chaotic(model, x: np.ndarray) -> bool:
    """The model's logits change wholesale under a 1e-6 relative change of the input."""
    a, b = (model(v, training=False).numpy() for v in (x, x * (1 + 1e-6)))
    return float(np.abs(a - b).max()) > 1e-2 * float(np.abs(a).max())


def outcome(name: str, fn) -> tuple[str, str]:
    import keras

    import cnnvis
    from cnnvis.errors import CnnvisError

    keras.utils.set_random_seed(0)
    model = fn(weights=None, classifier_activation=None)
    shape = tuple(d or 224 for d in model.inputs[0].shape[1:])  # MobileNetV3 takes any size
    x = np.random.default_rng(0).random((1, *shape), dtype=np.float32) * 255
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exp = cnnvis.explain(model, x, method="gradcam", target=1)
    except CnnvisError as exc:
        return "refused", str(exc).splitlines()[0][:150]
    except Exception as exc:
        return "crash", f"{type(exc).__name__}: {exc}"[:150]
    expected = reference(model, exp.layer, x, 1)
    r = corr(np.maximum(exp.raw, 0), expected)  # raw maps are before the ReLU
    note = " (chaotic with random weights)" if chaotic(model, x) else ""
    return ("equal" if r >= 0.99 else "wrong"), f"{exp.layer} corr={r:.4f}{note}"


def main(names: list[str]) -> int:
    from cnnvis.adapters.keras import import_triton_before_tensorflow

    import_triton_before_tensorflow()
    import keras

    start = time.perf_counter()
    results = []
    for name, fn in applications().items():
        if names and name not in names:
            continue
        result, detail = outcome(name, fn)
        results.append(("keras.applications", name, result, detail))
        print(f"{result:8} {name:24} {detail}", flush=True)
        keras.backend.clear_session()
    total = print_table("keras.applications zoo", results, time.perf_counter() - start)
    return 1 if total.get("crash") or total.get("wrong") else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
