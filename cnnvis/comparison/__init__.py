"""Two models of one network side by side (``compare``), and the fewest layers to keep in float
when quantizing one to INT8 (``quantize``)."""

from __future__ import annotations

from .core import ModelComparison, compare
from .quantize import QuantizeResult, quantize

__all__ = ["ModelComparison", "QuantizeResult", "compare", "quantize"]

