"""Gradients of the target score with respect to the inputs, for pixel attributions."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import TargetError


def input_gradients(adapter: Any, batch_nchw: np.ndarray, target: Any, guided: bool = False
                    ) -> tuple[np.ndarray, list[int] | None]:
    """``(d score / d inputs as channels-first (N, C, H, W) float32, the class per input or None)``."""
    tf = adapter.tf
    x = tf.convert_to_tensor(np.transpose(batch_nchw, (0, 2, 3, 1)), dtype=adapter._input_dtype())
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(x)
        logits = adapter._guarded(lambda: adapter._logits(x))
        if callable(target):
            score = target(logits)
            targets = None
        else:
            targets = [int(t) for t in np.argmax(logits.numpy(), axis=1)] if target is None else list(target)
            classes = int(logits.shape[-1])
            if any(not -classes <= t < classes for t in targets):
                raise TargetError(f"target class out of range: the model outputs {classes} scores.")
            score = tf.gather(logits, targets, axis=1, batch_dims=1)
        score = tf.reduce_sum(score)
    grads = tape.gradient(score, x)
    if grads is None:
        raise TargetError("The target score does not depend on the inputs.")
    return np.transpose(np.asarray(grads, dtype=np.float32), (0, 3, 1, 2)), targets
