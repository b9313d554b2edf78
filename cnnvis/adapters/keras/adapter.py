"""Keras 3 adapter (TensorFlow backend).

Layers are reached by temporarily wrapping their ``call`` while the model runs. Inside a
``tf.function`` that wrapping happens only while tracing: the compiled graph keeps the capture,
the user's model is left as it was. This works alike for Sequential, Functional, subclassed models
and models nested in models. Inputs are channels-last; everything handed to the engine is
channels-first.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ...errors import CnnvisError, InputShapeError, NonSpatialLayerError, TargetError, UnknownLayerError
from ...hookspecs import hookimpl
from ..base import LayerPass, Target
from . import inputs as kin
from .calls import (
    PATCH_LOCK,
    first_tensor,
    is_spatial,
    layer_index,
    model_inputs,
    patched_calls,
    softmax_bypass,
    softmax_kind,
    static_shape,
    to_numpy,
)

# A layer name ending in this addresses the layer's input (a block output that is no layer itself).
INPUT = ":input"
# Compiled passes, traces and default layers live on the model itself (under this attribute), never
# in a module-level table: the compiled functions hold the model, so a table keyed by it, even weakly,
# would keep every model ever explained alive.
_CACHE_ATTRIBUTE = "_cnnvis_cache"


@hookimpl(trylast=True)
def cnnvis_adapter(model: Any) -> Any:
    keras = sys.modules.get("keras")  # a Keras model exists only if keras is already imported
    if keras is not None and isinstance(model, keras.Model):
        return KerasAdapter(model)
    return None


class _ModelCache:
    def __init__(self) -> None:
        self.functions: dict[tuple, Any] = {}
        self.default_layers: dict[tuple, str] = {}
        self.traces = 0


def _model_cache(model: Any) -> _ModelCache:
    """The cache owned by ``model``: freed with it (the model and its compiled functions form a cycle
    that the garbage collector reclaims once nothing outside holds the model)."""
    cache = model.__dict__.get(_CACHE_ATTRIBUTE)
    if cache is None:
        cache = _ModelCache()
        object.__setattr__(model, _CACHE_ATTRIBUTE, cache)  # past Keras's attribute tracking
    return cache




class KerasAdapter:
    framework = "keras"

    def __init__(self, model: Any):
        import keras
        import tensorflow as tf

        from ...plugins import hook

        self.keras = keras
        self.tf = tf
        self.model = model
        self.layers = layer_index(model)
        hints = hook().cnnvis_architecture(model=model, framework=self.framework)
        self.reshape = getattr(hints, "reshape", None)
        self.hinted_layer = getattr(hints, "layer", None)
        self.cache: _ModelCache = _model_cache(model)

    @property
    def trace_count(self) -> int:
        """How many times cnnvis traced a compiled pass for this model (retracing shows here)."""
        return self.cache.traces

    # -- layers ---------------------------------------------------------------------------------
    def layer_names(self) -> list[str]:
        return list(self.layers)

    def layer(self, name: str) -> Any:
        name = name.removesuffix(INPUT)  # "layer:input" reaches the same layer, on its way in
        try:
            return self.layers[name]
        except KeyError:
            pass
        matches = [path for path in self.layers if path.rsplit("/", 1)[-1] == name]
        if len(matches) == 1:  # an inner layer's own name, when it is unambiguous
            return self.layers[matches[0]]
        raise UnknownLayerError(name, self.layer_names()) from None

    def default_layer(self, inputs: Any) -> str:
        if self.hinted_layer:
            return self.hinted_layer
        key = kin.signature(inputs)
        if key not in self.cache.default_layers:
            self.cache.default_layers[key] = self._probe_last_spatial_layer(kin.rows(inputs, [0]))
        return self.cache.default_layers[key]

    def _probe_last_spatial_layer(self, inputs: Any) -> str:
        finished: list[str] = []

        def record(path: str) -> Callable:
            def wrap(call: Callable, *args: Any, **kwargs: Any) -> Any:
                out = call(*args, **kwargs)
                if is_spatial(out):
                    finished.append(path)  # a group finishes after its layers: the last is outermost
                return out
            return wrap

        with patched_calls({self.layers[p]: record(p) for p in self.layers}):
            self._run_model(inputs)
        if not finished:
            raise NonSpatialLayerError.none_in_model("N, H, W, C")
        return finished[-1]

    # -- inputs ---------------------------------------------------------------------------------
    def prepare_inputs(self, inputs: Any) -> Any:
        tf = self.tf
        if kin.is_structure(inputs) or kin.is_structure(getattr(self.model, "_inputs_struct", None)):
            return kin.prepare_structure(self.model, inputs)  # several inputs, as a list or a dict
        if not isinstance(inputs, np.ndarray | tf.Tensor | tf.Variable):
            if not hasattr(inputs, "__array__"):
                raise InputShapeError(
                    f"Keras models take a numpy array or tf.Tensor (N, H, W, C), not {type(inputs).__name__}."
                )
            inputs = np.asarray(inputs)
        shape = tuple(inputs.shape)
        if len(shape) != 4:
            hint = " Add the batch dimension with x[None]." if len(shape) == 3 else ""
            raise InputShapeError(
                f"Expected a batch of images (N, H, W, C), got a {len(shape)}-D array of shape {shape}.{hint}"
            )
        kin.check_layout(self.model, self.layers, shape)
        return tf.convert_to_tensor(inputs, dtype=self._input_dtype())

    def _input_dtype(self) -> str:
        inputs = model_inputs(self.model)
        dtype = getattr(inputs[0], "dtype", None) if len(inputs) == 1 else None
        return dtype if dtype and "float" in str(dtype) else "float32"

    def map_size(self, inputs: Any, layer: str) -> tuple[int, int]:
        """Maps are drawn at the resolution of the image input feeding ``layer``."""
        if kin.is_structure(inputs):
            self.image_input = kin.feeding_image(self.model, self.layer(layer), inputs)
        return tuple(self.inputs_nchw(inputs).shape[-2:])

    def inputs_nchw(self, inputs: Any) -> np.ndarray:
        if kin.is_structure(inputs):  # the image input of the last explained layer, else the first image
            chosen = getattr(self, "image_input", None)
            inputs = chosen if chosen is not None else kin.feeding_image(self.model, None, inputs)
        return np.ascontiguousarray(np.transpose(np.asarray(inputs, dtype=np.float32), (0, 3, 1, 2)))

    def take(self, inputs: Any, indices: Sequence[int]) -> Any:
        return kin.rows(inputs, list(indices))

    # -- passes ---------------------------------------------------------------------------------
    def layer_pass(self, inputs: Any, layer: str, target: Target | None, gradients: bool) -> LayerPass:
        module = self.layer(layer)
        if callable(target):
            logits, activation, grad = self._eager_pass(inputs, module, layer, target, gradients)
            targets = None
        else:
            fn = self._compiled(("pass", layer, bool(gradients)), inputs,
                                lambda: self._pass_body(module, layer, gradients))
            given = [0] * kin.batch_len(inputs) if target is None else [int(t) for t in target]
            logits, activation, grad, chosen = self._call(
                fn, inputs, self.tf.constant(given, dtype="int32"), self.tf.constant(target is None))
            targets = [int(t) for t in chosen.numpy()] if target is None else list(given)
        return LayerPass(
            outputs=to_numpy(logits),
            activations=self._nchw(activation, layer),
            gradients=None if grad is None else self._nchw(grad, layer),
            targets=targets,
        )

    def _pass_body(self, module: Any, layer: str, gradients: bool) -> Callable:
        tf = self.tf

        def body(x: Any, given: Any, use_top: Any) -> tuple:
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                logits, activation = self._forward_capturing(x, module, layer, tape if gradients else None)
                classes = tf.shape(logits, out_type="int32")[1]
                chosen = tf.where(use_top, tf.argmax(logits, axis=1, output_type="int32"),
                                  tf.math.floormod(given, classes))
                score = tf.reduce_sum(tf.gather(logits, chosen, axis=1, batch_dims=1))
            grad = tape.gradient(score, activation) if gradients else None
            if gradients and grad is None:
                raise CnnvisError(f"The target score does not depend on layer {layer!r}.")
            return logits, activation, grad, chosen

        return body

    def _forward_capturing(self, x: Any, module: Any, layer: str, tape: Any) -> tuple:
        captured: list[Any] = []

        def capture(call: Callable, *args: Any, **kwargs: Any) -> Any:
            if layer.endswith(INPUT) and tape is not None:
                tape.watch(args[0])  # before the call, so the tape records what the layer does with it
            out = call(*args, **kwargs)
            first = first_tensor(args[0] if layer.endswith(INPUT) else out, layer)
            if tape is not None:
                tape.watch(first)
            captured.append(first)  # a layer called several times: its last call counts
            return out

        logits = self._logits(x, {module: capture})
        if not captured:
            raise CnnvisError(f"Layer {layer!r} did not run in the forward pass, so it has no output.")
        activation = captured[-1]
        if self.reshape is None and activation.shape.rank != 4:
            raise NonSpatialLayerError(
                f"Layer {layer!r} outputs shape {static_shape(activation)}; a CAM needs a spatial (N, H, W, C) "
                f"output. Spatial layers of this model include: {self._spatial_hint()}."
            )
        return logits, activation

    def _eager_pass(self, inputs: Any, module: Any, layer: str, target: Callable, gradients: bool) -> tuple:
        tf = self.tf
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            logits, activation = self._guarded(
                lambda: self._forward_capturing(inputs, module, layer, tape if gradients else None))
            score = target(logits)
            if not isinstance(score, tf.Tensor | np.ndarray) or np.size(score) not in (1, kin.batch_len(inputs)):
                raise TargetError("A callable target must return a tensor with one score per input.")
            score = tf.reduce_sum(score)
        grad = tape.gradient(score, activation) if gradients else None
        if gradients and grad is None:
            raise CnnvisError(f"The target score does not depend on layer {layer!r}.")
        return logits, activation, grad

    def _logits(self, x: Any, wrappers: dict | None = None) -> Any:
        """The model's pre-softmax output: a final softmax (layer or activation) is bypassed."""
        pairs: list[tuple[Any, Any]] = []
        # Softmax wrappers go on first, so a capture on the same layer still sees what it returns.
        with patched_calls({layer: softmax_bypass(layer, pairs) for layer in self._softmax_layers()}):
            with patched_calls(wrappers or {}):
                output = self.model(x, training=False)
        if isinstance(output, dict):
            output = next(iter(output.values()))
        elif isinstance(output, list | tuple):
            output = output[0]
        for before, after in pairs:
            if after is output:
                output = before
                break
        if output.shape.rank != 2:
            raise TargetError(
                f"The model outputs shape {static_shape(output)}, not (N, classes): pass a callable target "
                "that turns the output into one score per input."
            )
        return output

    def _softmax_layers(self) -> list[Any]:
        return [layer for layer in self.layers.values() if softmax_kind(self.keras, layer)]

    def _nchw(self, tensor: Any, layer: str) -> np.ndarray:
        # An architecture's reshape turns its token layers into grids; spatial layers stay as they are.
        if self.reshape is not None and tensor.shape.rank != 4:
            try:
                return to_numpy(self.reshape(tensor))
            except Exception as exc:
                raise NonSpatialLayerError(
                    f"Layer {layer!r} outputs shape {static_shape(tensor)}, which the architecture's "
                    f"reshape cannot turn into (N, C, H, W): {exc}"
                ) from None
        return np.ascontiguousarray(np.transpose(to_numpy(tensor), (0, 3, 1, 2)))

    def _spatial_hint(self) -> str:
        convs = [p for p, layer in self.layers.items() if "Conv" in type(layer).__name__]
        return ", ".join(repr(n) for n in convs[-4:]) or "none found"

    def target_scores(self, batch_nchw: np.ndarray, target: Target) -> np.ndarray:
        if kin.is_structure(getattr(self.model, "_inputs_struct", None)):
            raise CnnvisError("ScoreCAM masks a single image input; this model takes several. Use a gradient "
                              "method, eigencam or ablationcam.")
        batch = self.tf.convert_to_tensor(np.transpose(batch_nchw, (0, 2, 3, 1)), dtype=self._input_dtype())
        fn = self._compiled(("logits",), batch, lambda: self._logits)
        return self._scores_per_row(self._call(fn, batch), target)

    def target_scores_with_layer(
        self, inputs: Any, layer: str, layer_output: np.ndarray, target: Target
    ) -> np.ndarray:
        if self.reshape is not None:
            raise CnnvisError(f"Replacing the output of reshaped layer {layer!r} is not supported.")
        tf = self.tf
        module = self.layer(layer)
        replacement = tf.convert_to_tensor(np.transpose(layer_output, (0, 2, 3, 1)))
        batch = kin.rows(inputs, [0] * len(layer_output))
        extra = (tf.TensorSpec((None, *replacement.shape[1:]), replacement.dtype),)
        fn = self._compiled(("replace", layer, tuple(replacement.shape[1:])), batch,
                            lambda: self._replace_body(module, layer.endswith(INPUT)), extra)
        return self._scores_per_row(self._call(fn, batch, replacement), target)

    def _replace_body(self, module: Any, on_input: bool = False) -> Callable:
        def body(x: Any, replacement: Any) -> Any:
            def replace(call: Callable, *args: Any, **kwargs: Any) -> Any:
                if on_input:
                    return call(self.tf.cast(replacement, args[0].dtype), *args[1:], **kwargs)
                return self.tf.cast(replacement, module.compute_dtype)

            return self._logits(x, {module: replace})

        return body

    def _scores_per_row(self, logits: Any, target: Target) -> np.ndarray:
        if callable(target):
            return np.asarray(target(logits), dtype=np.float64).reshape(-1)
        values = to_numpy(logits).astype(np.float64)
        return values[np.arange(len(values)), np.asarray(list(target), dtype=np.int64)]

    def activations(self, inputs: Any, layers: Sequence[str] | None) -> dict[str, np.ndarray]:
        names = list(self.layers) if layers is None else list(layers)
        modules = {name: self.layer(name) for name in names}
        fn = self._compiled(("activations", tuple(names)), inputs,
                            lambda: self._activations_body(modules, explicit=layers is not None))
        found = self._call(fn, inputs)
        return {name: self._nchw(found[name], name) for name in names if name in found}

    def _activations_body(self, modules: dict[str, Any], explicit: bool) -> Callable:
        def body(x: Any) -> dict:
            found: dict[str, Any] = {}

            def keep(name: str) -> Callable:
                def wrap(call: Callable, *args: Any, **kwargs: Any) -> Any:
                    out = call(*args, **kwargs)
                    if name.endswith(INPUT):
                        out = args[0]
                    first = first_tensor(out, name) if explicit else out
                    if is_spatial(first, min_area=1) or (explicit and self.reshape is not None):
                        found[name] = first
                    elif explicit:
                        raise NonSpatialLayerError(
                            f"Layer {name!r} outputs shape {static_shape(first)}; activations are drawn for "
                            f"spatial (N, H, W, C) outputs. Spatial layers include: {self._spatial_hint()}."
                        )
                    return out
                return wrap

            by_layer: dict[Any, Callable] = {}
            for name, module in modules.items():
                by_layer.setdefault(module, keep(name))
            with patched_calls(by_layer):
                self.model(x, training=False)
            return found

        return body

    def graph(self, example_inputs: Any = None) -> Any:
        from .graph import build_graph

        if example_inputs is not None:
            example_inputs = self.prepare_inputs(example_inputs)
        return build_graph(self.model, example_inputs)

    # -- compiled functions -----------------------------------------------------------------------

    def input_gradients(self, batch_nchw: np.ndarray, target: Any, guided: bool = False
                        ) -> tuple[np.ndarray, list[int] | None]:
        """d(pre-softmax target score)/d(inputs) for a channels-first batch, and the class per input."""
        from .gradients import input_gradients

        return input_gradients(self, batch_nchw, target, guided)

    def _compiled(self, key: tuple, inputs: Any, make_body: Callable, extra_specs: tuple = ()) -> Any:
        """One ``tf.function`` per model, pass and input shape; its batch dimension is free."""
        tf = self.tf
        full_key = (*key, kin.signature(inputs))
        fn = self.cache.functions.get(full_key)
        if fn is None:
            body = make_body()
            cache = self.cache
            specs = [kin.specs(inputs)]
            if key[0] == "pass":
                specs += [tf.TensorSpec((None,), "int32"), tf.TensorSpec((), "bool")]
            specs += list(extra_specs)

            def traced(*args: Any) -> Any:
                cache.traces += 1  # Python runs here only while tracing
                with PATCH_LOCK:
                    return body(*args)

            fn = tf.function(traced, input_signature=specs, autograph=False)
            self.cache.functions[full_key] = fn
        return fn

    def _call(self, fn: Any, *args: Any) -> Any:
        return self._guarded(lambda: fn(*args))

    def _run_model(self, inputs: Any) -> Any:
        return self._guarded(lambda: self.model(inputs, training=False))

    def _guarded(self, run: Callable) -> Any:
        """Framework errors surface as one CnnvisError line, not a TensorFlow traceback."""
        try:
            return run()
        except CnnvisError:
            raise
        except Exception as exc:
            text = str(exc).strip().splitlines()
            detail = text[0] if text else type(exc).__name__
            raise CnnvisError(f"The Keras model could not run on these inputs: {detail}") from None
