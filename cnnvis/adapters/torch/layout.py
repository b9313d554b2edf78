"""Telling channels-first from channels-last 4-D layer outputs in PyTorch models.

torch's convention is ``(N, C, H, W)``, but transformer-style models (torchvision's Swin, ConvNeXt
blocks) keep ``(N, H, W, C)`` tensors between layers. Read the wrong way, a CAM sums over the wrong
axis and looks plausible while meaning nothing. So the layout of a layer's output is decided from
evidence: the modules that produced it (the layer itself or its last inner module of that shape)
and the first module that consumes a tensor of that shape afterwards. A LayerNorm or Linear acts on
the last axis (channels-last); a Conv2d, BatchNorm2d or pooling on axis 1 (channels-first); a
Permute says both. No evidence, or evidence both ways, and a shape that could be either: refused.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

NCHW, NHWC = "NCHW", "NHWC"

# Layouts told per model and (layer, input shape), kept while the model lives.
KNOWN_LAYOUTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass
class Call:
    """One module call during a traced forward: when it started and ended, and the shapes it saw."""

    name: str
    module: Any
    start: int
    end: int = -1
    input_shape: tuple | None = None
    output_shape: tuple | None = None


@dataclass
class LayoutTrace:
    """Pre- and post-forward hooks recording every named module's calls in order."""

    modules: dict[str, Any]
    calls: list[Call] = field(default_factory=list)
    clock: int = 0
    open: dict[int, list[Call]] = field(default_factory=dict)

    def attach(self) -> list[Any]:
        handles = []
        for name, module in self.modules.items():
            handles.append(module.register_forward_pre_hook(self._pre(name)))
            handles.append(module.register_forward_hook(self._post()))
        return handles

    def _tick(self) -> int:
        self.clock += 1
        return self.clock

    def _pre(self, name: str) -> Any:
        def hook(module: Any, args: tuple) -> None:
            call = Call(name, module, self._tick(), input_shape=_shape(args[0] if args else None))
            self.calls.append(call)
            self.open.setdefault(id(module), []).append(call)
        return hook

    def _post(self) -> Any:
        def hook(module: Any, args: tuple, output: Any) -> None:
            stack = self.open.get(id(module))
            if stack:
                call = stack.pop()
                call.end = self._tick()
                call.output_shape = _shape(output[0] if isinstance(output, tuple | list) and output else output)
        return hook

    def layout(self, layer: str) -> str | None:
        """NCHW, NHWC, or None when the evidence is missing or contradictory (see ``explain``)."""
        evidence = self.evidence(layer)
        kinds = set(evidence.values())
        return kinds.pop() if len(kinds) == 1 else None

    def evidence(self, layer: str) -> dict[str, str]:
        """``{module name: layout}`` from the nearest producer and the nearest consumer of the output."""
        own = [c for c in self.calls if c.name == layer and c.end > 0]
        if not own or own[-1].output_shape is None or len(own[-1].output_shape) != 4:
            return {}
        call = own[-1]  # a module called several times: its last call counts
        shape = call.output_shape
        found: dict[str, str] = {}
        inner = [c for c in self.calls if (c is call or c.name.startswith(layer + ".")) and
                 call.start <= c.start and c.end <= call.end and c.output_shape == shape]
        for producer in sorted(inner, key=lambda c: -c.end):
            kind = output_layout(producer.module, shape)
            if kind:
                found[producer.name] = kind
                break
        ancestors = {c.name for c in self.calls if c.start < call.start and c.end > call.end}
        later = [c for c in self.calls if c.start > call.end and c.name not in ancestors and c.input_shape == shape]
        for consumer in later:
            kind = input_layout(consumer.module, shape)
            if kind:
                found[consumer.name] = kind
                break
        return found


def _shape(value: Any) -> tuple | None:
    shape = getattr(value, "shape", None)
    return tuple(shape) if shape is not None and hasattr(value, "dtype") else None


def _family(module: Any) -> str | None:
    """What a module does to its 4-D input's axes; subclasses that override forward are unknown."""
    import torch.nn as nn

    def plain(cls: type) -> bool:
        return isinstance(module, cls) and type(module).forward is cls.forward

    if plain(nn.LayerNorm):  # torchvision's LayerNorm2d subclasses it and permutes inside: skipped
        return "last" if len(module.normalized_shape) == 1 else None
    if plain(nn.Linear):
        return "last"
    channel_first = (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm,
                     nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
    if any(plain(cls) for cls in channel_first):
        return "first"
    dims = getattr(module, "dims", None)
    if type(module).__name__ == "Permute" and isinstance(dims, list | tuple) and len(dims) == 4:
        return {(0, 3, 1, 2): "to_first", (0, 2, 3, 1): "to_last"}.get(tuple(dims))
    return None


def input_layout(module: Any, shape: tuple) -> str | None:
    """The layout ``module`` expects of a 4-D input of ``shape``."""
    family = _family(module)
    return {"last": NHWC, "first": NCHW, "to_first": NHWC, "to_last": NCHW}.get(family or "")


def output_layout(module: Any, shape: tuple) -> str | None:
    """The layout of the 4-D output ``module`` produced."""
    family = _family(module)
    return {"last": NHWC, "first": NCHW, "to_first": NCHW, "to_last": NHWC}.get(family or "")


def could_be_channels_last(shape: tuple) -> bool:
    """Square spatial axes in the middle and a different last axis: (N, 7, 7, 768) looks channels-last."""
    return len(shape) == 4 and shape[1] == shape[2] and shape[3] != shape[2]


def decide_layout(trace: LayoutTrace, layer: str, shape: tuple) -> str:
    """The layer's layout from the trace, or a NonSpatialLayerError when it cannot be told."""
    from ...errors import NonSpatialLayerError

    evidence = trace.evidence(layer)
    kinds = set(evidence.values())
    if len(kinds) == 1:
        return kinds.pop()
    if not kinds and not could_be_channels_last(shape):
        return NCHW  # torch's own convention, and nothing says otherwise
    seen = ", ".join(f"{name!r} reads it as {kind}" for name, kind in evidence.items()) or "no layer around it says"
    raise NonSpatialLayerError(
        f"Layer {layer!r} outputs shape {shape}, which could be channels-first (N, C, H, W) or "
        f"channels-last (N, H, W, C) ({seen}); a CAM on the wrong axis would look plausible and mean "
        "nothing. Choose a layer whose layout is clear (a Conv2d, a LayerNorm, a block ending in one), or "
        "declare it with a cnnvis_architecture plugin returning Architecture(layout=...)."
    )
