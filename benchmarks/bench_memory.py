"""Resident memory across a long session: eight Keras ResNet50s and eight torch resnet50s explained
in turn (random weights), each dropped before the next. Prints RSS per round and the growth from
the 2nd to the 8th round per model (goal: < 150 MB each)."""

from __future__ import annotations

import gc
import os
import sys

import numpy as np
import psutil

ROUNDS = 8


def rss_mb() -> float:
    return psutil.Process(os.getpid()).memory_info().rss / 2**20


def run(name: str, make, inputs, after=lambda: None) -> float:
    import cnnvis

    sizes = []
    for _ in range(ROUNDS):
        model = make()
        cnnvis.explain(model, inputs)
        del model
        after()
        gc.collect()
        sizes.append(rss_mb())
        print(f"  {name} round {len(sizes)}: {sizes[-1]:.0f} MB", flush=True)
    growth = (sizes[-1] - sizes[1]) / (ROUNDS - 2)
    print(f"{name:16} RSS per round (MB): {' '.join(f'{s:.0f}' for s in sizes)}   "
          f"growth 2nd->8th: {sizes[-1] - sizes[1]:.0f} MB ({growth:.1f} MB per model; goal < 150)")
    return growth


def main() -> int:
    from cnnvis.adapters.keras import import_triton_before_tensorflow

    import_triton_before_tensorflow()  # Triton crashes when it is imported after TensorFlow
    import keras
    import torch
    import torchvision

    keras_growth = run("keras ResNet50", lambda: keras.applications.ResNet50(weights=None),
                       np.random.default_rng(0).random((1, 224, 224, 3), dtype=np.float32),
                       keras.backend.clear_session)
    torch_growth = run("torch resnet50", lambda: torchvision.models.resnet50(weights=None).eval(),
                       torch.randn(1, 3, 224, 224))
    return 0 if max(keras_growth, torch_growth) < 150 else 1


if __name__ == "__main__":
    sys.exit(main())
