"""Pixel attribution methods: each says how it turns input gradients into an attribution, nothing else.

Every method asks its context for gradients of the pre-softmax target score with respect to the
inputs (channels-first numpy, ``(N, C, H, W)``); the adapter computes them in its framework.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..errors import CancelledError
from ..layouts import from_native, to_native


@dataclass
class AttributionContext:
    """The batch, its resolved targets and a way to get input gradients in chunks."""

    adapter: Any
    inputs: np.ndarray  # (N, C, H, W) float32
    targets: Any  # one class per input, or a callable on the model output
    options: dict = field(default_factory=dict)
    batch_size: int = 32
    progress: Callable[[int], None] = lambda done: None
    cancel: Any = None

    def gradients(self, batch: np.ndarray, guided: bool = False, repeat: int = 1) -> np.ndarray:
        """d(target score)/d(input) for ``batch``, whose rows are ``repeat`` copies of the inputs in turn."""
        targets = self.targets if callable(self.targets) else list(self.targets) * repeat
        out = np.empty(batch.shape, dtype=np.float32)
        for start in range(0, len(batch), self.batch_size):
            self.check_cancelled()
            stop = start + self.batch_size
            chunk_targets = targets if callable(targets) else targets[start:stop]
            out[start:stop], _ = self.adapter.input_gradients(batch[start:stop], chunk_targets, guided=guided)
            self.progress(min(stop, len(batch)))
        return out

    def check_cancelled(self) -> None:
        cancel = self.cancel
        if cancel is None:
            return
        is_set = getattr(cancel, "is_set", None)
        if is_set() if is_set is not None else cancel():
            raise CancelledError("The attribution was cancelled.")


class AttributionMethod:
    """A pixel attribution. ``per_channel`` gives ``(N, C, H, W)``; ``reduce`` turns it into ``(N, H, W)``."""

    name: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    torch_only: ClassVar[bool] = False

    def passes(self, images: int, options: dict) -> int:
        """How many input rows get a gradient (for progress)."""
        return images

    def per_channel(self, ctx: AttributionContext) -> np.ndarray:
        raise NotImplementedError

    def reduce(self, attribution: np.ndarray) -> np.ndarray:
        """Channels to one map: the largest magnitude over channels (Simonyan et al.)."""
        return np.abs(attribution).max(axis=1)


class Saliency(AttributionMethod):
    """Vanilla gradients, |d score / d x| (Simonyan, Vedaldi, Zisserman 2014, arXiv:1312.6034)."""

    name = "saliency"
    aliases = ("vanilla_gradients", "gradients")

    def per_channel(self, ctx: AttributionContext) -> np.ndarray:
        return np.abs(ctx.gradients(ctx.inputs))


class SmoothGrad(AttributionMethod):
    """Saliency averaged over noisy copies of each input (Smilkov et al. 2017, arXiv:1706.03825).

    The noise's standard deviation is ``noise`` times each image's value range (0.2 by default), and
    the absolute gradients are averaged, as tf-keras-vis does.
    """

    name = "smoothgrad"
    aliases = ("smooth_grad", "smooth-grad")

    def passes(self, images: int, options: dict) -> int:
        return images * int(options.get("samples", 25))

    def per_channel(self, ctx: AttributionContext) -> np.ndarray:
        samples = int(ctx.options.get("samples", 25))
        level = float(ctx.options.get("noise", 0.2))
        rng = np.random.RandomState(ctx.options.get("seed", 0))
        native = to_native(ctx.adapter, ctx.inputs)  # noise drawn as tf-keras-vis draws it
        axes = tuple(range(1, native.ndim))
        sigma = level * (native.max(axis=axes, keepdims=True) - native.min(axis=axes, keepdims=True))
        tiled = np.broadcast_to(native, (samples, *native.shape))
        noisy = tiled + rng.normal(0.0, np.broadcast_to(sigma, tiled.shape[:2] + (1,) * (native.ndim - 1)),
                                   tiled.shape)
        noisy = from_native(ctx.adapter, noisy.reshape(-1, *native.shape[1:]).astype(np.float32))
        grads = np.abs(ctx.gradients(noisy, repeat=samples))
        return grads.reshape(samples, *ctx.inputs.shape).mean(axis=0)


class IntegratedGradients(AttributionMethod):
    """Integrated Gradients (Sundararajan, Taly, Yan 2017, arXiv:1703.01365): the path integral of the
    gradients from a baseline (zeros by default) to the input, by Gauss-Legendre quadrature over
    ``steps`` points (Captum's default), times (input - baseline). Channels are summed, signs kept."""

    name = "integrated_gradients"
    aliases = ("integratedgradients", "integrated-gradients", "ig")

    def passes(self, images: int, options: dict) -> int:
        return images * int(options.get("steps", 50))

    def per_channel(self, ctx: AttributionContext) -> np.ndarray:
        steps = int(ctx.options.get("steps", 50))
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        alphas, step_sizes = 0.5 * (1 + nodes), 0.5 * weights
        baseline = np.broadcast_to(np.asarray(ctx.options.get("baseline", 0.0), dtype=np.float32),
                                   ctx.inputs.shape)
        delta = ctx.inputs - baseline
        path = (baseline[None] + alphas[:, None, None, None, None] * delta[None]).astype(np.float32)
        grads = ctx.gradients(path.reshape(-1, *ctx.inputs.shape[1:]), repeat=steps)
        grads = grads.reshape(steps, *ctx.inputs.shape)
        return np.tensordot(step_sizes.astype(np.float32), grads, axes=1) * delta

    def reduce(self, attribution: np.ndarray) -> np.ndarray:
        return attribution.sum(axis=1)


class GuidedBackprop(AttributionMethod):
    """Guided backpropagation (Springenberg et al. 2015, arXiv:1412.6806): through every ReLU module
    only positive gradients of positive inputs flow back."""

    name = "guided_backprop"
    aliases = ("guidedbackprop", "guided-backprop")
    torch_only = True

    def per_channel(self, ctx: AttributionContext) -> np.ndarray:
        return ctx.gradients(ctx.inputs, guided=True)


class GuidedGradCAM(AttributionMethod):
    """Guided Grad-CAM (Selvaraju et al. 2017, arXiv:1610.02391): guided backpropagation times the
    ReLU'd Grad-CAM map of ``layer``, upsampled to the input by nearest neighbour (as Captum does)."""

    name = "guided_gradcam"
    aliases = ("guidedgradcam", "guided-gradcam", "guided_grad_cam")
    torch_only = True

    def passes(self, images: int, options: dict) -> int:
        return 2 * images

    def per_channel(self, ctx: AttributionContext) -> np.ndarray:
        from ..api import explain

        guided = ctx.gradients(ctx.inputs, guided=True)
        exp = explain(ctx.adapter, ctx.inputs, method="gradcam", layer=ctx.options.get("layer"),
                      target=ctx.targets, batch_size=ctx.batch_size, progress=False, normalize="none")
        cam = np.maximum(exp.raw, 0)
        return guided * nearest_resize(cam, ctx.inputs.shape[2:])[:, None]


def nearest_resize(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(N, h, w)`` to ``(N, H, W)`` by nearest neighbour, source index ``floor(i * h / H)``."""
    rows = np.floor(np.arange(size[0]) * maps.shape[1] / size[0]).astype(np.int64)
    cols = np.floor(np.arange(size[1]) * maps.shape[2] / size[1]).astype(np.int64)
    return maps[:, rows][:, :, cols]


METHODS: tuple[type[AttributionMethod], ...] = (
    Saliency, SmoothGrad, IntegratedGradients, GuidedBackprop, GuidedGradCAM,
)
