"""``cnnvis.profile``: per-node latency of a deployed model, each number labelled with what it is."""

from __future__ import annotations

from typing import Any

from .errors import CnnvisError
from .tables import Table


class ProfileTable(Table):
    """One row per node (or engine layer): ``node``, ``op_type``, ``mean_ms``, ``pct``, ...

    ``totals`` holds the run-level numbers (ms) and ``notes`` says for each what it measures, e.g.
    ``nodes_ms`` (the sum of per-node kernel times per run) next to ``model_run_ms``
    (onnxruntime's own timing of the whole run, from the same trace).
    """

    def __init__(self, rows: list[dict], source: str, totals: dict, notes: dict, runs: list[dict] | None = None):
        super().__init__(rows)
        self.source = source
        self.totals = totals
        self.notes = notes
        self.runs = runs or []

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v:.3f}" for k, v in self.totals.items() if isinstance(v, float))
        return f"ProfileTable({len(self)} rows from {self.source}; {shown})"


def profile(model: Any, inputs: Any = None, **options: Any) -> ProfileTable:
    """Per-node latency: an ONNX handle runs ``inputs`` under onnxruntime's profiler (``runs=10``,
    ``warmup=2``, ``optimized=False``: every row is one ONNX node; True: the kernels onnxruntime runs
    after fusing, each with the ``source_nodes`` it could be traced to). A TensorRT export answers
    from its per-layer profile, and needs no inputs."""
    from .adapters.base import resolve_adapter

    adapter = resolve_adapter(model)
    method = getattr(adapter, "profile", None)
    if method is None:
        raise CnnvisError(
            f"cnnvis.profile times deployed models (ONNX through onnxruntime, TensorRT exports); "
            f"{adapter.framework} models have no such profiler here. Export the model to ONNX and load it "
            "with cnnvis.load, or use the framework's own profiler (torch.profiler, tf.profiler)."
        )
    if inputs is None and getattr(adapter, "framework", "") == "onnx":
        raise CnnvisError("cnnvis.profile needs inputs for an ONNX model: it times real runs on them.")
    return method(inputs, **options)
