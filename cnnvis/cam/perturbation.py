"""ScoreCAM and AblationCAM: channel weights from masked forward passes, on the model's device.

Masks are upsampled, normalised and applied with the engine's ops (torch on the model's device for torch
models, numpy otherwise); the adapter scores each chunk of masked inputs without gradients (torch under
``inference_mode``) and hands the scores back of the same kind, so a GPU computes without stalling on the
host. Chunks are ``ctx.batch_size`` forwards, halved on a device out-of-memory error.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..errors import CnnvisError
from .engine import CamContext, CAMMethod

# AblationCAM's replacement for a channel whose layer can go negative (pytorch-grad-cam's value).
ABLATION_OFFSET = 1e7


class ScoreCAM(CAMMethod):
    name = "scorecam"
    aliases = ("score-cam",)
    uses_gradients = False

    def weights(self, ctx: CamContext) -> Any:
        ops, xp = ctx.ops, ctx.xp
        images = ops.nchw(ctx.adapter, ctx.inputs)
        n, channels, h, w = ctx.activations.shape
        flat = xp.reshape(ctx.activations, (n * channels, h, w))
        # Masks of every (image, channel) pair in one sequence: a chunk may span images, so few-channel
        # layers still fill a forward pass.
        owner = np.repeat(np.arange(n), channels)
        scores = []
        with _Progress(ctx, n * channels, "ScoreCAM") as bar:
            def score(start: int, stop: int) -> None:
                masks = normalised_upsampled(ops, flat[start:stop], *images.shape[-2:])
                rows = owner[start:stop]
                batch = images[ops.index(rows)] * masks[:, None]
                scores.append(ops.asarray(ctx.adapter.target_scores(batch, _rows_target(ctx, rows))))
                bar.update(stop - start)

            each_chunk(ctx, n * channels, score)
        return _softmax(xp, xp.reshape(ops.concat(scores), (n, channels)))


def normalised_upsampled(ops: Any, activations: Any, height: int, width: int) -> Any:
    """``(C, h, w)`` upsampled with aligned corners to ``(C, height, width)``, each scaled to [0, 1]."""
    xp = ops.xp
    upsampled = ops.upsample_align_corners(activations, height, width)
    flat = xp.reshape(upsampled, (upsampled.shape[0], -1))
    lo = xp.reshape(xp.min(flat, axis=1), (-1, 1, 1))
    hi = xp.reshape(xp.max(flat, axis=1), (-1, 1, 1))
    return (upsampled - lo) / (hi - lo + 1e-8)


class AblationCAM(CAMMethod):
    name = "ablationcam"
    aliases = ("ablation-cam",)
    uses_gradients = False

    def weights(self, ctx: CamContext) -> Any:
        ops, xp = ctx.ops, ctx.xp
        n, channels = ctx.activations.shape[:2]
        original = _original_scores(ctx)
        ablated = []
        with _Progress(ctx, n * channels, "AblationCAM") as bar:
            for i in range(n):
                value = ablation_value(ctx.activations[i])
                single = ctx.adapter.take(ctx.inputs, [i])

                def ablate(start: int, stop: int, i: int = i, value: float = value, single: Any = single) -> None:
                    layer_out = xp.stack([ctx.activations[i]] * (stop - start))
                    layer_out[ops.index(np.arange(stop - start)), ops.index(np.arange(start, stop))] = value
                    ablated.append(ops.asarray(ctx.adapter.target_scores_with_layer(
                        single, ctx.layer, layer_out, _rows_target(ctx, [i] * (stop - start)))))
                    bar.update(stop - start)

                each_chunk(ctx, channels, ablate)
        ablated = xp.reshape(ops.concat(ablated), (n, channels))
        return (original[:, None] - ablated) / original[:, None]


def ablation_value(activations: Any) -> float:
    """Zero where the layer's minimum is zero (after a ReLU), else far below its minimum."""
    low = float(activations.min())
    return 0.0 if low == 0 else low - ABLATION_OFFSET


def _original_scores(ctx: CamContext) -> Any:
    ops = ctx.ops
    if ctx.targets is not None:
        return ctx.outputs[ops.index(np.arange(len(ctx.outputs))), ops.index(np.asarray(ctx.targets))]
    return ops.asarray(ctx.adapter.target_scores(ops.nchw(ctx.adapter, ctx.inputs), ctx.target))


def _rows_target(ctx: CamContext, rows: Any) -> Any:
    if ctx.targets is not None:
        return [ctx.targets[int(i)] for i in rows]
    return ctx.target  # a callable scores each row of the batch on its own


def _softmax(xp: Any, scores: Any) -> Any:
    exp = xp.exp(scores - xp.max(scores, axis=1, keepdims=True))
    return exp / xp.sum(exp, axis=1, keepdims=True)


def each_chunk(ctx: CamContext, total: int, work: Callable[[int, int], None]) -> None:
    """``work(start, stop)`` over forward chunks of ``ctx.batch_size``, cancellable between them; a chunk
    that runs the device out of memory is not lost: the size halves and the same rows run again."""
    size, start = max(1, int(ctx.batch_size)), 0
    torch = sys.modules.get("torch")
    oom = torch.cuda.OutOfMemoryError if torch is not None else MemoryError
    while start < total:
        ctx.check_cancelled()
        stop = min(total, start + size)
        try:
            work(start, stop)
        except oom:  # needs a full GPU to happen
            if size == 1:
                raise CnnvisError("One masked forward pass does not fit in the device's memory.") from None
            size = max(1, size // 2)
            torch.cuda.empty_cache()
            continue
        start = stop


class _Progress:
    """Progress over forward passes: a tqdm bar, or the caller's ``progress(done, total)`` callable."""

    def __init__(self, ctx: CamContext, total: int, label: str):
        self.report: Callable | None = ctx.progress if callable(ctx.progress) else None
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
