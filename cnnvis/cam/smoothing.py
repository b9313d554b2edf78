"""``aug_smooth``: test-time augmentation as pytorch-grad-cam defines it (its ttach transforms): the
maps of the input flipped horizontally or not, times 0.9, 1 and 1.1, each flip undone on its map,
averaged."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import CnnvisError
from ..layouts import takes_channels_last

FLIPS = (False, True)
FACTORS = (0.9, 1.0, 1.1)


def augmented(inputs: Any, width_axis: int) -> Any:
    """Yield ``(flip, factor, augmented inputs)`` for every augmentation, the identity included."""
    for flip, factor in itertools.product(FLIPS, FACTORS):
        yield flip, factor, _transform(inputs, flip, factor, width_axis)


def _transform(inputs: Any, flip: bool, factor: float, width_axis: int) -> Any:
    if not hasattr(inputs, "shape"):
        raise CnnvisError("aug_smooth flips and scales one image batch; this model takes several inputs.")
    if type(inputs).__module__.startswith("torch"):
        out = inputs.flip(width_axis) if flip else inputs
        return out * factor if out.is_floating_point() else out.float() * factor
    array = np.asarray(inputs, dtype=np.float32)
    return (np.flip(array, axis=width_axis) if flip else array) * np.float32(factor)


def aug_smoothed(run: Callable[[Any], Any], inputs: Any, width_axis: int) -> Any:
    """``run`` (inputs -> a ``Chunked`` result) on every augmentation; maps and raw maps averaged with
    each flip undone. Layer, targets and outputs are the plain input's."""
    maps, raws, plain = [], [], None
    for flip, factor, batch in augmented(inputs, width_axis):
        done = run(batch)
        maps.append(done.maps[..., ::-1] if flip else done.maps)
        raws.append(done.raw[..., ::-1] if flip else done.raw)
        if not flip and factor == 1.0:
            plain = done
    return dataclasses.replace(plain, maps=np.mean(np.float32(maps), axis=0), raw=np.mean(np.float32(raws), axis=0),
                               kept=None)



def width_axis(adapter: Any) -> int:
    """The image width's axis in the inputs a user gives this model (before the channels when the
    model takes channels-last batches)."""
    return -2 if takes_channels_last(adapter) else -1
