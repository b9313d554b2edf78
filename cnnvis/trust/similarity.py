"""How alike two maps are: Spearman rank correlation and SSIM, per image.

Both are written with numpy and OpenCV (core dependencies) so a sanity check needs no SciPy or
scikit-image. SSIM uses the 7x7 uniform window with sample covariance (Wang et al. 2004 as
scikit-image computes it by default), so numbers agree with tools built on it.
"""

from __future__ import annotations

import cv2
import numpy as np

SSIM_WINDOW = 7
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks of a 1-D array (ties share the mean of their positions)."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    # Start of each run of equal values, and its mean rank.
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(values)]
    mean_rank = (starts + ends - 1) / 2.0
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps; 0 when either is constant (it carries no ranking)."""
    ra = _ranks(np.asarray(a, dtype=np.float64).ravel())
    rb = _ranks(np.asarray(b, dtype=np.float64).ravel())
    ra -= ra.mean()
    rb -= rb.mean()
    denom = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / denom) if denom > 0 else 0.0


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity of two 2-D maps over their joint value range (1 for identical maps)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    data_range = float(max(a.max(), b.max()) - min(a.min(), b.min()))
    if data_range == 0:
        return 1.0  # two identical constant maps
    win = SSIM_WINDOW
    if min(a.shape) < win:
        raise ValueError(f"SSIM needs maps of at least {win}x{win} pixels, not {a.shape}.")

    def mean(x: np.ndarray) -> np.ndarray:
        return cv2.blur(x, (win, win), borderType=cv2.BORDER_REFLECT)

    n = win * win
    cov_norm = n / (n - 1)  # sample covariance
    ma, mb = mean(a), mean(b)
    va = cov_norm * (mean(a * a) - ma * ma)
    vb = cov_norm * (mean(b * b) - mb * mb)
    vab = cov_norm * (mean(a * b) - ma * mb)
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    index = ((2 * ma * mb + c1) * (2 * vab + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
    pad = (win - 1) // 2  # the border, where the window leaves the image, is left out
    return float(index[pad:-pad, pad:-pad].mean())


def per_image(func, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """``func`` applied to each pair of maps of two ``(N, H, W)`` stacks."""
    return np.array([func(x, y) for x, y in zip(first, second, strict=True)], dtype=np.float64)
