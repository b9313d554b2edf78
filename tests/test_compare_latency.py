"""cnnvis.compare with TensorRT latency: the recorded A100 engines of a resnet18 (examples/tensorrt/)
traced back, layer by layer, onto an ONNX export named as the one they were built from."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pytest

import cnnvis
from cnnvis import CnnvisError

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

EXPORTS = Path(__file__).resolve().parent.parent / "examples" / "tensorrt"
FP32 = EXPORTS / "a100_resnet_fp32" / "resnet.onnx.engine.graph.json"
FP16 = EXPORTS / "a100_resnet_fp16" / "resnet.onnx.engine.graph.json"


def _export(path: Path, name_of) -> Path:
    """resnet18 as ONNX, its compute nodes named ``name_of(op_type, index)``: the engines were built
    from an export that named them ``Conv_0``, ``Relu_1``... (the exporter's Identity nodes aside)."""
    torch.manual_seed(0)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(torchvision.models.resnet18(weights=None).eval(), (torch.randn(1, 3, 224, 224),), buffer,
                          dynamo=False, input_names=["input"], dynamic_axes={"input": {0: "n"}})
    proto = onnx.load_from_string(buffer.getvalue())
    for index, node in enumerate(n for n in proto.graph.node if n.op_type != "Identity"):
        node.name = name_of(node.op_type, index)
    onnx.save(proto, str(path))
    return path


@pytest.fixture(scope="module")
def built_from(tmp_path_factory) -> Path:
    return _export(tmp_path_factory.mktemp("latency") / "resnet.onnx", lambda op, i: f"{op}_{i}")


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((2, 3, 224, 224)).astype(np.float32)


def _engine_total(path: Path) -> float:
    from cnnvis.adapters.base import resolve_adapter

    return resolve_adapter(cnnvis.load(path)).engine_summary()["sum_of_averages_ms"]


def test_engine_latency_lands_on_every_compute_layer(built_from, images):
    result = cnnvis.compare(built_from, built_from, images, names=("fp32", "fp16"), progress=False,
                            latency={"fp32": FP32, "fp16": FP16})
    assert all("NVIDIA A100" in source for source in result.summary["latency_source"].values())
    compute = [r for r in result if r["op_type"] in ("Conv", "Gemm", "MaxPool", "GlobalAveragePool")]
    assert len(compute) == 23 and all(r["latency_a"] > 0 and r["latency_b"] > 0 for r in compute)
    total_a, total_b = (sum(r[key] or 0.0 for r in result) for key in ("latency_a", "latency_b"))
    # every engine layer that stands for ONNX nodes is counted once; reformat copies are engine-only
    assert 0.9 * _engine_total(FP32) < total_a <= _engine_total(FP32) + 1e-9
    assert 0.7 * _engine_total(FP16) < total_b <= _engine_total(FP16) + 1e-9
    assert total_b < total_a  # the FP16 build is the faster one
    fused = {r["layer"]: r["latency_a"] for r in result if r["layer"] in ("Conv_0", "Relu_1")}
    assert fused["Conv_0"] == pytest.approx(fused["Relu_1"])  # one kernel "Conv_0 + Relu_1", split evenly


def test_engine_latency_mixes_with_onnxruntime_profile(built_from, images):
    result = cnnvis.compare(built_from, built_from, images, names=("cpu", "a100"), progress=False,
                            latency={"a100": FP32})
    assert result.summary["latency_source"]["cpu"].startswith("onnxruntime profile")
    assert sum(r["latency_b"] or 0.0 for r in result) == pytest.approx(
        sum(r["latency_a"] or 0.0 for r in cnnvis.compare(built_from, built_from, images, names=("x", "y"),
                                                           progress=False, latency={"x": FP32, "y": FP32})))


def test_engine_from_another_export_is_refused(tmp_path, images):
    other = _export(tmp_path / "renamed.onnx", lambda op, i: f"/block{i}/{op}")
    with pytest.raises(CnnvisError, match="names a node"):
        cnnvis.compare(other, other, images, progress=False, latency={"b": FP32})


def test_engine_latency_needs_the_onnx_side(built_from, images):
    model = torchvision.models.resnet18(weights=None).eval()
    with pytest.raises(CnnvisError, match="built from"):
        cnnvis.compare(model, built_from, images, progress=False, latency={"a": FP32})
    with pytest.raises(CnnvisError, match="TensorRT export"):
        cnnvis.compare(built_from, built_from, images, progress=False, latency={"a": built_from})
    with pytest.raises(CnnvisError, match="model name"):
        cnnvis.compare(built_from, built_from, images, progress=False, latency={"c": FP32})
