"""FP32 vs INT8: accuracy retention and per-layer agreement of two builds of one ONNX model, and
the INT8 build itself (onnxruntime's static quantization, calibrated on real inputs)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

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
    summary = _accuracy(logits32, logits8, labels)
    names = [n for n in (layers or fp32.layer_names()) if n in set(int8.layer_names())]
    names = [n for n in names if _is_float(fp32, n)]
    present = set(int8.layer_names())
    fused = [_fused_activations(fp32, n, present) for n in names]
    outs32 = fp32.node_outputs(x32, [f[-1] if f else n for n, f in zip(names, fused, strict=True)])
    outs8 = int8.node_outputs(x8, [_as_int8_sees_it(int8, n) for n in names])
    rows = []
    for name, merged, a, b in zip(names, fused, outs32.values(), outs8.values(), strict=True):
        if a.shape != b.shape or not np.issubdtype(b.dtype, np.floating):
            continue
        cos = _cosines(a, b)
        node = fp32.index.nodes[fp32.index.node_ids.index(name)]
        rows.append({"layer": name, "op_type": node.op_type, "shape": list(a.shape), "cosine": float(cos.mean()),
                     "cosine_min": float(cos.min()), "relative_error": _relative_error(a, b), "fused": merged,
                     "flagged": bool(cos.mean() < threshold)})
    summary.update(threshold=float(threshold), flagged=[r["layer"] for r in rows if r["flagged"]])
    return PrecisionComparison(rows, summary)


def _accuracy(logits32: np.ndarray, logits8: np.ndarray, labels: Any) -> dict:
    top32, top8 = logits32.argmax(axis=1), logits8.argmax(axis=1)
    summary: dict[str, Any] = {"top1_agreement": float((top32 == top8).mean())}
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        if len(labels) != len(top32):
            raise CnnvisError(f"labels has {len(labels)} entries for {len(top32)} inputs; give one per input.")
        acc32, acc8 = float((top32 == labels).mean()), float((top8 == labels).mean())
        summary.update(accuracy_fp32=acc32, accuracy_int8=acc8, retention=acc8 / acc32 if acc32 else float("nan"))
    return summary


def _fused_activations(adapter: Any, name: str, present: set[str]) -> list[str]:
    """The activations after ``name`` that the INT8 model folded into its quantization (a Relu
    becomes the range of the Conv's output): the FP32 side is compared after them too."""
    index, chain = adapter.index, []
    tensor = adapter.tensor_of(name)
    while len(index.consumers.get(tensor, ())) == 1:
        nxt = index.consumers[tensor][0]
        if index.nodes[nxt].op_type not in ("Relu", "Clip") or index.node_ids[nxt] in present:
            break
        chain.append(index.node_ids[nxt])
        tensor = index.nodes[nxt].output[0]
    return chain


def _is_float(adapter: Any, name: str) -> bool:
    tensor = adapter.tensor_of(name)
    return adapter.index.elem_type(tensor) in (None, 1, 10, 11, 16)  # float, float16, double, bfloat16


def _as_int8_sees_it(adapter: Any, name: str) -> str:
    """A node's output as the rest of a QDQ model reads it: after its QuantizeLinear/DequantizeLinear
    pair when it has one (the quantization error is part of what is compared)."""
    index = adapter.index
    tensor = adapter.tensor_of(name)
    for q in index.consumers.get(tensor, ()):
        if index.nodes[q].op_type == "QuantizeLinear":
            for d in index.consumers.get(index.nodes[q].output[0], ()):
                if index.nodes[d].op_type == "DequantizeLinear":
                    return index.nodes[d].output[0]
    return tensor


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-input cosine similarity (a tensor without a batch axis counts as one input)."""
    a64 = a.reshape(len(a), -1).astype(np.float64) if a.ndim > 1 else a.reshape(1, -1).astype(np.float64)
    b64 = b.reshape(a64.shape).astype(np.float64)
    norms = np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1)
    same = np.all(a64 == b64, axis=1)  # two all-zero rows agree perfectly
    return np.where(same, 1.0, (a64 * b64).sum(axis=1) / np.maximum(norms, 1e-30))


def _relative_error(a: np.ndarray, b: np.ndarray) -> float:
    scale = float(np.linalg.norm(a.astype(np.float64)))
    diff = float(np.linalg.norm(a.astype(np.float64) - b.astype(np.float64)))
    return diff / scale if scale else diff


def quantize_onnx(fp32_path: str | os.PathLike, int8_path: str | os.PathLike, calibration: np.ndarray, *,
                  per_channel: bool = True, batch: int = 32) -> Path:
    """Static INT8 quantization (QDQ, onnxruntime's ``quantize_static``) calibrated on ``calibration``
    (real inputs in the model's layout). Node names stay those of the FP32 model, so
    :func:`compare_precision` can pair every node."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    model = onnx.load(str(fp32_path), load_external_data=False)
    name = model.graph.input[0].name
    data = np.ascontiguousarray(calibration, dtype=np.float32)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(data[i:i + batch] for i in range(0, len(data), batch))

        def get_next(self) -> dict | None:
            chunk = next(self.batches, None)
            return None if chunk is None else {name: chunk}

    quantize_static(str(fp32_path), str(int8_path), Reader(), quant_format=QuantFormat.QDQ,
                    per_channel=per_channel, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return Path(int8_path)
