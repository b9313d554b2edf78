"""How the maps of one ``explain`` call are scaled for display and comparison.

``image`` (the default, as pytorch-grad-cam): each map min-max scaled on its own, so every map
spans [0, 1] and magnitudes cannot be compared. ``shared``: one scale for the whole call (the
largest value over all images and classes is 1), so a weak map stays weak next to a strong one.
``none``: the method's own units, after ReLU, at input resolution.
"""

from __future__ import annotations

from typing import Any

from ..errors import CnnvisError

NORMALIZE = ("image", "shared", "none")


def check_normalize(normalize: str) -> None:
    if normalize not in NORMALIZE:
        raise CnnvisError(f"normalize must be one of {', '.join(NORMALIZE)}, not {normalize!r}.")


def rescale(result, normalize: str) -> Any:
    """The display maps of a ``CamResult`` under ``normalize``, of the result's own array kind."""
    if normalize == "image":
        return result.maps
    ops = result.ops
    height, width = result.maps.shape[-2:]
    maps = ops.resize(ops.relu(result.raw), height, width)
    if normalize == "shared":
        top = float(maps.max())
        maps = maps / top if top > 0 else maps
    return maps
