"""The built-in CAM methods. Formulas follow pytorch-grad-cam so every framework gives its answers."""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from ..hookspecs import hookimpl
from ..imaging import upsample_align_corners
from .engine import CamContext, CAMMethod
from .projection import first_component_projection

# AblationCAM's replacement for a channel whose layer can go negative (pytorch-grad-cam's value).
ABLATION_OFFSET = 1e7


class GradCAM(CAMMethod):
    name = "gradcam"
    aliases = ("grad-cam",)

    def weights(self, ctx: CamContext):
        return ctx.xp.mean(ctx.gradients, axis=(2, 3))


class GradCAMPlusPlus(CAMMethod):
    name = "gradcam++"
    aliases = ("gradcampp", "gradcam_plus_plus", "grad-cam++")

    def weights(self, ctx: CamContext):
        xp, grads = ctx.xp, ctx.gradients
        grads_2 = grads**2
        sum_activations = xp.sum(ctx.activations, axis=(2, 3), keepdims=True)
        alpha = grads_2 / (2 * grads_2 + sum_activations * grads_2 * grads + 1e-6)
        alpha = xp.where(grads != 0, alpha, xp.zeros_like(alpha))
        return xp.sum(xp.maximum(grads, 0) * alpha, axis=(2, 3))


class HiResCAM(CAMMethod):
    name = "hirescam"

    def weights(self, ctx: CamContext):
        return ctx.gradients  # element-wise: no spatial averaging


class XGradCAM(CAMMethod):
    name = "xgradcam"

    def weights(self, ctx: CamContext):
        xp = ctx.xp
        sum_activations = xp.sum(ctx.activations, axis=(2, 3), keepdims=True)
        return xp.sum(ctx.gradients * ctx.activations / (sum_activations + 1e-7), axis=(2, 3))


class LayerCAM(CAMMethod):
    name = "layercam"

    def weights(self, ctx: CamContext):
        return ctx.xp.maximum(ctx.gradients, 0)


class EigenCAM(CAMMethod):
    name = "eigencam"
    uses_gradients = False

    def raw_map(self, ctx: CamContext) -> np.ndarray:
        # On the host with LAPACK, as pytorch-grad-cam: a singular vector's sign is the solver's choice,
        # and another solver (cuSOLVER) may flip it, which after the ReLU is a different map.
        activations = ctx.ops.to_host(ctx.activations)
        return np.stack([first_component_projection(a) for a in activations]).astype(np.float32)


class ScoreCAM(CAMMethod):
    name = "scorecam"
    aliases = ("score-cam",)
    uses_gradients = False

    def weights(self, ctx: CamContext) -> np.ndarray:
        images = ctx.adapter.inputs_nchw(ctx.inputs)
        activations = ctx.ops.to_host(ctx.activations)
        n, channels = activations.shape[:2]
        scores = np.empty((n, channels), dtype=np.float64)
        with _Progress(ctx, n * channels, "ScoreCAM") as bar:
            for i in range(n):
                for start in range(0, channels, ctx.batch_size):
                    ctx.check_cancelled()
                    masks = _normalised_upsampled(activations[i, start:start + ctx.batch_size], images.shape)
                    batch = images[i][None] * masks[:, None]
                    scores[i, start:start + len(masks)] = ctx.adapter.target_scores(
                        batch, _row_target(ctx, i, len(masks))
                    )
                    bar.update(len(masks))
        return _softmax(scores)


def _normalised_upsampled(activations: np.ndarray, image_shape: tuple) -> np.ndarray:
    upsampled = upsample_align_corners(activations, *image_shape[-2:])
    flat = upsampled.reshape(len(upsampled), -1)
    lo = flat.min(axis=1)[:, None, None]
    hi = flat.max(axis=1)[:, None, None]
    return (upsampled - lo) / (hi - lo + 1e-8)


class AblationCAM(CAMMethod):
    name = "ablationcam"
    aliases = ("ablation-cam",)
    uses_gradients = False

    def weights(self, ctx: CamContext) -> np.ndarray:
        activations = ctx.ops.to_host(ctx.activations)
        n, channels = activations.shape[:2]
        original = _original_scores(ctx)
        ablated = np.empty((n, channels), dtype=np.float64)
        with _Progress(ctx, n * channels, "AblationCAM") as bar:
            for i in range(n):
                value = ablation_value(activations[i])
                single = ctx.adapter.take(ctx.inputs, [i])
                for start in range(0, channels, ctx.batch_size):
                    ctx.check_cancelled()
                    stop = min(start + ctx.batch_size, channels)
                    layer_out = np.repeat(activations[i][None], stop - start, axis=0)
                    layer_out[np.arange(stop - start), np.arange(start, stop)] = value
                    ablated[i, start:stop] = ctx.adapter.target_scores_with_layer(
                        single, ctx.layer, layer_out, _row_target(ctx, i, stop - start)
                    )
                    bar.update(stop - start)
        return ((original[:, None] - ablated) / original[:, None]).astype(np.float32)


def ablation_value(activations: np.ndarray) -> float:
    """Zero where the layer's minimum is zero (after a ReLU), else far below its minimum."""
    low = float(activations.min())
    return 0.0 if low == 0 else low - ABLATION_OFFSET


def _original_scores(ctx: CamContext) -> np.ndarray:
    if ctx.targets is not None:
        outputs = ctx.ops.to_host(ctx.outputs)
        return outputs[np.arange(len(outputs)), ctx.targets].astype(np.float64)
    return np.asarray(ctx.adapter.target_scores(ctx.adapter.inputs_nchw(ctx.inputs), ctx.target), np.float64)


def _row_target(ctx: CamContext, index: int, rows: int):
    if ctx.targets is not None:
        return [ctx.targets[index]] * rows
    return ctx.target  # a callable scores each row of the batch on its own


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


class _Progress:
    """Progress over forward passes: a tqdm bar, or the caller's ``progress(done, total)`` callable."""

    def __init__(self, ctx: CamContext, total: int, label: str):
        self.report = ctx.progress if callable(ctx.progress) else None
        self.total, self.done = total, 0
        self.bar = tqdm(total=total, desc=f"{label} {ctx.layer}", unit="fwd",
                        disable=not ctx.progress or self.report is not None, leave=False)

    def update(self, count: int) -> None:
        self.done += count
        self.bar.update(count)
        if self.report is not None:
            self.report(self.done, self.total)

    def __enter__(self):
        if self.report is not None:
            self.report(0, self.total)
        return self

    def __exit__(self, *exc):
        self.bar.close()


BUILTIN_METHODS = (GradCAM, GradCAMPlusPlus, HiResCAM, XGradCAM, LayerCAM, EigenCAM, ScoreCAM, AblationCAM)


@hookimpl
def cnnvis_cam_methods() -> dict:
    return {cls.name: cls for cls in BUILTIN_METHODS}
