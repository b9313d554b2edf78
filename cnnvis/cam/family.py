"""More of the CAM family, with pytorch-grad-cam's formulas (each class cites its paper).

Each method only says how its weights or its map are computed; what needs another pass (FinerCAM's
comparison target, RefineCAM's other layers) asks the adapter or the engine for it, never the
framework. Methods that project on singular vectors or fit a kernel PCA do so on the host, as
pytorch-grad-cam does: a singular vector's sign is the solver's choice.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..errors import CnnvisError
from ..hookspecs import hookimpl
from ..imaging import minmax, resize_maps
from .engine import CamContext, CAMMethod
from .methods import EigenCAM, GradCAM, GradCAMPlusPlus
from .projection import projection

# FinerCAM's default comparison classes: the 2nd, 3rd and 4th closest logits to the target's.
FINER_COMPARISONS = (1, 2, 3)


class EigenGradCAM(CAMMethod):
    """The first principal component of gradients x activations (EigenCAM's projection, class
    discriminative through the gradients; Muhammad & Yeasin 2020, arXiv:2008.00299)."""

    name = "eigengradcam"
    aliases = ("eigen-grad-cam", "eigen_grad_cam")

    def raw_map(self, ctx: CamContext) -> np.ndarray:
        return projection(ctx.ops.to_host(ctx.gradients * ctx.activations))


class GradCAMElementWise(CAMMethod):
    """Sum over channels of ReLU(gradients x activations), element-wise before summing (a Grad-CAM
    variant from pytorch-grad-cam; HiResCAM with the ReLU inside the sum, Draelos & Carin 2020)."""

    name = "gradcamelementwise"
    aliases = ("grad-cam-elementwise", "gradcam_elementwise", "gradcam-elementwise")

    def raw_map(self, ctx: CamContext) -> Any:
        elementwise = ctx.xp.maximum(ctx.gradients * ctx.activations, 0)
        if ctx.options.get("eigen_smooth"):
            return projection(ctx.ops.to_host(elementwise))
        return ctx.xp.sum(elementwise, axis=1)


class KPCACAM(CAMMethod):
    """EigenCAM with kernel PCA (sigmoid kernel by default; Karmani et al. 2024, arXiv:2410.00267).
    Options: ``kernel`` and ``gamma`` (scikit-learn's ``KernelPCA``)."""

    option_names = ("kernel", "gamma")
    name = "kpca_cam"
    aliases = ("kpca-cam", "kpcacam")
    uses_gradients = False

    def raw_map(self, ctx: CamContext) -> np.ndarray:
        from sklearn.decomposition import KernelPCA

        kernel, gamma = ctx.options.get("kernel", "sigmoid"), ctx.options.get("gamma")
        maps = []
        for acts in np.nan_to_num(ctx.ops.to_host(ctx.activations)):
            flat = acts.reshape(acts.shape[0], -1).T
            flat = flat - flat.mean(axis=0)
            kpca = KernelPCA(n_components=1, kernel=kernel, gamma=gamma)
            maps.append(kpca.fit_transform(flat).reshape(acts.shape[1:]))
        return np.asarray(maps, dtype=np.float32)


class FEM(CAMMethod):
    """Feature Explanation Method (Fuad et al., IPTA 2020): each channel weighted by the share of its
    positions above its mean + ``k`` standard deviations (``k=2``). Gradient-free."""

    option_names = ("k",)
    name = "fem"
    uses_gradients = False

    def weights(self, ctx: CamContext) -> Any:
        xp, acts = ctx.xp, ctx.activations
        threshold = xp.mean(acts, axis=(2, 3), keepdims=True) + float(ctx.options.get("k", 2)) * xp.std(
            acts, axis=(2, 3), keepdims=True)
        return xp.mean(xp.astype(acts > threshold, acts.dtype), axis=(2, 3))


class SegEigenCAM(CAMMethod):
    """Seg-Eigen-CAM (Chung & Ying 2025, doi:10.3390/app15137562): the principal component of
    |gradients| x activations, its sign corrected so the salient region is positive."""

    name = "segeigencam"
    aliases = ("seg-eigen-cam", "seg_eigen_cam")

    def raw_map(self, ctx: CamContext) -> np.ndarray:
        return projection(ctx.ops.to_host(ctx.xp.abs(ctx.gradients) * ctx.activations), sign_correct=True)


class SobelCAM(CAMMethod):
    """A model-free baseline: the Sobel edge strength of the grey input (pytorch-grad-cam's
    ``sobel_cam``), which a faithful method should beat."""

    name = "sobelcam"
    aliases = ("sobel-cam", "sobel")
    uses_gradients = False

    def raw_map(self, ctx: CamContext) -> np.ndarray:
        import cv2

        images = ctx.adapter.inputs_nchw(ctx.inputs)
        maps = []
        for image in images:
            rgb = image[:3] if len(image) >= 3 else np.repeat(image[:1], 3, axis=0)
            low, high = float(rgb.min()), float(rgb.max())
            rgb8 = np.uint8(np.clip((rgb - low) / (high - low or 1.0) * 255, 0, 255)).transpose(1, 2, 0)
            gray = cv2.cvtColor(np.ascontiguousarray(rgb8), cv2.COLOR_RGB2GRAY)
            grad_x = cv2.convertScaleAbs(cv2.Sobel(gray, cv2.CV_64F, 1, 0, ksize=3))
            grad_y = cv2.convertScaleAbs(cv2.Sobel(gray, cv2.CV_64F, 0, 1, ksize=3))
            maps.append(cv2.addWeighted(grad_x, 0.5, grad_y, 0.5, 0).astype(np.float32))
        return np.stack(maps)


class RandomCAM(CAMMethod):
    """A baseline: channel weights drawn uniformly from [-1, 1] (``seed`` option, 0 by default)."""

    option_names = ("seed",)
    name = "randomcam"
    aliases = ("random-cam", "random")
    uses_gradients = False

    def weights(self, ctx: CamContext) -> np.ndarray:
        rng = np.random.RandomState(ctx.options.get("seed", 0))
        return rng.uniform(-1, 1, size=tuple(ctx.activations.shape[:2])).astype(np.float32)


class FinerCAM(CAMMethod):
    """Finer-CAM (Zhang et al., CVPR 2025, arXiv:2501.11309): Grad-CAM of the target's logit against
    the classes it is most easily confused with, so the map shows what tells them apart.

    The score is ``sum_j p_j (z_t - alpha z_j) / sum_j p_j`` over the comparison classes ``j`` (the
    ``comparison_categories``-th closest logits to the target's, 1, 2, 3 by default), ``p`` the
    softmax. Options: ``alpha`` (1), ``comparison_categories``.
    """

    option_names = ("alpha", "comparison_categories")
    name = "finercam"
    aliases = ("finer-cam", "finer_cam")

    def raw_map(self, ctx: CamContext) -> Any:
        outputs = ctx.ops.to_host(ctx.outputs).astype(np.float64)
        main, compared = finer_classes(outputs, ctx.targets, ctx.options.get("comparison_categories"))
        score = FinerScore(main, compared, float(ctx.options.get("alpha", 1.0)))
        second = ctx.adapter.layer_pass(ctx.inputs, ctx.layer, score, gradients=True)
        return GradCAM().raw_map(dataclasses.replace(
            ctx, activations=ctx.ops.asarray(second.activations), gradients=ctx.ops.asarray(second.gradients),
            target=score))


def finer_classes(outputs: np.ndarray, targets: list[int] | None, positions: Any) -> tuple[list[int], list[list[int]]]:
    """Per row: the target class and the classes whose logits are the ``positions``-th closest to it."""
    classes = outputs.shape[-1]
    positions = [p for p in (positions or FINER_COMPARISONS) if p < classes]
    target_logit = outputs.max(axis=1) if targets is None else outputs[np.arange(len(outputs)), targets]
    order = np.argsort(np.abs(outputs - target_logit[:, None]), axis=1, kind="stable")
    main = [int(r[0]) for r in order] if targets is None else [int(t) for t in targets]
    return main, [[int(r[p]) for p in positions] for r in order]


class FinerScore:
    """The FinerCAM score as a callable target; it works on torch tensors and on Keras/TF tensors."""

    def __init__(self, main: list[int], compared: list[list[int]], alpha: float):
        self.main, self.compared, self.alpha = main, compared, alpha

    def __call__(self, logits: Any) -> Any:
        ops = _tensor_ops(logits)
        rows = np.arange(len(self.main))
        probs = ops.softmax(logits)
        main = ops.take(logits, rows, np.asarray(self.main))
        numerator, denominator = 0, 0
        for j in range(len(self.compared[0]) if self.compared else 0):
            cls = np.asarray([c[j] for c in self.compared])
            weight = ops.take(probs, rows, cls)
            numerator = numerator + weight * (main - self.alpha * ops.take(logits, rows, cls))
            denominator = denominator + weight
        return numerator / (denominator + 1e-9)


class _TorchTensorOps:
    def softmax(self, x: Any) -> Any:
        return x.softmax(dim=-1)

    def take(self, x: Any, rows: np.ndarray, cols: np.ndarray) -> Any:
        return x[rows, cols]


class _KerasTensorOps:
    def softmax(self, x: Any) -> Any:
        import keras

        return keras.ops.softmax(x, axis=-1)

    def take(self, x: Any, rows: np.ndarray, cols: np.ndarray) -> Any:
        import keras

        return keras.ops.take_along_axis(x, keras.ops.convert_to_tensor(cols[:, None]), axis=1)[:, 0]


def _tensor_ops(x: Any) -> Any:
    return _TorchTensorOps() if type(x).__module__.startswith("torch") else _KerasTensorOps()


class RefineCAM(CAMMethod):
    """RefineCAM (arXiv:2605.14641): maps of several ``layers`` (an option; default: this layer only)
    by a base method (``base``, Grad-CAM++ by default), multiplied, which keeps only what every layer
    agrees on and denoises early layers."""

    option_names = ("layers", "base")
    name = "refinecam"
    aliases = ("refine-cam", "refine_cam")

    def raw_map(self, ctx: CamContext) -> Any:
        from .engine import get_method, run_cam

        layers = ctx.options.get("layers") or [ctx.layer]
        base = get_method(ctx.options.get("base", GradCAMPlusPlus.name))
        product = None
        for layer in layers:
            result = run_cam(ctx.adapter, base, ctx.inputs, target=ctx.target, layer=layer,
                             batch_size=ctx.batch_size, progress=False, cancel=ctx.cancel)
            maps = ctx.ops.asarray(result.maps)
            product = maps if product is None else product * maps
        return product


class ShapleyCAM(CAMMethod):
    """ShapleyCAM (Cai et al., ICLR 2025, arXiv:2501.06261): Grad-CAM's weights from a Shapley-value
    reading of the score, ``mean(gradient - 0.5 * Hessian x activation)`` over positions. For networks
    that are piecewise linear after the layer (ReLU, pooling, linear) the second term is zero."""

    name = "shapleycam"
    aliases = ("shapley-cam", "shapley_cam")

    def weights(self, ctx: CamContext) -> Any:
        grads, hvp = _capability(ctx, "second_order_pass", "second derivatives")(ctx.inputs, ctx.layer, ctx.target)
        return ctx.xp.mean(ctx.ops.asarray(grads) - 0.5 * ctx.ops.asarray(hvp), axis=(2, 3))


class FullGrad(CAMMethod):
    """FullGrad (Srinivas & Fleuret, NeurIPS 2019, arXiv:1905.00780): |input x its gradient| plus, for
    every convolution and batch norm with a bias, |bias x gradient at its output|, each channel scaled
    to [0, 1] and resized to the input, summed. The layer argument is not used: every bias counts."""

    name = "fullgrad"
    aliases = ("full-grad", "full_grad")

    def raw_map(self, ctx: CamContext) -> np.ndarray:
        input_part, pairs = _capability(ctx, "bias_gradients", "every bias's gradient")(ctx.inputs, ctx.target)
        height, width = input_part.shape[2:]
        if not ctx.options.get("eigen_smooth"):
            # The bilinear resize is linear: resizing each layer's channel sum once equals summing every
            # resized channel, at a fraction of the cost.
            total = _scaled_channels(np.abs(input_part), height, width).sum(axis=1)
            for bias, grads in pairs:
                per_channel = _scaled_channels(np.abs(bias[None, :, None, None] * grads), *grads.shape[2:])
                total += resize_maps(per_channel.sum(axis=1), height, width)
            return total
        parts = [_scaled_channels(np.abs(input_part), height, width)]
        for bias, grads in pairs:
            parts.append(_scaled_channels(np.abs(bias[None, :, None, None] * grads), height, width).sum(
                axis=1, keepdims=True))
        stacked = np.concatenate(parts, axis=1)
        # Projected at an eighth of the size, as pytorch-grad-cam does: there are very many channels.
        small = _scaled_channels(stacked, max(height // 8, 1), max(width // 8, 1))
        return _scaled_channels(projection(small)[:, None], height, width)[:, 0]


def _scaled_channels(maps: np.ndarray, height: int, width: int) -> np.ndarray:
    """Every ``(h, w)`` channel of ``(N, C, h, w)`` scaled to [0, 1] and resized to ``(height, width)``."""
    n, c = maps.shape[:2]
    flat = minmax(maps.reshape(n * c, *maps.shape[2:]).astype(np.float32))
    return resize_maps(flat, height, width).reshape(n, c, height, width)


def _capability(ctx: CamContext, name: str, what: str) -> Any:
    found = getattr(ctx.adapter, name, None)
    if found is None:
        raise CnnvisError(f"This method needs {what}, which cnnvis computes for PyTorch models only; "
                          f"{ctx.adapter.framework} models can use gradcam, hirescam or the other methods.")
    return found


@hookimpl
def cnnvis_cam_methods() -> dict:
    methods = (EigenGradCAM, GradCAMElementWise, KPCACAM, FEM, SegEigenCAM, SobelCAM, RandomCAM, FinerCAM,
               RefineCAM, ShapleyCAM, FullGrad)
    return {cls.name: cls for cls in methods}


__all__ = ["EigenCAM", "EigenGradCAM", "GradCAMElementWise", "KPCACAM", "FEM", "SegEigenCAM", "SobelCAM",
           "RandomCAM", "FinerCAM", "RefineCAM", "ShapleyCAM", "FullGrad", "projection"]
