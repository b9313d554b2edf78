"""The data classes the readers return."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cnnvis.errors import CnnvisError


class LogdirError(CnnvisError, FileNotFoundError):
    """A log directory (or event file) that does not exist or cannot be listed."""


@dataclass
class Series:
    """The points of one scalar tag, in the order they were written.

    ``steps`` int64, ``values`` float64, ``wall_times`` float64 (seconds since the epoch).
    A downsampled series (:func:`cnnvis.scalars.downsample`) also carries ``lo``/``hi``: the
    minimum and maximum of the original values in the bucket each kept point stands for, and
    ``counts``, how many original points that bucket held; they are None on full series.
    """

    steps: np.ndarray
    values: np.ndarray
    wall_times: np.ndarray
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    counts: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.steps)

    @classmethod
    def empty(cls) -> Series:
        return cls(np.empty(0, np.int64), np.empty(0, np.float64), np.empty(0, np.float64))

    @classmethod
    def concat(cls, parts: list[Series]) -> Series:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        return cls(np.concatenate([p.steps for p in parts]), np.concatenate([p.values for p in parts]),
                   np.concatenate([p.wall_times for p in parts]))

    def __repr__(self) -> str:
        if not len(self):
            return "Series(0 points)"
        return (f"Series({len(self)} points, steps {self.steps[0]}..{self.steps[-1]}, "
                f"last value {self.values[-1]:.6g})")


@dataclass
class HistogramSeries:
    """Histograms of one tag over time.

    ``edges[i]`` (k+1 bucket edges) and ``counts[i]`` (k counts) describe the histogram written
    at ``steps[i]``. ``bucket_limits[i]`` are the raw right edges as stored (HistogramProto's
    ``bucket_limit``; its first bucket reaches down to ``min``). ``min``/``max``/``num``/``sum``/
    ``sum_squares`` come from HistogramProto; for tensor histograms (``tf.summary.histogram``)
    ``sum``/``sum_squares`` are NaN because that format does not store them.
    """

    steps: np.ndarray
    wall_times: np.ndarray
    edges: list[np.ndarray]
    counts: list[np.ndarray]
    bucket_limits: list[np.ndarray]
    min: np.ndarray
    max: np.ndarray
    num: np.ndarray
    sum: np.ndarray
    sum_squares: np.ndarray

    def __len__(self) -> int:
        return len(self.steps)

    def __repr__(self) -> str:
        return f"HistogramSeries({len(self)} histograms)"


@dataclass
class ImageEvent:
    """One image summary: ``data`` holds the encoded (usually PNG) bytes as written."""

    step: int
    wall_time: float
    width: int
    height: int
    data: bytes = field(repr=False)
    index: int = 0  # position within the step when a summary holds several images
    colorspace: int = 0

    def __repr__(self) -> str:
        return (f"ImageEvent(step={self.step}, {self.width}x{self.height}, index={self.index}, "
                f"{len(self.data)} bytes)")
