"""Deep Feature Factorization (Collins, Achanta, Süsstrunk 2018, arXiv:1806.10206): the activations of
one layer, over a whole batch, factorised into a few non-negative concepts; each concept is a channel
vector (what it looks like to the network) and a map per image (where it is)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import CnnvisError
from ..imaging import minmax, resize_maps


@dataclass
class Concepts:
    """The concepts found in one batch at one layer.

    ``maps``: ``(N, K, H, W)`` float32 in [0, 1] per image and concept, at input resolution.
    ``raw``: ``(N, K, h, w)`` the factor loadings at the layer's resolution. ``vectors``: ``(C, K)``
    each concept's channel vector. ``scores``: ``(K, classes)`` the model's pre-softmax scores for a
    layer output filled with each concept (None when the layer's output cannot be replaced).
    ``top_classes``: per concept, ``top_k`` ``(class, score)`` pairs (class names where given).
    """

    layer: str
    maps: np.ndarray
    raw: np.ndarray
    vectors: np.ndarray
    scores: np.ndarray | None
    top_classes: list[list[tuple[Any, float]]]

    def labels(self) -> list[str]:
        """One legend line per concept: its top classes and scores."""
        return [", ".join(f"{c}: {s:.2f}" for c, s in top) or f"concept {k}"
                for k, top in enumerate(self.top_classes)]

    def regions(self) -> np.ndarray:
        """``(N, H, W)`` int: the strongest concept at each pixel (for drawing coloured regions)."""
        return self.maps.argmax(axis=1).astype(np.int32)


def factorize(activations: np.ndarray, n_components: int) -> tuple[np.ndarray, np.ndarray]:
    """``(vectors (C, K), loadings (N, K, h, w))`` by NMF of the channels x (images*positions) matrix,
    each channel shifted by its minimum to be non-negative (and the shift added back to the vectors)."""
    from sklearn.decomposition import NMF

    n, c, h, w = activations.shape
    matrix = np.nan_to_num(activations.transpose(1, 0, 2, 3).reshape(c, -1).astype(np.float64))
    offset = matrix.min(axis=1)
    nmf = NMF(n_components=n_components, init="random", random_state=0)
    weights = nmf.fit_transform(matrix - offset[:, None])
    loadings = nmf.components_.reshape(n_components, n, h, w).transpose(1, 0, 2, 3)
    return weights + offset[:, None], loadings


def concepts(
    model: Any,
    inputs: Any,
    layer: str | None = None,
    n_components: int = 5,
    *,
    top_k: int = 2,
    class_names: Sequence[str] | None = None,
) -> Concepts:
    """Deep Feature Factorization of ``inputs`` at ``layer`` (default: ``explain``'s layer).

    The concepts equal pytorch-grad-cam's ``DeepFeatureFactorization`` (scikit-learn NMF, random init,
    seed 0); each concept's classes come from running the rest of the model on a layer output filled
    with that concept's vector.
    """
    from ..adapters.base import resolve_adapter

    if not isinstance(n_components, int) or n_components < 1:
        raise CnnvisError(f"n_components must be a positive integer, not {n_components!r}.")
    adapter = resolve_adapter(model)
    batch = adapter.prepare_inputs(inputs)
    layer = layer or adapter.default_layer(batch)
    found = adapter.activations(batch, [layer])
    if layer not in found:
        raise CnnvisError(f"Layer {layer!r} gave no spatial output to factorise; pick a convolutional layer.")
    acts = np.asarray(found[layer], dtype=np.float32)
    if acts.ndim != 4:
        raise CnnvisError(f"Layer {layer!r} outputs {acts.shape}, not (N, C, h, w) maps to factorise.")
    vectors, loadings = factorize(acts, n_components)
    height, width = adapter.inputs_nchw(adapter.take(batch, [0])).shape[2:]
    n, k = loadings.shape[:2]
    flat = loadings.reshape(n * k, *loadings.shape[2:]).astype(np.float32)
    maps = resize_maps(minmax(flat), height, width).reshape(n, k, height, width)
    scores = _concept_scores(adapter, batch, layer, vectors, acts.shape[2:])
    return Concepts(layer=layer, maps=maps, raw=loadings.astype(np.float32), vectors=vectors.astype(np.float32),
                    scores=scores, top_classes=_top(scores, top_k, class_names))


def _concept_scores(adapter: Any, batch: Any, layer: str, vectors: np.ndarray, size: tuple) -> np.ndarray | None:
    """The model's scores when the layer outputs each concept's vector at every position."""
    filled = np.ascontiguousarray(np.broadcast_to(vectors.T[:, :, None, None], (vectors.shape[1], vectors.shape[0],
                                                                                 *size)), dtype=np.float32)
    try:
        flat = adapter.target_scores_with_layer(adapter.take(batch, [0]), layer, filled, lambda logits: logits)
    except CnnvisError:
        return None
    return np.asarray(flat, dtype=np.float32).reshape(len(filled), -1)


def _top(scores: np.ndarray | None, top_k: int, names: Sequence[str] | None) -> list[list[tuple[Any, float]]]:
    if scores is None:
        return []
    order = np.argsort(-scores, axis=1)[:, :top_k]
    return [[(names[c] if names is not None and c < len(names) else int(c), float(row[c])) for c in idx]
            for row, idx in zip(scores, order, strict=True)]
