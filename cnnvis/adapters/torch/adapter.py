"""PyTorch adapter: forward hooks to reach a layer, ``autograd.grad`` to it and nothing more."""

from __future__ import annotations

import sys
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ...errors import CnnvisError, InputShapeError, NonSpatialLayerError, TargetError, UnknownLayerError
from ...handles import LoadedModel
from ...hookspecs import hookimpl
from ...outputs import is_tensor
from ..base import LayerPass, Target
from .capture import check_depends, first_tensor, layer_forward
from .layout import KNOWN_LAYOUTS, NHWC, LayoutTrace, decide_layout
from .outputs import SoftmaxBypass

# Default layer per model and input shape: finding it costs a forward pass.
_DEFAULT_LAYERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# Layout (NCHW/NHWC) of 4-D layer outputs per model, layer and input shape: telling costs a traced forward.


@hookimpl(trylast=True)
def cnnvis_adapter(model: Any) -> Any:
    torch = sys.modules.get("torch")  # a torch model exists only if torch is already imported
    if torch is None:
        return None
    if isinstance(model, LoadedModel) and isinstance(model.model, torch.nn.Module):
        return TorchAdapter(model.model, exported=model.info.get("exported_program"))
    if isinstance(model, torch.nn.Module):
        return TorchAdapter(model)
    return None


class TorchAdapter:
    framework = "torch"

    def __init__(self, model: Any, exported: Any = None):
        import torch

        from ...plugins import hook

        self.torch = torch
        self.model = model
        self.exported = exported  # the ExportedProgram of a .pt2 file: its graph has every op
        # Layers answer to the wrapped module's own names: torch.compile's `_orig_mod.` and DataParallel's or
        # DDP's `module.` are the wrapper's, not the model's. Forwards still go through the wrapper.
        self.inner = unwrapped(model)
        # DataParallel/DDP replicas would run the hooks on copies on other GPUs: passes run the module itself
        # (on its first device). A compiled model keeps its compiled forward.
        self.runner = model.module if isinstance(model, _parallel_wrappers(torch)) else model
        self.modules = {name: m for name, m in self.inner.named_modules() if name}
        hints = hook().cnnvis_architecture(model=self.inner, framework=self.framework)
        self.reshape = getattr(hints, "reshape", None)
        self.hinted_layer = getattr(hints, "layer", None)
        self.layout_hint = getattr(hints, "layout", None)
        self.output_selector: Any = None  # explain(..., output=): which part of the output targets score
        first = next(model.parameters(), None)
        self.device = first.device if first is not None else torch.device("cpu")
        self.dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32

    # -- layers ---------------------------------------------------------------------------------
    def layer_names(self) -> list[str]:
        return list(self.modules)

    def module(self, name: str) -> Any:
        try:
            module = self.modules[name]
        except KeyError:
            raise UnknownLayerError(name, self.layer_names()) from None
        if isinstance(module, self.torch.jit.ScriptModule):
            raise CnnvisError(
                f"Layer {name!r} belongs to a TorchScript model, whose layers cannot be observed during a "
                "forward pass. Export the model with torch.export.save (.pt2) for activations and CAMs; "
                "cnnvis.graph works on TorchScript as it is."
            )
        return module

    def default_layer(self, inputs: Any) -> str:
        if self.hinted_layer:
            return self.hinted_layer
        cache = _DEFAULT_LAYERS.setdefault(self.model, {})
        key = tuple(inputs.shape[1:])
        if key not in cache:
            cache[key] = self._probe_last_spatial_layer(inputs)
        return cache[key]

    def _probe_last_spatial_layer(self, inputs: Any) -> str:
        from .default_layer import probe_default_layer

        return probe_default_layer(self, inputs)  # grids only: never attention scores or tokens

    # -- inputs ---------------------------------------------------------------------------------
    def prepare_inputs(self, inputs: Any) -> Any:
        torch = self.torch
        if isinstance(inputs, np.ndarray):
            if inputs.dtype == object or not np.issubdtype(inputs.dtype, np.number):
                raise InputShapeError(f"Inputs must be a numeric array, not dtype {inputs.dtype}.")
            inputs = torch.from_numpy(np.ascontiguousarray(inputs))
        if not isinstance(inputs, torch.Tensor):
            raise InputShapeError(
                f"PyTorch models take a torch.Tensor or numpy array (N, C, H, W), not {type(inputs).__name__}."
            )
        if not (inputs.is_floating_point() or inputs.dtype in (torch.uint8, torch.int32, torch.int64)):
            raise InputShapeError(f"Inputs must be a numeric array or tensor, not {inputs.dtype}.")
        if inputs.ndim != 4:
            hint = " Add the batch dimension with x.unsqueeze(0)." if inputs.ndim == 3 else ""
            raise InputShapeError(
                f"Expected a batch of images (N, C, H, W), got a {inputs.ndim}-D tensor of shape "
                f"{tuple(inputs.shape)}.{hint}"
            )
        if len(inputs) == 0:
            raise InputShapeError("The batch is empty: give at least one input.")
        self._check_channels(inputs)
        return inputs.detach().to(device=self.device, dtype=self.dtype)

    def _check_channels(self, inputs: Any) -> None:
        first_conv = next((m for m in self.modules.values() if isinstance(m, self.torch.nn.Conv2d)), None)
        if first_conv is None or inputs.shape[1] == first_conv.in_channels:
            return
        layout = " It looks channels-last (N, H, W, C): use x.permute(0, 3, 1, 2)." if (
            inputs.shape[-1] == first_conv.in_channels) else ""
        raise InputShapeError(
            f"The model's first convolution takes {first_conv.in_channels} channels, the inputs have "
            f"{inputs.shape[1]} (shape {tuple(inputs.shape)}, read as N, C, H, W).{layout}"
        )

    def inputs_nchw(self, inputs: Any) -> np.ndarray:
        return inputs.detach().cpu().float().numpy()

    def take(self, inputs: Any, indices: Sequence[int]) -> Any:
        return inputs[list(indices)]

    # -- passes ---------------------------------------------------------------------------------
    def layer_pass(self, inputs: Any, layer: str, target: Target | None, gradients: bool) -> LayerPass:
        with layer_forward(self, inputs, layer, gradients) as (logits, activation, trace):
            targets, score, per_input = self._score(logits, target, len(inputs))
            layout = self._layout(layer, activation, trace, inputs)
            spatial = self._reshaped(activation, layer, layout)
            grads = None
            if gradients:
                check_depends(score, f"layer {layer!r}")
                (grad,) = self.torch.autograd.grad(score, activation, allow_unused=True)
                if grad is None:
                    raise CnnvisError(f"The target score does not depend on layer {layer!r}.")
                grads = self._reshaped(grad, layer, layout).detach().float()
        # Tensors stay on the model's device (the CAM engine computes there), lifted to fp32 so fp16 and
        # bf16 models' maps are summed and scaled at full precision.
        return LayerPass(
            outputs=(logits if is_tensor(logits) else per_input).detach().float(),
            activations=spatial.detach().float(),
            gradients=grads,
            targets=targets,
        )

    def _forward_with_hooks(self, inputs: Any, hooks: dict[str, Any]) -> None:
        """One no-grad forward with a forward hook on each named layer, removed afterwards."""
        handles = [self.module(name).register_forward_hook(fn) for name, fn in hooks.items()]
        try:
            with self.torch.no_grad():
                self._forward(inputs)
        finally:
            for handle in handles:
                handle.remove()

    def _forward_keeping(self, inputs: Any, layers: Sequence[str] | None,
                         keep: Callable[[str], Callable]) -> tuple[list[str], Any]:
        """One no-grad forward with hook ``keep(name)`` on each of ``layers`` (None: every module) and
        the layout trace attached; returns ``(the names, the trace or None)``."""
        names = list(self.modules) if layers is None else list(layers)
        for name in names:
            self.module(name)  # an unknown name fails before the forward
        trace = self._trace_for(names, inputs)
        handles = trace.attach() if trace else []
        try:
            self._forward_with_hooks(inputs, {n: keep(n) for n in names})
        finally:
            for handle in handles:
                handle.remove()
        return names, trace

    def _forward(self, batch: Any) -> Any:
        """Run the model; its own failures become a cnnvis error that says what to check."""
        try:
            return self.runner(batch)
        except CnnvisError:
            raise
        except Exception as exc:
            detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            if "shape[0]" in detail and self.exported is not None:
                raise InputShapeError(
                    f"This .pt2 model was exported for a fixed batch size and got {len(batch)} inputs "
                    f"({detail}). Export it with a dynamic batch dimension (torch.export.export(..., "
                    "dynamic_shapes=...)) or pass a batch of the exported size."
                ) from None
            raise InputShapeError(
                f"The model could not run on inputs of shape {tuple(batch.shape)}: {detail}"
            ) from None

    def _score(self, logits: Any, target: Target | None, batch: int) -> tuple[list[int] | None, Any, Any]:
        """Class indices (None for callables), the summed score to differentiate, scores per input."""
        if callable(target):
            score = target(logits)
            if not isinstance(score, self.torch.Tensor) or score.numel() not in (1, batch):
                raise TargetError("A callable target must return a tensor with one score per input.")
            return None, score.sum(), score.reshape(-1, 1)
        if not is_tensor(logits) or logits.ndim != 2:
            shape = tuple(logits.shape) if is_tensor(logits) else type(logits).__name__
            raise TargetError(
                f"The model outputs {shape}, not (N, classes) scores: pass a target that turns the output into "
                "one score per input (cnnvis.targets.Segmentation, cnnvis.targets.Detection or a callable), "
                "or choose the part of the output to score with output=."
            )
        from ...cam.engine import check_target_range

        # tolist: one copy from the device, not one synchronisation per input.
        targets = logits.argmax(dim=1).tolist() if target is None else list(target)
        check_target_range(targets, logits)
        index = self.torch.as_tensor(targets, device=logits.device)
        return targets, logits.gather(1, index[:, None]).sum(), None

    def _trace_for(self, layers: Sequence[str], inputs: Any) -> LayoutTrace | None:
        """A trace to tell layouts by, unless every layer's layout is hinted or already known."""
        known = KNOWN_LAYOUTS.get(self.model, {})
        key = tuple(inputs.shape[1:])
        if all(self._hinted_layout(n) or (n, key) in known for n in layers):
            return None
        return LayoutTrace(self.modules)

    def _hinted_layout(self, layer: str) -> str | None:
        return self.layout_hint(layer) if self.layout_hint is not None else None

    def _layout(self, layer: str, tensor: Any, trace: LayoutTrace | None, inputs: Any) -> str | None:
        """NCHW or NHWC for a 4-D output (the architecture's word first, else the traced evidence)."""
        if tensor.ndim != 4:
            return None
        hinted = self._hinted_layout(layer)
        if hinted:
            return hinted
        cache = KNOWN_LAYOUTS.setdefault(self.model, {})
        key = (layer, tuple(inputs.shape[1:]))
        if key not in cache and trace is not None:
            from .default_layer import check_grid

            layout = decide_layout(trace, layer, tuple(tensor.shape))
            check_grid(self, trace, layer, tuple(tensor.shape), layout, tuple(inputs.shape[-2:]))
            cache[key] = layout
        return cache.get(key)

    def _reshaped(self, tensor: Any, layer: str, layout: str | None = None) -> Any:
        # An architecture's reshape turns its token layers into grids; channels-last grids are permuted.
        if layout == NHWC:
            return tensor.permute(0, 3, 1, 2)
        if self.reshape is not None and tensor.ndim != 4:
            try:
                tensor = self.reshape(tensor)
            except Exception as exc:
                raise NonSpatialLayerError(
                    f"Layer {layer!r} outputs shape {tuple(tensor.shape)}, which the architecture's reshape "
                    f"cannot turn into (N, C, H, W): {exc}"
                ) from None
        if tensor.ndim != 4:
            raise NonSpatialLayerError(
                f"Layer {layer!r} outputs shape {tuple(tensor.shape)}; a CAM needs a spatial "
                f"(N, C, H, W) output. Spatial layers of this model include: {self._spatial_hint()}."
            )
        return tensor

    def _spatial_hint(self) -> str:
        convs = [n for n, m in self.modules.items() if isinstance(m, self.torch.nn.Conv2d)]
        return ", ".join(repr(n) for n in convs[-4:]) or "none found"

    def target_scores(self, batch_nchw: Any, target: Target) -> Any:
        """Scores per row; a tensor batch stays on the device and gets a tensor back (numpy gets numpy)."""
        batch = self._on_device(batch_nchw)
        with self.torch.inference_mode(), SoftmaxBypass(self.model, self.output_selector) as bypass:
            logits = bypass.logits(self._forward(batch))
            return self._scores_per_row(logits, target, keep=self._is_tensor(batch_nchw))

    def target_scores_with_layer(self, inputs: Any, layer: str, layer_output: Any, target: Target) -> Any:
        replacement = self._on_device(layer_output)
        layout = self._hinted_layout(layer) or KNOWN_LAYOUTS.get(self.model, {}).get((layer, tuple(inputs.shape[1:])))
        if layout == NHWC:
            replacement = replacement.permute(0, 2, 3, 1)  # back to the layer's own layout
        elif self.reshape is not None and layout is None:
            raise CnnvisError(f"Replacing the output of reshaped layer {layer!r} is not supported.")
        batch = inputs.expand(len(replacement), *inputs.shape[1:])
        handle = self.module(layer).register_forward_hook(lambda mod, args, out: replacement)
        try:
            with self.torch.inference_mode(), SoftmaxBypass(self.model, self.output_selector) as bypass:
                logits = bypass.logits(self._forward(batch))
                return self._scores_per_row(logits, target, keep=self._is_tensor(layer_output))
        finally:
            handle.remove()

    def _is_tensor(self, array: Any) -> bool:
        return isinstance(array, self.torch.Tensor)

    def _on_device(self, array: Any) -> Any:
        if not self._is_tensor(array):
            array = self.torch.from_numpy(np.ascontiguousarray(array))
        return array.to(self.device, self.dtype)

    def _scores_per_row(self, logits: Any, target: Target, keep: bool = False) -> Any:
        if callable(target):
            scores = target(logits).detach().reshape(-1)
        else:
            index = self.torch.as_tensor(list(target), device=logits.device)
            scores = logits.gather(1, index[:, None])[:, 0]
        # On the device (fp32) for the CAM engine; float64 numpy for host callers.
        return scores.float() if keep else scores.double().cpu().numpy()

    def activations(self, inputs: Any, layers: Sequence[str] | None) -> dict[str, np.ndarray]:
        found: dict[str, Any] = {}

        def keep(name):
            def hook(module, args, output):
                if _is_spatial(output, min_area=1):
                    found[name] = output.detach().clone()  # clone: later in-place ops must not change it
                elif layers is not None:
                    found[name] = first_tensor(output, name).detach()
            return hook

        names, trace = self._forward_keeping(inputs, layers, keep)
        result = {}
        for name in (n for n in names if n in found):
            try:
                layout = self._layout(name, found[name], trace, inputs)
            except NonSpatialLayerError:
                if layers is not None:
                    raise
                continue  # listing every layer: one whose layout cannot be told is left out
            result[name] = self._reshaped(found[name], name, layout).cpu().float().numpy()
        return result

    def activation_stats(self, inputs: Any, layers: Sequence[str] | None) -> dict[str, dict]:
        """Per-channel statistics of many layers in one forward, reduced on the model's device in the hooks
        (no activation is kept or copied); see ``cnnvis.cam.stats``."""
        from .layer_stats import activation_stats

        return activation_stats(self, inputs, layers)

    def graph(self, example_inputs: Any = None) -> Any:
        from .graph import build_graph

        if example_inputs is not None:
            example_inputs = self.prepare_inputs(example_inputs)
        source = self.exported.module() if self.exported is not None else self.model
        return build_graph(source, example_inputs)

    def input_gradients(self, batch_nchw: np.ndarray, target: Any, guided: bool = False
                        ) -> tuple[np.ndarray, list[int] | None]:
        """d(pre-softmax target score)/d(inputs) for a channels-first batch, and the class per input."""
        from .gradients import input_gradients

        return input_gradients(self, batch_nchw, target, guided)

    def second_order_pass(self, inputs: Any, layer: str, target: Any) -> tuple[Any, Any]:
        """The target score's gradient at ``layer`` and its Hessian times the layer's output."""
        from .extra_passes import second_order_pass

        return second_order_pass(self, inputs, layer, target)

    def bias_gradients(self, inputs: Any, target: Any) -> tuple[np.ndarray, list]:
        """Input x input gradient, and every bias with the gradient at its layer's output."""
        from .extra_passes import bias_gradients

        return bias_gradients(self, inputs, target)


def _parallel_wrappers(torch: Any) -> tuple:
    return (torch.nn.DataParallel, torch.nn.parallel.DistributedDataParallel)


def unwrapped(model: Any) -> Any:
    """The module inside torch.compile, DataParallel and DistributedDataParallel wrappers (nested too)."""
    import torch

    wrappers = _parallel_wrappers(torch)
    while True:
        inner = getattr(model, "_orig_mod", None)  # torch.compile's OptimizedModule
        if isinstance(inner, torch.nn.Module):
            model = inner
        elif isinstance(model, wrappers):
            model = model.module
        else:
            return model


def _is_spatial(output: Any, min_area: int = 2) -> bool:
    import torch

    return (
        isinstance(output, torch.Tensor)
        and output.ndim == 4
        and output.shape[-1] * output.shape[-2] >= min_area
    )
