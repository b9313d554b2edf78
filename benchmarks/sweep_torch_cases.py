"""Shared by the PyTorch zoo sweeps: one model, one outcome against pytorch-grad-cam.

``equal``: cnnvis's GradCAM map on its default layer equals pytorch-grad-cam's on that layer with
the reshape transform the layer's output needs (corr >= 0.99); ``refused``: a CnnvisError saying
why; ``crash``: any other exception; ``wrong``: a map that differs, or a default layer inside an
attention module (a tensor of heads and tokens read as an image).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

CORR = 0.99


def tokens_transform(t: Any) -> Any:
    """pytorch-grad-cam's ViT reshape: prefix tokens dropped, the rest on a square grid."""
    side = math.isqrt(t.shape[1])
    return t[:, t.shape[1] - side * side:].reshape(len(t), side, side, t.shape[2]).permute(0, 3, 1, 2)


def permute_transform(t: Any) -> Any:
    return t.permute(0, 3, 1, 2)


def corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if a.std() == 0 or b.std() == 0:
        return 1.0 if np.allclose(a, b, atol=1e-6) else 0.0
    return float(np.corrcoef(a, b)[0, 1])


def layer_output(model: Any, layer: str, x: Any) -> Any:
    import torch

    seen = {}
    handle = model.get_submodule(layer).register_forward_hook(lambda m, a, o: seen.setdefault("out", o))
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    out = seen["out"]
    return out[0] if isinstance(out, tuple | list) else out


def transform_for(output: Any, channels_last: bool | None) -> Any:
    """The reference's reshape. ``channels_last=None``: told from the grid, whose channels outnumber its
    height and width at the late layers a default picks (Swin's (N, 7, 7, 768) vs MaxViT's (N, 512, 7, 7))."""
    if output.ndim == 3:
        return tokens_transform
    if channels_last is None and output.ndim == 4:
        channels_last = output.shape[-1] > output.shape[1]
    if output.ndim == 4 and channels_last:
        return permute_transform
    return None


def inside_attention(model: Any, layer: str) -> bool:
    from cnnvis.architectures.tokens import is_attention

    parts = layer.split(".")
    modules = dict(model.named_modules())
    return any(is_attention(modules[p]) for p in (".".join(parts[:i]) for i in range(1, len(parts) + 1))
               if p in modules)


def classifier_outcome(model: Any, x: Any, channels_last: bool | None = False, target: int = 1) -> tuple[str, str]:
    """Outcome of one classifier (``channels_last``: its grids are (N, H, W, C), as Swin's are)."""
    import pytorch_grad_cam as gradcam
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    import cnnvis
    from cnnvis.errors import CnnvisError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exp = cnnvis.explain(model, x, method="gradcam", target=target)
    except CnnvisError as exc:
        return "refused", str(exc).splitlines()[0][:150]
    except Exception as exc:
        return "crash", f"{type(exc).__name__}: {exc}"[:150]
    if inside_attention(model, exp.layer):
        return "wrong", f"default layer {exp.layer!r} is inside an attention module"
    try:
        transform = transform_for(layer_output(model, exp.layer, x), channels_last)
        layer = model.get_submodule(exp.layer)
        with gradcam.GradCAM(model, [layer], reshape_transform=transform) as cam:
            # pytorch-grad-cam keeps the layer's output by reference: an in-place op after the layer
            # (DenseNet's final ReLU) would rewrite it, so what flows on is a copy.
            handle = layer.register_forward_hook(lambda m, a, o: o.clone() if hasattr(o, "clone") else o)
            try:
                expected = cam(x, targets=[ClassifierOutputTarget(target)])
            finally:
                handle.remove()
    except Exception as exc:
        return "no-ref", f"pytorch-grad-cam failed on {exp.layer!r}: {type(exc).__name__}: {exc}"[:150]
    r = corr(exp.maps, expected)
    return ("equal" if r >= CORR else "wrong"), f"{exp.layer} corr={r:.4f}"


def print_table(title: str, results: list[tuple[str, str, str, str]], seconds: float) -> dict:
    """``results``: ``(family, model, outcome, detail)``; prints rows and per-family counts."""
    import collections

    print(f"\n{title}")
    for family, name, result, detail in results:
        print(f"  {result:8} {family:14} {name:40} {detail}")
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for family, _, result, _ in results:
        counts[family][result] += 1
    kinds = ["equal", "refused", "crash", "wrong", "no-ref"]
    print(f"{'family':16} {'models':>6} " + " ".join(f"{k:>8}" for k in kinds))
    total: collections.Counter = collections.Counter()
    for family, c in counts.items():
        total.update(c)
        print(f"{family:16} {sum(c.values()):6} " + " ".join(f"{c[k]:8}" for k in kinds))
    print(f"{'all':16} {sum(total.values()):6} " + " ".join(f"{total[k]:8}" for k in kinds) + f"   ({seconds:.0f} s)")
    share = total["refused"] / max(sum(total.values()), 1)
    print(f"refused: {share:.1%}")
    return dict(total)
