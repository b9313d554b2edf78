"""Per-channel statistics of layer outputs, reduced where the activations live.

A view listing every layer needs a few numbers per channel, not the tensors: reducing on the device
(in the forward hook, for torch) keeps one forward pass for any number of layers and moves a few floats
per channel to the host instead of every activation. The panel then asks for the full tensor of the
one layer it draws.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# A value at or below this magnitude counts as zero (a dead position; a dead channel has only those).
DEAD_EPS = 1e-8
STATS = ("mean", "variance", "max", "min", "dead_fraction")


def reduce_channels(xp: Any, activations: Any) -> Any:
    """``(N, C, H, W)`` to ``(len(STATS), N, C)`` in the arrays' own kind (one transfer for all)."""
    n, c = activations.shape[:2]
    flat = xp.reshape(activations, (n, c, -1))
    flat = xp.astype(flat, xp.float32) if flat.dtype != xp.float32 else flat
    mean = xp.mean(flat, axis=2)
    return xp.stack([
        mean,
        xp.mean((flat - mean[..., None]) ** 2, axis=2),
        xp.max(flat, axis=2),
        xp.min(flat, axis=2),
        xp.mean(xp.astype(xp.abs(flat) <= DEAD_EPS, xp.float32), axis=2),
    ])


def as_stats(reduced: np.ndarray) -> dict[str, np.ndarray]:
    """``{statistic: (N, C) float32}`` plus ``dead``: ``(N, C)`` bool, channels that are zero everywhere."""
    found = {name: np.asarray(reduced[i], dtype=np.float32) for i, name in enumerate(STATS)}
    found["dead"] = found["dead_fraction"] >= 1.0
    return found


def stats_from_arrays(activations: dict[str, Any]) -> dict[str, dict[str, np.ndarray]]:
    """The same statistics from full numpy activations (adapters without on-device reduction)."""
    import array_api_compat.numpy as xp

    return {name: as_stats(reduce_channels(xp, np.asarray(a, np.float32)))
            for name, a in activations.items() if np.ndim(a) == 4}


def layer_stats(adapter: Any, batch: Any, layers: Any) -> dict[str, dict[str, np.ndarray]]:
    """Statistics of ``layers`` for a prepared batch: on the device where the adapter can reduce there."""
    reduce = getattr(adapter, "activation_stats", None)
    if reduce is not None:
        return reduce(batch, layers)
    return stats_from_arrays(adapter.activations(batch, layers))
