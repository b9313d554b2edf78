"""Errors raised by cnnvis. Every message says what was wrong and what to do about it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class CnnvisError(Exception):
    """Base class of every error cnnvis raises on purpose."""


class UnsupportedModelError(CnnvisError, TypeError):
    """No adapter (built-in or plugin) recognises the model object."""


class UnknownLayerError(CnnvisError, KeyError):
    """A layer name that the model does not have."""

    def __init__(self, name: str, valid: Iterable[str]):
        valid = list(valid)
        close = difflib.get_close_matches(name, valid, n=5, cutoff=0.4)
        hint = f" Did you mean: {', '.join(repr(c) for c in close)}?" if close else ""
        sample = ", ".join(repr(v) for v in valid[:8])
        super().__init__(
            f"Unknown layer {name!r}.{hint} Valid names include {sample}"
            f"{' ...' if len(valid) > 8 else ''} ({len(valid)} in all)."
        )
        self.name = name
        self.suggestions = close

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return self.args[0]


class InputShapeError(CnnvisError, ValueError):
    """Inputs whose rank or layout the model cannot take."""


class NonSpatialLayerError(CnnvisError, ValueError):
    """A CAM needs a layer with a spatial (N, C, H, W) output."""

    @classmethod
    def none_in_model(cls, layout: str = "N, C, H, W") -> NonSpatialLayerError:
        return cls(
            f"No layer of this model outputs a 4-D ({layout}) tensor with H*W > 1, so there is "
            "nothing to draw a CAM on. Pass layer= explicitly, or teach cnnvis the architecture "
            "with a cnnvis_architecture plugin that reshapes tokens to a grid."
        )


class UnknownMethodError(CnnvisError, ValueError):
    """A CAM method name that no plugin registered."""


class TargetError(CnnvisError, ValueError):
    """A target that does not fit the model output."""


class UnsupportedFileError(CnnvisError, ValueError):
    """A file that no loader can open."""


class UnsafeFileError(CnnvisError, ValueError):
    """A file that would need unpickling or arbitrary code to open."""


class CancelledError(CnnvisError):
    """Long work stopped because the caller cancelled it."""
