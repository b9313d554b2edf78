"""A model with its example inputs, answering graph / activations / explain requests."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..adapters.base import resolve_adapter
from ..api import explain
from ..cam.engine import default_method
from ..imaging import minmax
from ..trust.capability import trust_capability
from . import model_facts, structured
from .codec import from_npy, to_npy, to_png
from .dispatch_types import Reply
from .errors import BadRequest

DEAD_CHANNEL_EPS = 1e-8


class ModelSession:
    """One model as the views see it. ``inputs`` are the images explained when a request gives none."""

    def __init__(self, model: Any, inputs: Any = None, *, name: str = "model",
                 class_names: Sequence[str] | None = None, preprocess: Any = None,
                 mean: Any = None, std: Any = None, source: str | None = None):
        self.model = model
        self.adapter = resolve_adapter(model)
        self.inputs = None if inputs is None else self.adapter.prepare_inputs(inputs)
        self.name = name
        self.source = source
        self.class_names = list(class_names) if class_names is not None else model_facts.default_class_names(self.adapter)
        self.display = {"preprocess": preprocess, "mean": mean, "std": std}
        self._graph: dict | None = None
        self.last_explain: dict = {}  # the views' last explain settings, which the trust kinds reuse
        self._lock = threading.Lock()  # frameworks' hooks are per model: one pass at a time

    def summary(self) -> dict:
        return {
            "name": self.name,
            "framework": self.adapter.framework,
            "device": str(getattr(self.adapter, "device", "cpu")),  # where explanations are computed
            "source": self.source,
            "inputs": None if self.inputs is None else list(self.adapter.inputs_nchw(self.inputs).shape),
            "class_names": self.class_names,
            "default_method": default_method(self.adapter),
            "layers": model_facts.layer_list(self.adapter),
            "capabilities": model_facts.capabilities(self.adapter),
            **trust_capability(self.adapter),  # "can_check" and "why": can "Check evidence" run here
            "input_spec": model_facts.input_spec(self.adapter, self.inputs, self.display),
        }

    def graph(self) -> Reply:
        with self._lock:
            if self._graph is None:
                example = None if self.inputs is None else self._select(self.inputs, [0])
                self._graph = self.adapter.graph(example).to_dict()
        return Reply(self._graph)

    def activations(self, layer: str, index: int = 0, buffers: Sequence[bytes] = ()) -> Reply:
        """One input's activations at ``layer``: channel statistics, and (C, H, W) float32 as .npy."""
        inputs = self._inputs(buffers)
        with self._lock:
            acts = self.adapter.activations(self._select(inputs, [index]), [layer])
        if layer not in acts:
            raise BadRequest(f"Layer {layer!r} produced no 4-D output for this input.")
        channels = acts[layer][0].astype(np.float32)
        return Reply({"layer": layer, "index": index, "shape": list(channels.shape),
                      "stats": channel_stats(channels)}, [to_npy(channels)])

    def activation_stats(self, layers: Sequence[str] | None, index: int = 0,
                         buffers: Sequence[bytes] = ()) -> Reply:
        """Channel statistics of many layers (None: every 4-D layer) for one input, in one pass and reduced
        where the model runs; no tensors: the views ask ``activations`` for the layer they draw."""
        from ..cam.stats import layer_stats

        inputs = self._inputs(buffers)
        with self._lock:
            found = layer_stats(self.adapter, self._select(inputs, [index]), layers)
        return Reply({"index": index, "device": str(getattr(self.adapter, "device", "cpu")), "layers": {
            name: {key: (value[0] if value.dtype == bool else value[0].round(6)).tolist()
                   for key, value in stats.items()}
            for name, stats in found.items()}})

    def explain(self, method: str | None = None, target: Any = None, layer: str | None = None,
                indices: Sequence[int] | None = None, alpha: float = 0.5, colormap: str = "jet",
                top_k: int = 5, buffers: Sequence[bytes] = (), progress: bool = False, cancel: Any = None,
                eigen_smooth: bool = False, aug_smooth: bool = False, options: dict | None = None) -> Reply:
        """Overlays as PNG (one per input), then the raw maps and the maps as .npy. ``eigen_smooth``,
        ``aug_smooth`` and ``options`` (a method's own) as ``cnnvis.explain`` takes them."""
        inputs = self._inputs(buffers)
        if indices is not None:
            inputs = self._select(inputs, indices)
        with self._lock:
            engine_target = self.resolve_target(target, inputs)
            layer = layer or structured.default_layer(self, inputs)
            exp = explain(self.adapter, inputs, method=method, target=engine_target, layer=layer,
                          class_names=self.class_names, progress=progress, cancel=cancel, eigen_smooth=eigen_smooth,
                          aug_smooth=aug_smooth, **(options or {}), **self.display)
            found = structured.structure(self, inputs)
        self.last_explain = {"method": exp.method, "target": target, "layer": exp.layer, "output": None}
        overlays = exp.overlay(alpha=alpha, colormap=colormap)
        # A detector's or segmentation model's output has no class ranking: it answers its boxes or classes.
        ranked = exp.top_k(top_k) if found.kind == structured.CLASSES else [[] for _ in exp.maps]
        result = {
            "method": exp.method, "layer": exp.layer, "targets": exp.targets, "target_names": exp.target_names,
            "top_k": [[{"index": i, "name": n, "score": s} for i, n, s in row] for row in ranked],
            "shape": list(exp.maps.shape), "raw_shape": list(exp.raw.shape),
            "output_kind": found.kind, "target": _shown_target(target, engine_target),
            "eigen_smooth": eigen_smooth, "aug_smooth": aug_smooth, "device": exp.device,
            **found.describe(self.class_names),
            "buffers": [f"overlay {i}" for i in range(len(overlays))] + ["raw", "maps", "images"],
        }
        pngs = [to_png(o) for o in overlays]
        buffers = [*pngs, to_npy(exp.raw), to_npy(exp.maps), to_npy(exp.images())]
        if found.kind == structured.SEGMENTATION:  # the predicted class per pixel, for drawing class masks
            result["buffers"].append("segmentation")
            labels = found.labels
            buffers.append(to_npy(labels.astype(np.uint8) if labels.max(initial=0) < 256 else labels))
        return Reply(result, buffers)

    def resolve_target(self, target: Any, inputs: Any) -> Any:
        """A request's target as the engine takes it: class indices unchanged, ``{"box": i}`` and
        ``{"class": c}`` as detection / segmentation targets (see ``structured``)."""
        return structured.resolve(self, target, inputs)

    def _inputs(self, buffers: Sequence[bytes]) -> Any:
        if buffers:
            return self.adapter.prepare_inputs(from_npy(buffers[0]))
        if self.inputs is None:
            raise BadRequest(f"Model {self.name!r} has no inputs: send an array (.npy) with the request.")
        return self.inputs

    def _select(self, inputs: Any, indices: Sequence[int]) -> Any:
        count = len(self.adapter.inputs_nchw(inputs))
        bad = [i for i in indices if not -count <= int(i) < count]
        if bad:
            raise BadRequest(f"Input index {bad[0]} is out of range: there are {count} inputs.")
        return self.adapter.take(inputs, [int(i) for i in indices])


def _shown_target(asked: Any, resolved: Any) -> Any:
    """The target the view marks as picked: what was asked, or the default a structured output chose."""
    if asked is not None:
        return asked
    from ..targets import Detection, Segmentation

    if isinstance(resolved, Detection):
        return {"box": 0}
    if isinstance(resolved, Segmentation):
        return {"class": resolved.class_index}
    return None


def channel_stats(channels: np.ndarray) -> dict:
    """Per-channel mean, variance, sparsity (share of zeros) and max, plus dead channels."""
    flat = channels.reshape(len(channels), -1)
    peak = np.abs(flat).max(axis=1)
    return {
        "mean": flat.mean(axis=1).round(6).tolist(),
        "variance": flat.var(axis=1).round(6).tolist(),
        "sparsity": (np.abs(flat) <= DEAD_CHANNEL_EPS).mean(axis=1).round(4).tolist(),
        "max": flat.max(axis=1).round(6).tolist(),
        "min": flat.min(axis=1).round(6).tolist(),
        "dead": np.flatnonzero(peak <= DEAD_CHANNEL_EPS).tolist(),
    }


def channel_grid_png(channels: np.ndarray, columns: int = 16) -> bytes:
    """A static grid image of the channels, for snapshots."""
    c, h, w = channels.shape
    rows = -(-c // columns)
    grid = np.zeros((rows * (h + 1), columns * (w + 1)), np.float32)
    scaled = minmax(channels)
    for i, channel in enumerate(scaled):
        r, col = divmod(i, columns)
        grid[r * (h + 1):r * (h + 1) + h, col * (w + 1):col * (w + 1) + w] = channel
    return to_png(np.uint8(grid * 255))
