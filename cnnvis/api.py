"""The public functions: explain, activations, graph, load."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from .adapters.base import resolve_adapter
from .cam.batches import InputChunks, explain_chunks
from .cam.devices import check_input_device, to_device
from .cam.engine import check_method_fits, default_method, get_method
from .cam.scaling import check_normalize
from .cam.smoothing import aug_smoothed, width_axis
from .errors import CnnvisError, UnsupportedFileError
from .explanation import Explanation
from .graph_model import Graph
from .imaging import normalisation_from


def explain(
    model: Any,
    inputs: Any,
    method: str | None = None,
    target: Any = None,
    layer: str | None = None,
    *,
    class_names: Sequence[str] | None = None,
    preprocess: Any = None,
    mean: Any = None,
    std: Any = None,
    batch_size: int | None = None,
    progress: bool | Callable[[int, int], None] = True,
    cancel: Any = None,
    normalize: str = "image",
    output: Any = None,
    as_tensor: bool = False,
    eigen_smooth: bool = False,
    aug_smooth: bool = False,
    **method_options: Any,
) -> Explanation:
    """Class activation maps for ``inputs`` (the framework's native layout) at ``layer``.

    ``target``: None (each input's top class), an int, one int per input, or a callable on the
    model output returning one score per input. ``method``: None means the adapter's default
    (``gradcam``; ``eigencam`` for ONNX and TensorRT, which have no gradients).
    ``batch_size``: images per pass (and masked forwards per pass for ScoreCAM/AblationCAM); None sizes
    passes from the free GPU memory (64 images on the CPU), so any number of inputs can be explained.
    ``preprocess``/``mean``/``std`` only tell ``Explanation.overlay`` how to show the inputs. ``progress``: a tqdm bar for ScoreCAM and
    AblationCAM (True), none (False), or a callable receiving ``(done, total)`` forward passes. ``cancel``: a ``threading.Event`` (or a
    callable returning True) that stops ScoreCAM/AblationCAM between batches. ``normalize``: ``"image"``
    (each map scaled to [0, 1]), ``"shared"`` (one scale for all maps of the call) or ``"none"``.
    ``output``: which part of a tuple/dict/object output the target scores (see ``cnnvis.outputs``).
    Maps are computed where the model lives (a torch model's device) and cross to the host once:
    ``maps``/``raw`` are float32 numpy; ``as_tensor=True`` also keeps them as computed
    (``Explanation.tensors()``: torch tensors on the model's device for torch models).
    ``eigen_smooth``: the weighted activations projected on their first principal component instead
    of summed (pytorch-grad-cam's option). ``aug_smooth``: maps averaged over horizontal flips and
    brightness x0.9/1/1.1 of the inputs, each flip undone (its test-time augmentation; ``as_tensor``
    keeps nothing then). ``method_options``: what a method takes (``seed`` for randomcam, ``alpha`` and
    ``comparison_categories`` for finercam, ``layers`` and ``base`` for refinecam, ``k`` for fem,
    ``kernel``/``gamma`` for kpca_cam).
    """
    if method is not None:
        get_method(method)  # fail on a bad name before anything is loaded or run
    check_normalize(normalize)
    if batch_size is not None and (not isinstance(batch_size, int) or isinstance(batch_size, bool)
                                   or batch_size < 1):
        raise CnnvisError(f"batch_size must be a positive integer or None, not {batch_size!r}.")
    adapter = resolve_adapter(model)
    cam = get_method(method or default_method(adapter))
    check_method_fits(adapter, cam)
    if output is not None:
        _select_output(adapter, output)
    check_input_device(adapter, inputs)
    unknown = sorted(set(method_options) - set(getattr(cam, "option_names", ())))
    if unknown:
        takes = ", ".join(getattr(cam, "option_names", ())) or "none"
        raise CnnvisError(f"{cam.name} takes no option {unknown[0]!r} (its options: {takes}).")
    options = {**method_options, "eigen_smooth": bool(eigen_smooth)}

    def run(batch: Any) -> Any:
        return explain_chunks(adapter, cam, InputChunks(adapter, batch), target=target, layer=layer,
                              batch_size=batch_size, progress=progress, cancel=cancel, normalize=normalize,
                              as_tensor=as_tensor, options=options)

    done = aug_smoothed(run, inputs, width_axis(adapter)) if aug_smooth else run(inputs)
    return Explanation(
        maps=done.maps,
        raw=done.raw,
        layer=done.layer,
        targets=done.targets,
        outputs=done.outputs,
        method=cam.name,
        class_names=class_names,
        inputs_nchw=done.inputs_nchw,
        normalisation=normalisation_from(preprocess, mean, std),
        device=done.device,
        kept=done.kept,
    )


def _select_output(adapter: Any, output: Any) -> None:
    if not hasattr(adapter, "output_selector"):
        raise CnnvisError(f"output= is not supported for {adapter.framework} models yet; their output's first "
                          "part is scored. Pass a callable target that picks what to score instead.")
    adapter.output_selector = output


def activations(model: Any, inputs: Any, layers: Sequence[str] | str | None = None, *,
                stats: bool = False) -> dict[str, Any]:
    """``{layer: (N, C, H, W) array}``; ``layers=None`` means every layer with a 4-D output.

    ``stats=True``: ``{layer: {"mean", "variance", "max", "min", "dead_fraction": (N, C), "dead": (N, C)
    bool}}`` instead, every layer in one pass, reduced where the model runs (no tensor copied whole).
    """
    adapter = resolve_adapter(model)
    if isinstance(layers, str):
        layers = [layers]
    check_input_device(adapter, inputs)
    batch = adapter.prepare_inputs(inputs)
    if not stats:
        return adapter.activations(batch, layers)
    from .cam.stats import layer_stats

    return layer_stats(adapter, batch, layers)


def graph(model: Any, example_inputs: Any = None, *, source: Any = None) -> Graph:
    """The model's graph: nested groups, layers, ops, dataflow edges, shapes, parameter counts.

    ``source``: for a deployed engine (a TensorRT export), the ONNX model it was built from (path,
    ``onnx.ModelProto`` or handle); the result is that graph painted with the engine's per-layer latency.
    """
    adapter = resolve_adapter(model)
    if source is None:
        return adapter.graph(example_inputs)
    paint = getattr(adapter, "graph_on_source", None)
    if paint is None:
        raise CnnvisError(
            f"source= maps a deployed engine onto the graph it was built from; {adapter.framework} models "
            "have no such source. Call cnnvis.graph(model) without source=, or pass a TensorRT export."
        )
    return paint(source)


def load(path: str | os.PathLike, *, device: Any = None, **options: Any) -> Any:
    """Open a model file through the loader plugins (``.pt2``, TorchScript, ``.keras``, ...).

    ``device``: where a PyTorch model runs (``"cuda"``, ``"cuda:1"``, ``"mps"``, ``"cpu"``); explanations
    are then computed there."""
    from .plugins import hook

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise UnsupportedFileError(f"No such model file: {path}")
    handle = hook().cnnvis_load(path=path, options=options)
    if handle is None:
        raise UnsupportedFileError(
            f"No loader recognises {os.path.basename(path)}. cnnvis reads .pt2 (torch.export), TorchScript "
            ".pt, PyTorch state_dicts (with model=), and more through plugins."
        )
    return to_device(handle, device)
