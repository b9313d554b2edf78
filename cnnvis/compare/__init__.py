"""Two models of one network side by side (``compare``), and the fewest layers to keep in float
when quantizing one to INT8 (``quantize``)."""

from __future__ import annotations

import sys
import types
from typing import Any

from .core import ModelComparison, compare
from .quantize import QuantizeResult, quantize

__all__ = ["ModelComparison", "QuantizeResult", "compare", "quantize"]


class _CallablePackage(types.ModuleType):
    """``cnnvis.compare(...)`` is the function, yet ``cnnvis.compare`` is also this package: once it
    is imported Python binds the package to that name, so the package answers calls itself."""

    def __call__(self, *args: Any, **kwargs: Any) -> ModelComparison:
        return compare(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
__wrapped__ = compare  # inspect.signature(cnnvis.compare) shows the function's
