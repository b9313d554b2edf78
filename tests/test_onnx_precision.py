"""compare_precision on a small CNN quantized to INT8 in the test."""

from __future__ import annotations

import warnings

import pytest

import cnnvis
from cnnvis import CnnvisError

pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(16, 5),
    ).eval()
    folder = tmp_path_factory.mktemp("precision")
    fp32, int8 = folder / "model.onnx", folder / "model.int8.onnx"
    x = torch.rand(64, 1, 12, 12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x[:1],), str(fp32), dynamo=False, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    from cnnvis.precision import quantize_onnx

    quantize_onnx(fp32, int8, x.numpy()[:32])
    labels = model(x).argmax(1).numpy()
    return cnnvis.load(fp32), cnnvis.load(int8), x.numpy(), labels


def test_retention_and_per_layer_agreement(pair):
    fp32, int8, x, labels = pair
    result = cnnvis.compare_precision(fp32, int8, x, labels)
    assert result.accuracy_fp32 == 1.0  # the labels are the FP32 model's own answers
    assert result.retention == pytest.approx(result.accuracy_int8) and 0.8 <= result.retention <= 1.0
    convs = [r for r in result if r["op_type"] == "Conv"]
    assert len(convs) == 2 and all(r["fused"] for r in convs)  # each Relu folded into the INT8 conv output
    for row in result:
        assert 0.9 < row["cosine"] <= 1.0 + 1e-9 and row["cosine_min"] <= row["cosine"] + 1e-12
        assert row["relative_error"] > 0  # INT8 really differs: the comparison is not of a model with itself
        assert row["flagged"] == (row["cosine"] < result.threshold)


def test_threshold_flags_layers_and_identical_models_agree(pair):
    fp32, int8, x, labels = pair
    strict = cnnvis.compare_precision(fp32, int8, x, threshold=1.0)
    assert strict.flagged == [r["layer"] for r in strict] and "retention" not in strict.summary
    same = cnnvis.compare_precision(fp32, fp32, x, labels)
    assert same.flagged == [] and same.top1_agreement == 1.0 and same.retention == 1.0
    assert all(r["cosine"] == pytest.approx(1.0) and r["relative_error"] == 0 for r in same)


def test_bad_inputs_are_refused(pair):
    fp32, int8, x, labels = pair
    with pytest.raises(CnnvisError, match="labels has 3 entries"):
        cnnvis.compare_precision(fp32, int8, x, labels[:3])
    with pytest.raises(CnnvisError, match="compares ONNX models"):
        cnnvis.compare_precision(torch.nn.Conv2d(1, 1, 1), int8, x)
