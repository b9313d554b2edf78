"""Pixel attributions beside the CAM maps: Saliency, SmoothGrad, Integrated Gradients, guided
backpropagation and Guided Grad-CAM, for PyTorch and Keras models, through the adapter protocol."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import CnnvisError, UnknownMethodError
from .methods import METHODS, AttributionContext, AttributionMethod

__all__ = ["attribute", "attribution_methods"]

IMAGES_PER_ROUND = 16  # inputs attributed together: bounds the memory of many-step methods


def attribution_methods() -> dict[str, type[AttributionMethod]]:
    """``{name: method}``, aliases included, names lower-case."""
    return {key: cls for cls in METHODS for key in (cls.name, *cls.aliases)}


def attribute(
    model: Any,
    inputs: Any,
    method: str = "saliency",
    target: Any = None,
    *,
    layer: str | None = None,
    steps: int = 50,
    samples: int = 25,
    noise: float = 0.2,
    seed: int = 0,
    baseline: Any = 0.0,
    per_channel: bool = False,
    normalize: bool = False,
    batch_size: int = 64,
    progress: bool | Callable[[int, int], None] = True,
    cancel: Any = None,
) -> np.ndarray:
    """Pixel attributions of ``inputs`` (the framework's native layout) for ``target``.

    Returns float32 ``(N, H, W)``: the largest magnitude over channels (saliency, smoothgrad,
    guided_backprop, guided_gradcam) or the signed channel sum (integrated_gradients); with
    ``per_channel=True`` the channels-first ``(N, C, H, W)`` attribution itself. ``target`` as in
    ``cnnvis.explain``: None (each input's top class), an int, one int per input or a callable.
    ``steps``: Integrated Gradients' quadrature points; ``baseline``: its starting image (zeros).
    ``samples``/``noise``/``seed``: SmoothGrad's noisy copies, noise level (times each image's value
    range) and random seed. ``layer``: Guided Grad-CAM's layer (default as ``explain``).
    ``normalize``: each map scaled to [0, 1] (by its largest magnitude for signed maps).
    ``batch_size``: rows per forward/backward pass (noisy copies, path points); fewer, larger passes
    are faster (half the time of 32-row passes for Integrated Gradients on the CPU).
    """
    from ..adapters.base import resolve_adapter
    from ..cam.engine import normalise_target

    cls = _method(method)
    adapter = resolve_adapter(model)
    _check_fits(adapter, cls)
    for name, value, low in (("steps", steps, 1), ("samples", samples, 1), ("batch_size", batch_size, 1)):
        if not isinstance(value, int) or value < low:
            raise CnnvisError(f"{name} must be a positive integer, not {value!r}.")
    batch = adapter.inputs_nchw(adapter.prepare_inputs(inputs)).astype(np.float32)
    targets = normalise_target(target, len(batch))
    if targets is None:
        targets = _top_classes(adapter, batch, batch_size)
    options = {"layer": layer, "steps": steps, "samples": samples, "noise": noise, "seed": seed,
               "baseline": baseline}
    results = []
    chosen = cls()
    with _Progress(progress, chosen.passes(len(batch), options), len(batch)) as tick:
        for start in range(0, len(batch), IMAGES_PER_ROUND):
            stop = start + IMAGES_PER_ROUND
            ctx = AttributionContext(adapter, batch[start:stop],
                                     targets if callable(targets) else targets[start:stop], options,
                                     batch_size, tick.offset(start), cancel)
            attribution = chosen.per_channel(ctx)
            results.append(attribution if per_channel else chosen.reduce(attribution))
    out = np.concatenate(results).astype(np.float32)
    return _normalized(out) if normalize else out


def _method(name: str) -> type[AttributionMethod]:
    methods = attribution_methods()
    try:
        return methods[str(name).lower()]
    except KeyError:
        raise UnknownMethodError(
            f"Unknown attribution method {name!r}; available: {', '.join(c.name for c in METHODS)}.") from None


def _check_fits(adapter: Any, cls: type[AttributionMethod]) -> None:
    framework = getattr(adapter, "framework", "this")
    if not hasattr(adapter, "input_gradients") or not getattr(adapter, "supports_gradients", True):
        raise CnnvisError(
            f"{cls.name} needs gradients with respect to the inputs, and {framework} models have none (their "
            "runtime only runs forward). Attribute the PyTorch or Keras model it was exported from, or use a "
            "gradient-free CAM method with cnnvis.explain (eigencam, scorecam, ablationcam).")
    if cls.torch_only and framework != "torch":
        raise CnnvisError(
            f"{cls.name} changes how ReLU modules pass gradients back, which cnnvis does for PyTorch models only. "
            "For a Keras model use saliency, smoothgrad or integrated_gradients.")


def _top_classes(adapter: Any, batch: np.ndarray, batch_size: int) -> Any:
    found: list[int] = []
    for start in range(0, len(batch), batch_size):
        _, targets = adapter.input_gradients(batch[start:start + batch_size], None)
        if targets is None:
            raise CnnvisError("This model's output has no classes to pick a top one from: pass target=.")
        found.extend(targets)
    return found


def _normalized(maps: np.ndarray) -> np.ndarray:
    flat = maps.reshape(len(maps), -1)
    if (flat >= 0).all():
        low = flat.min(axis=1, keepdims=True)
        span = flat.max(axis=1, keepdims=True) - low
        return ((flat - low) / np.where(span > 0, span, 1)).reshape(maps.shape).astype(np.float32)
    scale = np.abs(flat).max(axis=1, keepdims=True)
    return (flat / np.where(scale > 0, scale, 1)).reshape(maps.shape).astype(np.float32)


class _Progress:
    """A tqdm bar (progress=True), a callable of ``(done, total)`` rows, or nothing."""

    def __init__(self, progress: Any, total: int, images: int):
        self.total = total
        self.per_image = total // max(images, 1)
        self.progress, self.bar = progress, None

    def __enter__(self) -> _Progress:
        if self.progress is True and self.per_image > 1:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.total, desc="attribution rows", leave=False)
        return self

    def offset(self, first_image: int) -> Callable[[int], None]:
        base = first_image * self.per_image
        seen = [0]

        def tick(done_in_round: int) -> None:
            done = min(base + done_in_round, self.total)
            if self.bar is not None:
                self.bar.update(max(done - base - seen[0], 0))
                seen[0] = done - base
            elif callable(self.progress):
                self.progress(done, self.total)

        return tick

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.close()
