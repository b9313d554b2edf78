"""The built-in TensorRT plugin: loads engine exports (no GPU needed) and serialized ``.engine``
files (only where ``tensorrt`` and a CUDA device exist), and adapts the handles for ``cnnvis.graph``.

An export describes the engine (layers, tensors, tactics, timings) but holds no weights and cannot
run, so activations and CAMs are refused with a message that points to the ONNX model instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...errors import CnnvisError, UnsupportedFileError
from ...graph_model import Graph
from ...handles import LoadedModel
from ...hookspecs import hookimpl
from .export import (
    DETAILED_HINT,
    TensorRTExport,
    attach_files,
    export_graph,
    from_layer_info,
    read_export,
    sniff,
)

ENGINE_SUFFIXES = {".engine", ".plan", ".trt"}
GRADIENT_FREE = ("eigencam", "scorecam", "ablationcam")


@hookimpl
def cnnvis_load(path: str, options: dict) -> Any:
    file = Path(path)
    kind = sniff(file)
    if kind is None and file.suffix.lower() not in ENGINE_SUFFIXES:
        return None
    if kind is None:
        export = _load_engine(file, options)
        fmt = "engine"
    else:
        export = read_export(file, profile=options.get("profile"), timing=options.get("timing"))
        fmt = "trtexec-log" if export.source == "trtexec log" else "tensorrt-export"
    return LoadedModel(export, str(file), fmt, "tensorrt", {"profile": export.profile_path,
                                                          "timing": export.timing_path})


@hookimpl
def cnnvis_adapter(model: Any) -> Any:
    if isinstance(model, TensorRTExport):
        return TensorRTExportAdapter(model)
    return None


class TensorRTExportAdapter:
    """Graph and timings of a TensorRT engine as its exports describe it."""

    framework = "tensorrt"
    supports_gradients = False
    default_method = "eigencam"

    def __init__(self, export: TensorRTExport):
        self.model = export

    def graph(self, example_inputs: Any = None) -> Graph:
        if self.model.graph_cache is None:  # exports are read once and never change
            self.model.graph_cache = export_graph(self.model)
        return self.model.graph_cache

    def graph_on_source(self, source: Any) -> Graph:
        """The source ONNX graph painted with the latency of the engine layer each node became."""
        from .map import paint_source

        return paint_source(self.model, source, engine_graph=self.graph())

    def engine_summary(self) -> dict:
        """What :func:`cnnvis.compare_engines` needs beyond the graph: totals and their provenance."""
        export = self.model
        return {
            "path": export.path, "source": export.source, "iterations": export.iterations,
            "sum_of_averages_ms": export.sum_of_averages_ms(), "profile_path": export.profile_path,
            "timing_ms": export.timing_ms, "timing_path": export.timing_path,
            "device": (export.metadata.get("device") or {}).get("Name"),
        }

    def layer_names(self) -> list[str]:
        return [n["id"] for n in self.graph().nodes if n["kind"] == "layer"]

    def profile(self, inputs: Any = None, **_: Any) -> Any:
        """``cnnvis.profile``: the export's per-layer table (timed when the engine was profiled;
        nothing runs here, so ``inputs`` are not needed)."""
        from ...profiling import ProfileTable

        rows = [{"node": n["id"], "op_type": n["type"], "precision": n.get("precision"), "mean_ms": n.get("latency_ms"),
                 "pct": n.get("latency_pct"), "source_nodes": n.get("source_nodes", [])}
                for n in self.graph().nodes if n["kind"] == "layer"]
        summary = self.engine_summary()
        totals: dict[str, Any] = {"nodes_ms": summary["sum_of_averages_ms"], "iterations": summary["iterations"]}
        notes = {"mean_ms": "per layer: averageMs from the profile export",
                 "nodes_ms": "sum of the per-layer averages (the profile's iterations may be few: see iterations)"}
        if summary["timing_ms"]:
            totals["e2e_median_ms"] = float(sorted(summary["timing_ms"])[len(summary["timing_ms"]) // 2])
            notes["e2e_median_ms"] = "median end-to-end latency per iteration from timing.json"
        return ProfileTable(rows, f"TensorRT export profile ({summary['profile_path']})", totals, notes)

    def _cannot_run(self, *_: Any, **__: Any) -> Any:
        raise CnnvisError(
            f"{self.model.name} is a TensorRT export: it describes the engine's layers and timings but carries "
            "no weights and no activations, so cnnvis cannot compute activations or CAMs from it. Load the "
            "ONNX model the engine was built from (cnnvis.load('model.onnx')) and use a gradient-free method "
            f"({', '.join(GRADIENT_FREE)}), or load the .engine itself where tensorrt and a CUDA GPU exist. "
            "cnnvis.graph() works on the export."
        )

    default_layer = prepare_inputs = inputs_nchw = take = layer_pass = _cannot_run
    target_scores = target_scores_with_layer = activations = _cannot_run


def _load_engine(file: Path, options: dict) -> TensorRTExport:
    """Deserializes a plan and reads its layer information through IEngineInspector."""
    try:
        import tensorrt as trt
    except ImportError:
        raise UnsupportedFileError(
            f"{file.name} is a serialized TensorRT engine; opening it needs the tensorrt package and a CUDA "
            "GPU, and tensorrt is not installed here. On the machine that built it, export what cnnvis reads "
            f"without a GPU: trtexec --loadEngine={file.name} --profilingVerbosity=detailed "
            f"--exportLayerInfo={file.name}.graph.json --exportProfile={file.name}.profile.json --dumpProfile"
        ) from None
    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    if hasattr(runtime, "engine_host_code_allowed"):
        # A version-compatible plan may embed host code (a lean runtime) that would run on load:
        # the same rule as every other model file, nothing in it executes.
        runtime.engine_host_code_allowed = False
    try:
        engine = runtime.deserialize_cuda_engine(file.read_bytes())
    except Exception as exc:  # no CUDA device, or a plan from another TensorRT version or GPU
        raise UnsupportedFileError(f"{file.name} could not be deserialized ({exc}); engines only load on a "
                                   "CUDA GPU with the TensorRT version that built them.") from None
    if engine is None:
        raise UnsupportedFileError(f"{file.name} is not an engine this TensorRT ({trt.__version__}) and GPU can "
                                   "load; engines are tied to the TensorRT version and GPU that built them.")
    inspector = engine.create_engine_inspector()
    info = json.loads(inspector.get_engine_information(trt.LayerInformationFormat.JSON))
    if any(isinstance(layer, str) for layer in info.get("Layers", [])):
        raise UnsupportedFileError(f"{file.name} was built with names-only profiling verbosity. {DETAILED_HINT}.")
    export = from_layer_info(file, info)
    export.source = "engine"
    return attach_files(export, file, options.get("profile"), options.get("timing"))
