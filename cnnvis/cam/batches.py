"""Explaining any number of inputs: the engine runs on chunks bounded by memory, each chunk's maps cross to
the host once, and the call's answer is their concatenation (numpy, as ``Explanation`` promises).

Chunk sizes: ``batch_size=`` when given; otherwise, for a model on a CUDA device, the first chunk's peak
memory per image against the device's free memory (halved and retried on an out-of-memory error); on
the CPU (and for Keras, ONNX and TensorRT models) a fixed size at which a pass is already as fast per
image as a larger one and memory stays small.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import CancelledError, CnnvisError
from .engine import CAMMethod, CamResult, normalise_target, run_cam
from .scaling import rescale

HOST_CHUNK = 64  # images per pass off the GPU
FIRST_GPU_CHUNK = 64  # the probe chunk on a GPU, whose peak memory sizes the next ones
MAX_GPU_CHUNK = 1024
GPU_MEMORY_SHARE = 0.6  # of the free memory one chunk may take: the rest is the allocator's slack


@dataclass
class Chunked:
    """Host results of a whole call, with the device arrays when asked to keep them."""

    maps: np.ndarray
    raw: np.ndarray
    layer: str
    targets: list[int] | None
    outputs: np.ndarray
    inputs_nchw: np.ndarray
    device: str
    kept: tuple | None = field(default=None, repr=False)


class InputChunks:
    """Prepared chunks of the user's inputs: arrays are sliced before preparing (so 10,000 images never sit
    on the device at once); other inputs (a multi-input dict or list) are prepared once and taken."""

    def __init__(self, adapter: Any, inputs: Any):
        self.adapter = adapter
        self.sliceable = hasattr(inputs, "shape") and hasattr(inputs, "__getitem__") and len(inputs.shape) >= 1
        self.inputs = inputs if self.sliceable else adapter.prepare_inputs(inputs)
        self.count = len(inputs) if self.sliceable else len(adapter.inputs_nchw(self.inputs))

    def host_nchw(self, start: int, stop: int, batch: Any) -> np.ndarray:
        """The chunk's inputs on the host, channels-first: a torch model's host inputs are read where they
        are instead of copied back from the device."""
        raw = self.inputs[start:stop] if self.sliceable else None
        if getattr(self.adapter, "framework", None) == "torch" and raw is not None and raw.ndim == 4:
            if isinstance(raw, np.ndarray):
                return raw.astype(np.float32, copy=False)
            if getattr(raw, "device", None) is not None and raw.device.type == "cpu":
                return raw.detach().float().numpy()
        return np.asarray(self.adapter.inputs_nchw(batch))

    def take(self, start: int, stop: int) -> Any:
        if self.sliceable:
            return self.adapter.prepare_inputs(self.inputs[start:stop])
        return self.adapter.take(self.inputs, list(range(start, stop)))


def explain_chunks(
    adapter: Any, cam: CAMMethod, chunks: InputChunks, *, target: Any, layer: str | None,
    batch_size: int | None, progress: Any, cancel: Any, normalize: str, as_tensor: bool,
    options: dict | None = None,
) -> Chunked:
    """``run_cam`` over every chunk of ``chunks``; maps scaled under ``normalize`` over the whole call."""
    sizer = _Sizer(adapter, batch_size)
    stop = min(chunks.count, sizer.size)
    batch = chunks.take(0, stop)
    layer = layer or adapter.default_layer(batch)
    targets = normalise_target(target, chunks.count)
    parts: list[tuple[CamResult, Any, np.ndarray]] = []
    start = 0
    while start < chunks.count:
        _check_cancel(cancel)
        if batch is None:
            stop = min(chunks.count, start + sizer.size)
            batch = chunks.take(start, stop)
        try:
            result = sizer.measure(lambda b=batch, s=start, e=stop: run_cam(
                adapter, cam, b, target=_slice(targets, s, e), layer=layer,
                batch_size=batch_size or 32, progress=_progress(progress, s, e, chunks.count),
                cancel=cancel, **(options or {})), stop - start)
        except _Retry:
            batch = None
            continue
        scaled = rescale(result, "none" if normalize == "shared" else normalize)
        parts.append((result, scaled, chunks.host_nchw(start, stop, batch)))
        start, batch = stop, None
    return _joined(parts, layer, normalize, as_tensor)


def _joined(parts: list, layer: str, normalize: str, as_tensor: bool) -> Chunked:
    ops = parts[0][0].ops
    maps = np.concatenate([ops.to_host(scaled) for _, scaled, _ in parts])
    raw = np.concatenate([ops.to_host(result.raw) for result, _, _ in parts])
    top = float(maps.max()) if normalize == "shared" else 0.0
    if top > 0:
        maps /= top  # one scale for the whole call, not per chunk
    kept = None
    if as_tensor:
        kept_maps = ops.concat([scaled for _, scaled, _ in parts])
        kept = (kept_maps / top if top > 0 else kept_maps, ops.concat([result.raw for result, _, _ in parts]))
    targets = None if parts[0][0].targets is None else [t for r, _, _ in parts for t in r.targets]
    return Chunked(maps=maps, raw=raw, layer=layer, targets=targets,
                   outputs=np.concatenate([r.outputs for r, _, _ in parts]),
                   inputs_nchw=np.concatenate([nchw for _, _, nchw in parts]), device=str(ops.device), kept=kept)


def _progress(progress: Any, start: int, stop: int, count: int) -> Any:
    """A caller's ``progress(done, total)`` over the whole call: a chunk's forwards offset by earlier ones."""
    if not callable(progress):
        return progress

    def report(done: int, total: int) -> None:
        per_image = total / max(1, stop - start)
        progress(int(start * per_image) + done, int(round(per_image * count)))
    return report


def _slice(targets: Any, start: int, stop: int) -> Any:
    return targets[start:stop] if isinstance(targets, list) else targets


def _check_cancel(cancel: Any) -> None:
    if cancel is None:
        return
    is_set = getattr(cancel, "is_set", None)
    if is_set() if is_set is not None else cancel():
        raise CancelledError("The explanation was cancelled.")


class _Retry(Exception):
    """The chunk ran out of device memory; the next try uses a smaller one."""


def _cuda_device(adapter: Any) -> Any:
    device = getattr(adapter, "device", None)
    return device if getattr(device, "type", None) == "cuda" else None


def _first_size(adapter: Any) -> int:
    return FIRST_GPU_CHUNK if _cuda_device(adapter) is not None else HOST_CHUNK


class _Sizer:
    """The chunk size: fixed when given or off the GPU; on a GPU from measured peak memory per image."""

    def __init__(self, adapter: Any, fixed: int | None):
        self.device = None if fixed else _cuda_device(adapter)
        self.size = fixed or _first_size(adapter)

    def measure(self, run: Callable[[], CamResult], rows: int) -> CamResult:
        if self.device is None:
            return run()
        torch = sys.modules["torch"]
        torch.cuda.reset_peak_memory_stats(self.device)
        base = torch.cuda.memory_allocated(self.device)
        try:
            result = run()
        except torch.cuda.OutOfMemoryError:
            if rows <= 1:
                raise CnnvisError("One input does not fit in the GPU's free memory.") from None
            torch.cuda.empty_cache()
            self.size = max(1, rows // 2)
            raise _Retry() from None
        per_image = max(1, (torch.cuda.max_memory_allocated(self.device) - base) // rows)
        free, _ = torch.cuda.mem_get_info(self.device)
        self.size = int(min(MAX_GPU_CHUNK, max(1, free * GPU_MEMORY_SHARE // per_image)))
        return result
