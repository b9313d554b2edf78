"""POST compare/models and POST quantize: jobs comparing two open models and searching for the
fewest float layers of an INT8 build, with bad requests refused before any job starts."""

import asyncio
import warnings

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")


@pytest.fixture
def onnx_pair(root):
    """tiny.onnx (the tiny CNN of the other server tests) and its INT8 build, under the root."""
    import torch

    from cnnvis.precision import quantize_onnx

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                                 torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                                 torch.nn.Flatten(), torch.nn.Linear(8, 4)).eval()
    x = np.load(root / "inputs.npy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.from_numpy(x[:1]),), str(root / "tiny.onnx"), dynamo=False,
                          input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "n"}})
    quantize_onnx(root / "tiny.onnx", root / "tiny.int8.onnx", x)
    with torch.no_grad():
        labels = module(torch.from_numpy(x)).argmax(1).tolist()
    return labels


async def _finished(api, started):
    code, job = started
    assert code == 202, job
    for _ in range(600):
        code, snapshot = await api("jobs", job["id"])
        if snapshot["state"] in ("done", "failed", "cancelled"):
            return snapshot
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job['id']} did not finish")


async def test_compare_two_open_models_as_a_job(api, open_model, onnx_pair):
    fp32 = await open_model("tiny.onnx")
    int8 = await open_model("tiny.int8.onnx")
    job = await _finished(api, await api("compare", "models", method="POST",
                                         body={"a": fp32, "b": int8, "names": ["fp32", "int8"], "labels": onnx_pair,
                                               "latency": True}))
    assert job["state"] == "done", job
    result = job["result"]
    assert set(result["summary"]["latency_source"]) == {"fp32", "int8"}
    assert result["alignment"] == "names" and result["names"] == ["fp32", "int8"]
    convs = [r for r in result["rows"] if r["op_type"] == "Conv"]
    assert len(convs) == 2 and all(0.9 < r["cosine"] <= 1.0 + 1e-9 for r in convs)
    assert result["summary"]["accuracy_fp32"] == 1.0 and "retention" in result["summary"]
    assert sorted(r["rank"] for r in result["rows"]) == list(range(1, len(result["rows"]) + 1))


async def test_quantize_writes_under_the_root_and_answers_its_path(api, open_model, onnx_pair, root):
    fp32 = await open_model("tiny.onnx")
    job = await _finished(api, await api("quantize", method="POST",
                                         body={"model": fp32, "labels": onnx_pair, "target_retention": 0.5,
                                               "out": "tiny.mixed.onnx"}))
    assert job["state"] == "done", job
    result = job["result"]
    assert result["path"] == "tiny.mixed.onnx" and (root / "tiny.mixed.onnx").is_file()
    assert result["reached"] and result["retention"] >= 0.5 and result["candidates"][0]["kept_float"] == []
    assert str(root) not in str(result)  # no server path in the reply


async def test_bad_requests_are_refused_before_a_job(api, open_model, onnx_pair):
    fp32 = await open_model("tiny.onnx")
    code, reply = await api("compare", "models", method="POST", body={"a": fp32, "b": "nope"})
    assert code == 404, reply
    code, reply = await api("compare", "models", method="POST", body={"a": fp32, "b": fp32, "names": ["x"]})
    assert code == 400 and "names" in reply["message"]
    code, reply = await api("quantize", method="POST", body={"model": fp32, "labels": "1,2"})
    assert code == 400 and "labels" in reply["message"]
    code, reply = await api("quantize", method="POST", body={"model": fp32, "labels": onnx_pair, "out": "../x.onnx"})
    assert code == 403, reply
    torch_model = await open_model()
    job = await _finished(api, await api("quantize", method="POST", body={"model": torch_model, "labels": onnx_pair}))
    assert job["state"] == "failed" and "ONNX" in job["error"]


async def test_latency_from_an_open_tensorrt_export(api, open_model, onnx_pair, root):
    import shutil
    from pathlib import Path

    recorded = Path(__file__).resolve().parents[2] / "examples" / "tensorrt" / "a100_resnet_fp32"
    shutil.copytree(recorded, root / "a100")
    engine = await open_model("a100/resnet.onnx.engine.graph.json", inputs=None)
    fp32 = await open_model("tiny.onnx")
    job = await _finished(api, await api("compare", "models", method="POST",
                                         body={"a": fp32, "b": fp32, "latency": {"b": engine}}))
    # the A100 engine was built from a resnet, not from tiny.onnx: refused, never a table of zeros
    assert job["state"] == "failed" and "names a node" in job["error"], job
    code, reply = await api("compare", "models", method="POST", body={"a": fp32, "b": fp32, "latency": {"b": 3}})
    assert code == 400, reply
