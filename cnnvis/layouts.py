"""Which layout a model takes its image batches in, for code that turns cnnvis's channels-first
arrays back into what the user would pass (noise for SmoothGrad, masked inputs, flipped inputs)."""

from __future__ import annotations

from typing import Any

import numpy as np


def takes_channels_last(adapter: Any) -> bool:
    """Keras batches are ``(N, H, W, C)``; so are ONNX models whose input is NHWC."""
    return adapter.framework == "keras" or getattr(adapter, "input_layout", None) == "NHWC"


def to_native(adapter: Any, batch_nchw: np.ndarray) -> np.ndarray:
    """A channels-first batch in the layout the model takes."""
    return batch_nchw.transpose(0, 2, 3, 1) if takes_channels_last(adapter) else batch_nchw


def from_native(adapter: Any, batch: np.ndarray) -> np.ndarray:
    """A batch in the model's own layout, channels-first."""
    return batch.transpose(0, 3, 1, 2) if takes_channels_last(adapter) else batch
