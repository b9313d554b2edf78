"""How far apart two models' outputs are: per-input cosine, relative and max absolute error,
top-1 agreement and accuracy retention. Shared by every comparison cnnvis makes."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import CnnvisError

INT8_RETENTION = 0.98  # a quantized build keeps at least this share of the FP32 accuracy


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-input cosine similarity (a tensor without a batch axis counts as one input)."""
    a64 = a.reshape(len(a), -1).astype(np.float64) if a.ndim > 1 else a.reshape(1, -1).astype(np.float64)
    b64 = b.reshape(a64.shape).astype(np.float64)
    norms = np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1)
    same = np.all(a64 == b64, axis=1)  # two all-zero rows agree perfectly
    return np.where(same, 1.0, (a64 * b64).sum(axis=1) / np.maximum(norms, 1e-30))


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """``|b - a| / |a|`` over the whole tensor (the plain difference where ``a`` is all zero)."""
    scale = float(np.linalg.norm(a.astype(np.float64)))
    diff = float(np.linalg.norm(a.astype(np.float64) - b.astype(np.float64)))
    return diff / scale if scale else diff


def accuracy_summary(logits_a: np.ndarray, logits_b: np.ndarray, labels: Any,
                     keys: tuple[str, str] = ("fp32", "int8")) -> dict:
    """Top-1 agreement; with ``labels`` also each model's accuracy and retention (b over a)."""
    top_a, top_b = top1(logits_a), top1(logits_b)
    summary: dict[str, Any] = {"top1_agreement": float((top_a == top_b).mean())}
    if labels is not None:
        labels = check_labels(labels, len(top_a))
        acc_a, acc_b = float((top_a == labels).mean()), float((top_b == labels).mean())
        summary.update({f"accuracy_{keys[0]}": acc_a, f"accuracy_{keys[1]}": acc_b,
                        "retention": retention(acc_a, acc_b)})
    return summary


def top1(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits)
    return logits.reshape(len(logits), -1).argmax(axis=1)


def retention(reference: float, other: float) -> float:
    return other / reference if reference else float("nan")


def check_labels(labels: Any, count: int) -> np.ndarray:
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != count:
        raise CnnvisError(f"labels has {len(labels)} entries for {count} inputs; give one per input.")
    return labels


def reconcile(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """``b`` in ``a``'s layout: as is, channels-last to channels-first (or back), or flattened
    (``(N, C, 1, 1)`` against ``(N, C)``); None when no such view matches."""
    if a.shape == b.shape:
        return b
    if b.ndim == 4 and a.ndim == 4:
        for axes in ((0, 3, 1, 2), (0, 2, 3, 1)):
            if b.transpose(axes).shape == a.shape:
                return b.transpose(axes)
    if len(a) == len(b) and a.size == b.size and (a.ndim == 2 or b.ndim == 2):
        return b.reshape(a.shape)
    return None


class Agreement:
    """Running agreement of one layer over chunks of inputs, so no layer's outputs for the whole
    batch need to be held at once."""

    def __init__(self) -> None:
        self.cosine: list[np.ndarray] = []
        self.diff_sq = self.ref_sq = 0.0
        self.max_abs = 0.0
        self.shape: list[int] | None = None
        self.mismatched = False  # outputs of no common layout (or not float): no row for this pair

    def add(self, a: np.ndarray, b: np.ndarray) -> None:
        # float32 with numpy's pairwise sums: a cosine off by ~1e-6 at most, at a fraction of float64's cost
        rows = len(a) if a.ndim > 1 else 1
        a32 = np.asarray(a, np.float32).reshape(rows, -1)
        b32 = np.asarray(b, np.float32).reshape(rows, -1)
        dots = (a32 * b32).sum(axis=1, dtype=np.float64)
        squares = (a32 * a32).sum(axis=1, dtype=np.float64)
        norms = np.sqrt(squares * (b32 * b32).sum(axis=1, dtype=np.float64))
        diff = a32 - b32
        diff_sq = (diff * diff).sum(axis=1, dtype=np.float64)
        same = diff_sq == 0  # two all-zero rows agree perfectly
        self.cosine.append(np.where(same, 1.0, np.clip(dots / np.maximum(norms, 1e-30), -1.0, 1.0)))
        self.diff_sq += float(diff_sq.sum())
        self.ref_sq += float(squares.sum())
        self.max_abs = max(self.max_abs, float(np.abs(diff).max()) if diff.size else 0.0)
        self.shape = [int(d) for d in a.shape[1:]]

    def result(self) -> dict:
        cos = np.concatenate(self.cosine) if self.cosine else np.ones(1)
        diff = float(np.sqrt(self.diff_sq))
        scale = float(np.sqrt(self.ref_sq))
        return {"cosine": float(cos.mean()), "cosine_min": float(cos.min()),
                "relative_error": diff / scale if scale else diff, "max_abs_error": self.max_abs}
