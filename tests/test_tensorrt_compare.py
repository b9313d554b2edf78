"""compare_engines on the A100 trio: one ResNet-18 built FP32, FP16 and INT8 (QAT)."""

from __future__ import annotations

import json

import pytest
from helpers import shared_fixture_dir

import cnnvis
from cnnvis import CnnvisError

FIXTURES = shared_fixture_dir("tensorrt")
pytestmark = pytest.mark.skipif(FIXTURES is None, reason="recorded TensorRT fixtures not found")
TRIO = ["a100_resnet_fp32", "a100_resnet_fp16", "a100_resnet_qat"]
NAMES = ["fp32", "fp16", "int8"]


@pytest.fixture(scope="module")
def trio():
    return [cnnvis.load(next((FIXTURES / f).glob("*.graph.json"))) for f in TRIO]


def _layers(handle):
    return [n for n in cnnvis.graph(handle).nodes if n["kind"] == "layer"]


def _convolutions(handle):
    return [n["id"] for n in _layers(handle) if n.get("parameter_type") == "Convolution"]


def _check_partition(result, handles):
    for name, handle in zip(result.names, handles, strict=True):
        layers = [n["id"] for n in _layers(handle)]
        placed = [layer for row in result for layer in row[f"{name}_layers"]]
        assert sorted(placed) == sorted(layers), "every layer lands in exactly one row"
        for conv in _convolutions(handle):
            assert sum(conv in row[f"{name}_layers"] for row in result) == 1, conv
        total = next(t for t in result.totals if t["engine"] == name)
        per_layer = sum(n["latency_ms"] for n in _layers(handle))
        assert total["sum_of_layer_averages_ms"] == pytest.approx(per_layer)
        assert sum(row[f"{name}_latency_ms"] or 0 for row in result) == pytest.approx(per_layer)


def test_fp32_vs_fp16_align_by_shared_source_names(trio):
    result = cnnvis.compare_engines(trio[:2])
    assert result.alignment == "source nodes"
    assert result.names == ["a100_resnet_fp32", "a100_resnet_fp16"]  # file names clash: folders name them
    _check_partition(result, trio[:2])
    first = result[0]
    assert first["group"] == "Conv_0 + Relu_1" and first["kind"] == "convolution"
    assert (first["a100_resnet_fp32_precision"], first["a100_resnet_fp16_precision"]) == ("FP32", "FP16")
    # the FP16 row also carries the input reformat that feeds this conv
    assert first["a100_resnet_fp16_layers"] == ["Reformatting CopyNode for Input Tensor 0 to Conv_0 + Relu_1",
                                                "Conv_0 + Relu_1"]
    fp16 = {n["id"]: n["latency_ms"] for n in _layers(trio[1])}
    assert first["a100_resnet_fp16_latency_ms"] == pytest.approx(sum(fp16[n] for n in first["a100_resnet_fp16_layers"]))
    assert fp16["Reformatting CopyNode for Input Tensor 0 to Conv_0 + Relu_1"] == pytest.approx(0.080896)
    assert first["a100_resnet_fp16_delta_ms"] == pytest.approx(
        first["a100_resnet_fp16_latency_ms"] - first["a100_resnet_fp32_latency_ms"])
    assert not any(row["fusion_differs"] for row in result)  # same fusions, only formats differ


def test_trio_aligns_by_compute_order_with_precision_per_engine(trio):
    result = cnnvis.compare_engines(trio, names=NAMES)
    assert result.alignment == "compute order"
    _check_partition(result, trio)
    convs = [row for row in result if row["kind"] == "convolution"]
    assert len(convs) == 21  # 20 convolutions + the FC layer TensorRT runs as a 1x1 convolution
    for row in convs:
        assert all(row[f"{n}_layers"] for n in NAMES)
        assert (row["fp32_precision"], row["fp16_precision"], row["int8_precision"]) == ("FP32", "FP16", "INT8")
    qat_first = next(n for n in result[0]["int8_layers"] if "Conv_9" in n)
    assert qat_first == "conv1.weight + QuantizeLinear_7 + Conv_9"
    # the quantize layer that feeds it rides in the same row
    assert "QuantizeLinear_2" in result[0]["int8_layers"]
    assert [row["kind"] for row in result if row["kind"] != "convolution"] == ["pooling", "pooling"]


def test_totals_are_labelled_and_timing_percentiles_where_timing_exists(trio):
    result = cnnvis.compare_engines(trio, names=NAMES)
    by = {t["engine"]: t for t in result.totals}
    for name in NAMES:
        assert "sum of per-layer average times" in by[name]["sum_label"]
        assert "not an end-to-end latency" in by[name]["sum_label"]
        assert by[name]["device"] == "NVIDIA A100 80GB PCIe"
    timing = json.loads((FIXTURES / "a100_resnet_fp16" / "resnet.onnx.engine.timing.json").read_text())
    latencies = sorted(r["latencyMs"] for r in timing)
    assert by["fp16"]["e2e_median_ms"] == pytest.approx((latencies[1848] + latencies[1849]) / 2)
    assert by["fp16"]["e2e_p90_ms"] <= by["fp16"]["e2e_p95_ms"] <= by["fp16"]["e2e_p99_ms"]
    assert "3698 iterations" in by["fp16"]["e2e_label"]
    # single-iteration profiles: their sum is not the end-to-end median (~18% apart on this engine)
    assert by["fp16"]["sum_of_layer_averages_ms"] / by["fp16"]["e2e_median_ms"] == pytest.approx(1.18, abs=0.02)
    assert "e2e_median_ms" not in by["int8"]  # the QAT export has no timing.json


def test_to_pandas_and_bad_arguments(trio):
    result = cnnvis.compare_engines(trio, names=NAMES)
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(CnnvisError, match="pandas"):
            result.to_pandas()
    else:
        frame = result.to_pandas()
        assert len(frame) == len(result) and "int8_latency_ms" in frame.columns
    with pytest.raises(CnnvisError, match="at least two"):
        cnnvis.compare_engines(trio[:1])
    with pytest.raises(CnnvisError, match="distinct labels"):
        cnnvis.compare_engines(trio[:2], names=["a", "a"])
    torch = pytest.importorskip("torch")
    with pytest.raises(CnnvisError, match="not one"):
        cnnvis.compare_engines([trio[0], torch.nn.Conv2d(3, 3, 1)])


def test_paths_are_accepted_and_engines_of_other_networks_still_compare():
    paths = [next((FIXTURES / f).glob("*.graph.json")) for f in ("a100_resnet_qat", "mobilenet_qat")]
    result = cnnvis.compare_engines(paths, names=["resnet", "mobilenet"])
    assert result.alignment == "compute order"
    assert any(row["fusion_differs"] for row in result)


def test_the_documented_example_runs(capsys):
    from pathlib import Path

    docs = Path(__file__).resolve().parents[1] / "docs" / "tensorrt.md"
    code = docs.read_text().split("```python\n", 1)[1].split("```", 1)[0]
    code = code.replace('"../shared/fixtures/tensorrt"', repr(str(FIXTURES)))
    exec(compile(code, str(docs), "exec"), {})
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "compute order"
    assert "end-to-end latency per iteration" in out
