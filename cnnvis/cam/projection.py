"""Projections on the first principal direction (EigenCAM's, and ``eigen_smooth`` for every method)."""

from __future__ import annotations

from typing import Any

import numpy as np


def first_component_projection(activations: np.ndarray) -> np.ndarray:
    """Project ``(C, h, w)`` on the first right-singular vector of the mean-centred positions."""
    flat = np.nan_to_num(activations).reshape(activations.shape[0], -1).T
    flat = flat - flat.mean(axis=0)
    # pytorch-grad-cam asks for full_matrices=True; the first right-singular vector LAPACK returns is
    # the same, sign included, without the (C, C) remainder, which costs most of the time for wide
    # layers (2048 channels at 7x7: ~50x). The anchor tests compare signs with pytorch-grad-cam.
    _, _, vt = np.linalg.svd(flat, full_matrices=False)
    return (flat @ vt[0]).reshape(activations.shape[1:])


def projection(batch: np.ndarray, sign_correct: bool = False) -> np.ndarray:
    """Each ``(C, h, w)`` of the batch projected (``(N, h, w)`` float32). ``sign_correct`` flips a map
    whose most negative value outweighs its largest, so salient regions come out positive."""
    maps = np.stack([first_component_projection(a) for a in batch]).astype(np.float32)
    if sign_correct:
        flip = np.abs(maps.min(axis=(1, 2))) > np.abs(maps.max(axis=(1, 2)))
        maps[flip] *= -1
    return maps


def eigen_smoothed(ops: Any, weights: Any, activations: Any) -> np.ndarray:
    """pytorch-grad-cam's ``eigen_smooth``: the weighted activations projected on their first
    principal direction instead of summed over channels (on the host: the sign is LAPACK's)."""
    weighted = (weights[:, :, None, None] if weights.ndim == 2 else weights) * activations
    return projection(ops.to_host(weighted))
