"""The built-in CAM methods. Formulas follow pytorch-grad-cam so every framework gives its answers."""

from __future__ import annotations

import numpy as np

from ..hookspecs import hookimpl
from .engine import CamContext, CAMMethod
from .ops import ArrayOps
from .perturbation import AblationCAM, ScoreCAM, normalised_upsampled
from .projection import first_component_projection


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


def _normalised_upsampled(activations: np.ndarray, image_shape: tuple) -> np.ndarray:
    """numpy ``(C, h, w)`` masks at ``image_shape``'s resolution, each in [0, 1] (ScoreCAM's)."""
    return normalised_upsampled(ArrayOps(), np.asarray(activations, np.float32), *image_shape[-2:])


BUILTIN_METHODS = (GradCAM, GradCAMPlusPlus, HiResCAM, XGradCAM, LayerCAM, EigenCAM, ScoreCAM, AblationCAM)


@hookimpl
def cnnvis_cam_methods() -> dict:
    return {cls.name: cls for cls in BUILTIN_METHODS}
