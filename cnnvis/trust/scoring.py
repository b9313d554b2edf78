"""Scoring shared by the perturbation metrics: the maps checked against the inputs, the targets, and
the target's probability or logit through any adapter."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import CnnvisError


def maps_of(explanation: Any, shape: tuple) -> np.ndarray:
    maps = np.asarray(getattr(explanation, "maps", explanation), dtype=np.float32)
    if maps.ndim == 2:
        maps = maps[None]
    if maps.shape != (shape[0], *shape[2:]):
        raise CnnvisError(
            f"The explanation's maps are {maps.shape}; the inputs need one {shape[2:]} map per image "
            f"({shape[0]}). Pass the Explanation cnnvis.explain returned for these inputs."
        )
    return maps


def targets_of(adapter: Any, images: np.ndarray, explanation: Any, target: Any) -> list[int]:
    from ..cam.engine import normalise_target

    chosen = normalise_target(target, len(images)) if target is not None else None
    if callable(chosen):
        raise CnnvisError("faithfulness needs class indices as target, not a callable.")
    if chosen is None:
        chosen = getattr(explanation, "targets", None)
    if chosen is None:
        chosen = logits(adapter, images).argmax(axis=1).tolist()
    return [int(t) for t in chosen]


def logits(adapter: Any, batch_nchw: np.ndarray) -> np.ndarray:
    """``(N, classes)`` pre-softmax outputs through any adapter (its callable-target path)."""
    return np.asarray(adapter.target_scores(batch_nchw, whole_output)).reshape(len(batch_nchw), -1)


def whole_output(output: Any) -> Any:
    return output


def scores_of(adapter: Any, batch: np.ndarray, targets: list[int], score: str) -> np.ndarray:
    out = logits(adapter, batch)
    if score == "probability":
        out = np.exp(out - out.max(axis=1, keepdims=True))
        out /= out.sum(axis=1, keepdims=True)
    return out[np.arange(len(out)), targets]
