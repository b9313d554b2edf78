"""FP32 vs INT8: accuracy retention and per-layer agreement of two builds of one ONNX model, and
the INT8 build itself (``quantize_onnx``: onnxruntime's static quantization, calibrated on real inputs)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .comparison.int8 import quantize_onnx
from .comparison.metrics import accuracy_summary, cosines, relative_error
from .comparison.onnx_nodes import as_int8_sees_it, fused_activations, is_float
from .errors import CnnvisError
from .tables import Table

DEFAULT_THRESHOLD = 0.99  # per-layer cosine similarity below which a layer is flagged


class PrecisionComparison(Table):
    """One row per node both models have: ``layer``, ``op_type``, ``shape``, ``cosine`` (mean over
    inputs of the cosine similarity of the FP32 and INT8 outputs), ``cosine_min``,
    ``relative_error`` (``|int8 - fp32| / |fp32|``), ``flagged`` (cosine below ``threshold``) and
    ``fused`` (FP32 activations the INT8 model folded into this node; compared after them).

    ``accuracy_fp32``/``accuracy_int8``/``retention`` (INT8 accuracy / FP32 accuracy) need labels;
    ``top1_agreement`` (share of inputs whose top class is the same) does not.
    """

    def __init__(self, rows: list[dict], summary: dict):
        super().__init__(rows)
        self.summary = summary
        for key, value in summary.items():
            setattr(self, key, value)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v:.4f}" for k, v in self.summary.items() if isinstance(v, float))
        return f"PrecisionComparison({len(self)} layers, {len(self.flagged)} flagged; {shown})"


def compare_precision(fp32_handle: Any, int8_handle: Any, inputs: Any, labels: Any = None, *,
                      threshold: float = DEFAULT_THRESHOLD, layers: Sequence[str] | None = None) -> PrecisionComparison:
    """Runs both models on ``inputs``; compares their scores (and accuracy where ``labels`` are
    given) and every node's output. ``layers`` limits the nodes compared (all by default)."""
    from .adapters.base import resolve_adapter

    fp32, int8 = resolve_adapter(fp32_handle), resolve_adapter(int8_handle)
    for adapter in (fp32, int8):
        if not hasattr(adapter, "node_outputs"):
            raise CnnvisError(f"compare_precision compares ONNX models (cnnvis.load('model.onnx')); got a "
                              f"{adapter.framework} model. Export both builds to ONNX.")
    x32, x8 = fp32.prepare_inputs(inputs), int8.prepare_inputs(inputs)
    logits32, logits8 = fp32.outputs(x32), int8.outputs(x8)
    summary = accuracy_summary(logits32, logits8, labels)
    names = [n for n in (layers or fp32.layer_names()) if n in set(int8.layer_names())]
    names = [n for n in names if is_float(fp32, n)]
    present = set(int8.layer_names())
    fused = [fused_activations(fp32, n, present) for n in names]
    outs32 = fp32.node_outputs(x32, [f[-1] if f else n for n, f in zip(names, fused, strict=True)])
    outs8 = int8.node_outputs(x8, [as_int8_sees_it(int8, n) for n in names])
    rows = []
    for name, merged, a, b in zip(names, fused, outs32.values(), outs8.values(), strict=True):
        if a.shape != b.shape or not np.issubdtype(b.dtype, np.floating):
            continue
        cos = cosines(a, b)
        node = fp32.index.nodes[fp32.index.node_ids.index(name)]
        rows.append({"layer": name, "op_type": node.op_type, "shape": list(a.shape), "cosine": float(cos.mean()),
                     "cosine_min": float(cos.min()), "relative_error": relative_error(a, b), "fused": merged,
                     "flagged": bool(cos.mean() < threshold)})
    summary.update(threshold=float(threshold), flagged=[r["layer"] for r in rows if r["flagged"]])
    return PrecisionComparison(rows, summary)


__all__ = ["DEFAULT_THRESHOLD", "PrecisionComparison", "compare_precision", "quantize_onnx"]
