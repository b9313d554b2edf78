"""Which part of a model's output the targets score: ``explain(..., output=...)``.

Classifiers return one tensor. Segmentation models return dicts (torchvision: ``{"out": ...}``),
HuggingFace-style models objects with ``.logits``, some models tuples, and detectors a list of
per-image dicts. The selector picks one part; what is left is handed to the target as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import TargetError

# None: a tensor as is; a dict's "out" (torchvision segmentation); an object's .logits; a tuple's first.
Selector = None | str | int | Callable[[Any], Any]


def is_tensor(value: Any) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype")


def select_output(raw: Any, selector: Selector = None) -> Any:
    """The part of ``raw`` that ``selector`` names; see the module docstring for the default."""
    if callable(selector):
        return selector(raw)
    if selector is None:
        return _default_part(raw)
    if isinstance(selector, str):
        if isinstance(raw, dict) or hasattr(raw, "keys"):
            if selector in raw:
                return raw[selector]
        elif hasattr(raw, selector):
            return getattr(raw, selector)
        raise TargetError(f"The model output has no {selector!r}; it has {_parts(raw)}. Pass one of those as output=.")
    if isinstance(selector, int) and isinstance(raw, tuple | list):
        if -len(raw) <= selector < len(raw):
            return raw[selector]
        raise TargetError(f"output={selector} is out of range: the model returns {len(raw)} outputs.")
    raise TargetError(f"output= must be None, a key, an attribute name, an index or a callable, not {selector!r}.")


def _default_part(raw: Any) -> Any:
    if is_tensor(raw):
        return raw
    if isinstance(raw, dict) and "out" in raw:
        return raw["out"]
    logits = getattr(raw, "logits", None)
    if logits is not None and is_tensor(logits):
        return logits
    if isinstance(raw, tuple | list) and raw and is_tensor(raw[0]):
        return raw[0]
    return raw  # e.g. a detector's list of per-image dicts: a target such as targets.Detection reads it


def _parts(raw: Any) -> str:
    if hasattr(raw, "keys"):
        return "keys " + ", ".join(repr(k) for k in raw.keys())
    if isinstance(raw, tuple | list):
        return f"{len(raw)} items (use an index)"
    return "attributes " + ", ".join(repr(a) for a in vars(raw) if not a.startswith("_")) if hasattr(
        raw, "__dict__") else type(raw).__name__
