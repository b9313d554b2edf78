"""One CAM engine for every framework, computing where the model lives.

The engine asks the adapter for one forward (and gradient) pass to the layer, hands the activations
and gradients to the method, and turns the method's raw map into display maps the way
pytorch-grad-cam does: ReLU, min-max per image at the layer's resolution, bilinear resize to the
input, min-max again.

The seam: arrays stay of the adapter's own kind. A torch model's ``LayerPass`` holds torch tensors
on the model's device; Keras, ONNX and TensorRT give numpy. ``ops_for`` (``cnnvis.cam.ops``) picks
the operations of that kind and the engine does every step with them, so nothing crosses to the host
until the caller asks for numpy (``CamResult.host()``), once. A method sees, on ``CamContext``:

- ``activations`` ``(N, C, h, w)``, ``gradients`` (same shape, or None) and ``outputs``
  ``(N, classes)``: float32 arrays of the adapter's kind (fp16/bf16 models are lifted to fp32);
- ``xp``: their Array API namespace (``array_api_compat``). Write weights with it:
  ``ctx.xp.mean(ctx.gradients, axis=(2, 3))``, ``xp.sum``, ``xp.maximum(g, 0)``, ``xp.where``,
  ``xp.exp``, ``xp.max(..., keepdims=True)``; avoid ``np.*`` so the method runs on the device too;
- ``ops``: what the standard lacks: ``weighted_sum``, ``relu``, ``minmax``, ``resize`` (half-pixel,
  as OpenCV), ``upsample_align_corners`` (as torch's UpsamplingBilinear2d), ``asarray`` (anything to
  this kind, float32), ``to_host`` (to float32 numpy), ``concat``, ``index`` (numpy integer indices
  usable on this kind) and ``nchw`` (the prepared inputs as a channels-first array of this kind).

Chunking (any number of inputs, sized from free device memory) is ``cnnvis.cam.batches``; a method sees
one chunk. ScoreCAM/AblationCAM (``cnnvis.cam.perturbation``) show how a method runs extra forwards:
``ctx.adapter.target_scores`` takes a batch of this kind and answers scores of this kind.

A method overrides ``weights`` (``(N, C)`` or ``(N, C, h, w)``; the engine forms the weighted sum) or
``raw_map`` (``(N, h, w)``). Either may return numpy even on the torch path (a method written for
numpy keeps working); the engine moves it back with ``ops.asarray``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..errors import CancelledError, CnnvisError, NonSpatialLayerError, TargetError, UnknownMethodError
from ..imaging import sequence_of_ints
from .ops import ArrayOps, ops_for
from .projection import eigen_smoothed

Cancel = Callable[[], bool] | Any  # a callable returning True to stop, or an object with is_set()


@dataclass
class CamContext:
    """Everything a method may use to compute its weights (arrays of the adapter's kind, float32)."""

    adapter: Any
    inputs: Any  # the prepared framework batch
    layer: str
    activations: Any  # (N, C, h, w)
    gradients: Any | None
    outputs: Any  # (N, classes), pre-softmax
    targets: list[int] | None
    target: Any  # what adapters accept: list of ints or a callable
    batch_size: int = 32
    progress: bool | Callable[[int, int], None] = True  # a callable gets (done, total) forwards
    cancel: Cancel = None
    options: dict = field(default_factory=dict)
    ops: ArrayOps = field(default_factory=ArrayOps)

    @property
    def xp(self) -> Any:
        """The Array API namespace of the arrays (numpy's or torch's, through array_api_compat)."""
        return self.ops.xp

    def cancelled(self) -> bool:
        if self.cancel is None:
            return False
        is_set = getattr(self.cancel, "is_set", None)
        return bool(is_set() if is_set is not None else self.cancel())

    def check_cancelled(self) -> None:
        if self.cancelled():
            raise CancelledError(f"CAM computation on layer {self.layer!r} was cancelled.")


class CAMMethod:
    """A CAM method. Subclasses say how channel weights are computed, nothing else."""

    name: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    uses_gradients: ClassVar[bool] = True
    option_names: ClassVar[tuple[str, ...]] = ()  # what explain(..., **options) may pass it (ctx.options)

    def weights(self, ctx: CamContext) -> Any:
        """``(N, C)`` channel weights, or ``(N, C, h, w)`` per-position weights."""
        raise NotImplementedError

    def raw_map(self, ctx: CamContext) -> Any:
        """The weighted sum of activations over channels, ``(N, h, w)``, before ReLU."""
        weights = ctx.ops.asarray(self.weights(ctx))
        if ctx.options.get("eigen_smooth"):
            return eigen_smoothed(ctx.ops, weights, ctx.activations)
        return ctx.ops.weighted_sum(weights, ctx.activations)


@dataclass
class CamResult:
    """Maps of one batch, as arrays of the adapter's kind (``host()`` gives numpy)."""

    raw: Any  # (N, h, w) before ReLU
    maps: Any  # (N, H, W) in [0, 1]
    layer: str
    targets: list[int] | None
    outputs: np.ndarray  # (N, classes) on the host: small
    ops: ArrayOps = field(default_factory=ArrayOps)

    def host(self) -> CamResult:
        """The same result with float32 numpy maps."""
        return CamResult(raw=self.ops.to_host(self.raw), maps=self.ops.to_host(self.maps), layer=self.layer,
                         targets=self.targets, outputs=self.outputs)


def available_methods() -> dict[str, type[CAMMethod]]:
    """``{name: method class}`` from every plugin, aliases included, names lower-case."""
    from ..plugins import hook

    methods: dict[str, type[CAMMethod]] = {}
    for provided in hook().cnnvis_cam_methods():
        for name, cls in provided.items():
            for key in (name, *getattr(cls, "aliases", ())):
                methods[key.lower()] = cls
    return methods


def get_method(name: str | type[CAMMethod] | CAMMethod) -> CAMMethod:
    if isinstance(name, CAMMethod):
        return name
    if isinstance(name, type) and issubclass(name, CAMMethod):
        return name()
    methods = available_methods()
    try:
        return methods[str(name).lower()]()
    except KeyError:
        names = sorted({cls.name for cls in methods.values()})
        raise UnknownMethodError(f"Unknown CAM method {name!r}; available: {', '.join(names)}.") from None


def default_method(adapter: Any) -> str:
    """The method used when none is named: adapters without gradients (ONNX, TensorRT) say theirs."""
    return getattr(adapter, "default_method", None) or "gradcam"


def check_method_fits(adapter: Any, cam: CAMMethod) -> None:
    """A gradient method on a model without gradients is refused, naming the methods that work."""
    if not cam.uses_gradients or getattr(adapter, "supports_gradients", True):
        return
    usable = sorted({cls.name for cls in available_methods().values() if not cls.uses_gradients})
    framework = getattr(adapter, "framework", "this")
    raise CnnvisError(
        f"{cam.name} needs gradients, and {framework} models have none (their runtime only runs forward). "
        f"Use a gradient-free method: {', '.join(usable)} (the default here is {default_method(adapter)}), "
        "or explain the PyTorch/Keras model it was exported from."
    )


def normalise_target(target: Any, batch: int) -> Any:
    """None, a list of ``batch`` ints, or a callable; anything else is a TargetError."""
    if target is None or callable(target):
        return target
    if isinstance(target, bool | np.bool_):
        raise TargetError("target must be a class index, not a boolean.")
    if isinstance(target, int | np.integer):
        return [int(target)] * batch
    ints = sequence_of_ints(target)
    if ints is None:
        raise TargetError(
            f"target must be None, an int, a sequence of ints or a callable, not {type(target).__name__}."
        )
    if len(ints) != batch:
        raise TargetError(f"target has {len(ints)} entries for {batch} inputs; give one per input.")
    return ints


def check_target_range(targets: list[int] | None, outputs: np.ndarray) -> None:
    if targets is None:
        return
    classes = outputs.shape[-1]
    bad = [t for t in targets if not -classes <= t < classes]
    if bad:
        raise TargetError(f"target class {bad[0]} is out of range: the model outputs {classes} scores.")


def nchw_shape(adapter: Any, inputs: Any) -> tuple:
    """The prepared batch's (N, C, H, W), without copying a torch batch to the host to learn it."""
    if getattr(adapter, "framework", None) == "torch" and getattr(inputs, "ndim", None) == 4:
        return tuple(inputs.shape)
    return tuple(adapter.inputs_nchw(inputs).shape)


def check_per_input(layer: str, activations: Any, count: int) -> None:
    """A map per input needs a layer whose first axis is the batch: a detector's RoI pooling gives
    one row per box, which would otherwise become meaningless maps (or a resize error)."""
    if activations.ndim != 4 or activations.shape[0] != count:
        raise NonSpatialLayerError(
            f"Layer {layer!r} outputs {tuple(activations.shape)} for {count} input(s): its first axis is not "
            "one entry per input (per box or per token, for example), so it has no map per image. Pick a "
            "layer of the backbone (layer=...); for detectors, the end of the backbone, e.g. "
            "'backbone.body' in torchvision's Faster R-CNN.")


def run_cam(
    adapter: Any,
    method: str | CAMMethod,
    inputs: Any,
    *,
    target: Any = None,
    layer: str,
    batch_size: int = 32,
    progress: bool | Callable[[int, int], None] = True,
    cancel: Cancel = None,
    **options: Any,
) -> CamResult:
    """Compute one CAM method on a prepared batch at ``layer``."""
    cam = get_method(method)
    check_method_fits(adapter, cam)
    # Adapters of multi-input models say which input's resolution the layer's map is drawn at.
    size = getattr(adapter, "map_size", None)
    shape = nchw_shape(adapter, inputs)
    height, width = size(inputs, layer) if size is not None else shape[-2:]
    count = shape[0]
    target = normalise_target(target, count)
    layer_pass = adapter.layer_pass(inputs, layer, target, gradients=cam.uses_gradients)
    check_per_input(layer, layer_pass.activations, count)
    check_target_range(layer_pass.targets, layer_pass.outputs)
    ops = ops_for(layer_pass.activations)
    ctx = CamContext(
        adapter=adapter,
        inputs=inputs,
        layer=layer,
        activations=ops.asarray(layer_pass.activations),
        gradients=None if layer_pass.gradients is None else ops.asarray(layer_pass.gradients),
        outputs=ops.asarray(layer_pass.outputs),
        targets=layer_pass.targets,
        target=layer_pass.targets if layer_pass.targets is not None else target,
        batch_size=batch_size,
        progress=progress,
        cancel=cancel,
        options=options,
        ops=ops,
    )
    raw = ops.asarray(cam.raw_map(ctx))
    maps = ops.minmax(ops.resize(ops.minmax(ops.relu(raw)), height, width))
    return CamResult(raw=raw, maps=maps, layer=layer, targets=layer_pass.targets,
                     outputs=ops.to_host(layer_pass.outputs), ops=ops)
