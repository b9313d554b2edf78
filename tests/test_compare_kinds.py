"""The compare_models and quantize kinds as every transport (widget, kernel comm, server) asks
them of the dispatcher: a live torch module against its ONNX export, and an ONNX model quantized."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest

import cnnvis
from cnnvis.services import BadRequest, Dispatcher, ModelSession
from cnnvis.services.codec import to_npy
from cnnvis.services.errors import NotFound

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                                 torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                                 torch.nn.Flatten(), torch.nn.Linear(8, 3)).eval()
    path = tmp_path_factory.mktemp("kinds") / "small.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, torch.zeros(1, 3, 12, 12), str(path), dynamo=False, input_names=["input"],
                          dynamic_axes={"input": {0: "n"}})
    x = np.random.default_rng(0).random((6, 3, 12, 12), dtype=np.float32)
    labels = module(torch.from_numpy(x)).argmax(1).tolist()
    return module, path, x, labels


@pytest.fixture
def dispatcher(models):
    module, path, x, _ = models
    d = Dispatcher()
    d.add_session("live", ModelSession(module, x, name="live"))
    d.add_session("onnx", ModelSession(cnnvis.load(path), x, name="export"))
    return d


def test_compare_models_kind(dispatcher, models):
    reply = dispatcher.handle("compare_models", {"a": "live", "b": "onnx", "labels": models[3]})
    result = reply.result
    assert result["alignment"] == "names" and result["names"] == ["live", "export"]
    assert [r["layer"] for r in result["rows"] if r["compute"]] == ["0", "3", "5", "7"]  # the BatchNorm folds into "0"
    assert all(r["cosine"] >= 0.9999 for r in result["rows"])
    assert result["summary"]["retention"] == 1.0 and result["summary"]["retention_ok"] is True
    explained = dispatcher.handle("compare_models", {"a": "live", "b": "onnx", "method": "scorecam"})
    rows = explained.result["explanations"]["rows"]
    assert len(rows) == 6 and [r["spearman"] for r in rows] == sorted(r["spearman"] for r in rows)
    assert explained.result["buffers"][:2] == [f"overlay a {rows[0]['image']}", f"overlay b {rows[0]['image']}"]
    assert len(explained.buffers) == 12 and all(b.startswith(b"\x89PNG") for b in explained.buffers)
    assert rows[0]["overlay_a"] == 0 and rows[5]["overlay_b"] == 11
    sent = dispatcher.handle("compare_models", {"a": "onnx", "b": "onnx"}, [to_npy(models[2][:2])]).result
    assert sent["names"] == ["a", "b"] and all(r["relative_error"] == 0 for r in sent["rows"])


def test_quantize_kind_reports_progress_and_cancels(dispatcher, models, tmp_path):
    seen = []
    result = dispatcher.handle("quantize", {"model": "onnx", "labels": models[3], "target_retention": 0.5,
                                            "out": str(tmp_path / "q.onnx")}, progress=lambda d, t: seen.append(d)).result
    assert result["reached"] and result["path"] == str(tmp_path / "q.onnx") and (tmp_path / "q.onnx").is_file()
    assert seen == [1] and result["rounds"] == 1 and result["latency_fp32_ms"] > 0
    stop = threading.Event()
    stop.set()
    with pytest.raises(cnnvis.CancelledError):
        dispatcher.handle("quantize", {"model": "onnx", "labels": models[3], "out": str(tmp_path / "x.onnx")},
                          cancel=stop)


def test_bad_arguments_are_bad_requests(dispatcher, models):
    for kind, args, match in (("compare_models", {"a": "live"}, "b= must be"),
                              ("compare_models", {"a": "live", "b": "onnx", "labels": "1"}, "labels must be"),
                              ("compare_models", {"a": "live", "b": "onnx", "mapping": ["x"]}, "mapping must be"),
                              ("quantize", {"model": "live", "labels": models[3]}, "ONNX files"),
                              ("quantize", {"model": "onnx"}, "needs labels"),
                              ("quantize", {"model": "onnx", "labels": models[3], "max_rounds": 99}, "max_rounds")):
        with pytest.raises(BadRequest, match=match):
            dispatcher.handle(kind, args)


def test_latency_from_an_open_tensorrt_export(dispatcher):
    from pathlib import Path

    export = Path(__file__).resolve().parent.parent / "examples" / "tensorrt" / "a100_resnet_fp32"
    dispatcher.add_session("engine", ModelSession(cnnvis.load(export / "resnet.onnx.engine.graph.json"), name="engine"))
    timed = dispatcher.handle("compare_models", {"a": "onnx", "b": "onnx", "latency": True}).result
    assert set(timed["summary"]["latency_source"]) == {"a", "b"} and any(r["latency_a"] for r in timed["rows"])
    # the engine was built from another export: its layers name none of this model's nodes
    with pytest.raises(cnnvis.CnnvisError, match="names a node"):
        dispatcher.handle("compare_models", {"a": "onnx", "b": "onnx", "latency": {"b": "engine"}})
    with pytest.raises(NotFound, match="No model 'no such model' is open"):
        dispatcher.handle("compare_models", {"a": "onnx", "b": "onnx", "latency": {"b": "no such model"}})
