"""Deployed models through the server: ONNX files and the recorded TensorRT exports open with POST
models; their profiles, the ONNX graph painted with an engine's latency, and engine comparisons."""

import shutil

import numpy as np
import pytest
from helpers import legacy_resnet18_onnx, shared_fixture_dir, tiny_onnx

FIXTURES = shared_fixture_dir("tensorrt")
pytestmark = pytest.mark.skipif(FIXTURES is None, reason="recorded TensorRT fixtures not found")
TRIO = {"fp32": "trt/a100_resnet_fp32/resnet.onnx.engine.graph.json",
        "fp16": "trt/a100_resnet_fp16/resnet.onnx.engine.graph.json",
        "int8": "trt/a100_resnet_qat/resnet-qat.onnx.engine.graph.json"}


@pytest.fixture(scope="session")
def onnx_files(tmp_path_factory):
    """resnet18 named as the exporter of the A100 engines did (``Conv_0``, ..., ``Gemm_48``), and a
    tiny CNN with inputs for the onnxruntime profiler."""
    pytest.importorskip("torch")
    onnx = pytest.importorskip("onnx")
    folder = tmp_path_factory.mktemp("onnx")
    onnx.save(legacy_resnet18_onnx(), folder / "resnet18.onnx")
    tiny_onnx(folder / "tiny.onnx", channels=4, size=8)
    np.save(folder / "tiny_inputs.npy", np.random.default_rng(0).random((2, 3, 8, 8), dtype=np.float32))
    return folder


@pytest.fixture
def engine_root(root, onnx_files):
    for name in ("a100_resnet_fp32", "a100_resnet_fp16", "a100_resnet_qat", "orin_trtexec"):
        shutil.copytree(FIXTURES / name, root / "trt" / name)
    for path in onnx_files.iterdir():
        shutil.copy(path, root / path.name)
    return root


async def opened(api, path, **body):
    code, reply = await api("models", method="POST", body={"path": path, **body})
    assert code == 201, reply
    return reply


async def test_tensorrt_exports_and_logs_open_and_draw(api, engine_root):
    reply = await opened(api, TRIO["fp16"])
    assert reply["framework"] == "tensorrt" and reply["inputs"] is None
    code, graph = await api("models", reply["id"], "graph")
    layers = [n for n in graph["nodes"] if n["kind"] == "layer"]
    assert code == 200 and len(layers) == 36
    assert abs(sum(n["latency_pct"] for n in layers) - 100) < 0.01
    log = await opened(api, "trt/orin_trtexec/trt.out")
    code, graph = await api("models", log["id"], "graph")
    assert code == 200 and len([n for n in graph["nodes"] if n["kind"] == "layer"]) == 86
    code, refused = await api("models", method="POST", body={"path": "trt/orin_trtexec/layer_info.json"})
    assert code == 400 and "profilingVerbosity=detailed" in refused["message"]


async def test_profile_of_an_engine_has_formats_and_the_timing_distribution(api, engine_root):
    model = (await opened(api, TRIO["fp16"]))["id"]
    code, table = await api("models", model, "profile")
    assert code == 200, table
    assert len(table["rows"]) == 36
    conv = next(r for r in table["rows"] if r["node"] == "Conv_0 + Relu_1")
    assert conv["precision"] == "FP16" and "FP16" in conv["inputs"][0]["format"]
    assert abs(sum(r["mean_ms"] for r in table["rows"]) - table["totals"]["nodes_ms"]) < 1e-9
    timing = table["timing"]
    assert timing["count"] == 3698 and sum(timing["histogram"]["counts"]) == 3698
    assert timing["median_ms"] == pytest.approx(0.862183) and "timing export" in timing["label"]
    assert str(engine_root) not in str(table)  # no server paths in replies
    int8 = (await opened(api, TRIO["int8"]))["id"]
    code, table = await api("models", int8, "profile")
    assert code == 200 and table["timing"] is None  # the QAT fixture has no timing export


async def test_onnx_models_open_and_are_profiled_on_their_inputs(api, engine_root):
    model = (await opened(api, "tiny.onnx", inputs="tiny_inputs.npy"))["id"]
    code, graph = await api("models", model, "graph")
    assert code == 200 and graph["nodes"]
    code, reply = await api("models", model, "profile")
    assert code == 400 and "POST" in reply["message"]  # nothing timed yet
    code, table = await api("models", model, "profile", method="POST", body={"runs": 3, "warmup": 1})
    assert code == 200, table
    assert table["framework"] == "onnx" and table["totals"]["runs"] == 3 and table["timing"]["count"] == 3
    assert {r["op_type"] for r in table["rows"]} >= {"Conv", "Gemm"}
    code, again = await api("models", model, "profile")
    assert code == 200 and again == table
    code, reply = await api("models", model, "profile", method="POST", body={"runs": 0})
    assert code == 400
    bare = (await opened(api, "tiny.onnx"))["id"]
    code, reply = await api("models", bare, "profile", method="POST", body={})
    assert code == 400 and "inputs" in reply["message"]
    code, reply = await api("models", bare, "profile", method="POST", body={"inputs": "tiny_inputs.npy", "runs": 1})
    assert code == 200 and reply["totals"]["runs"] == 1


async def test_source_graph_paints_the_onnx_graph(api, engine_root):
    model = (await opened(api, TRIO["fp16"]))["id"]
    code, painted = await api("models", model, "source-graph", params={"source": "resnet18.onnx"})
    assert code == 200, painted
    timed = [n for n in painted["nodes"] if n.get("latency_ms")]
    assert {"Conv_0", "Gemm_48"} <= {n["id"] for n in timed}
    assert any(e["layer"].startswith("Reformatting") for e in painted["engine_only"])
    onnx_model = (await opened(api, "resnet18.onnx"))["id"]
    code, same = await api("models", model, "source-graph", params={"source_model": onnx_model})
    assert code == 200 and len(same["nodes"]) == len(painted["nodes"])
    code, reply = await api("models", model, "source-graph", params={"source": "../outside.onnx"})
    assert code == 403
    code, reply = await api("models", model, "source-graph")
    assert code == 400


async def test_compare_the_a100_trio(api, engine_root):
    ids = [(await opened(api, path))["id"] for path in TRIO.values()]
    code, reply = await api("compare", method="POST", body={"models": ids, "names": list(TRIO)})
    assert code == 200, reply
    assert reply["names"] == ["fp32", "fp16", "int8"] and reply["alignment"] == "compute order"
    for name in TRIO:
        total = next(t for t in reply["totals"] if t["engine"] == name)
        rows_sum = sum(r[f"{name}_latency_ms"] or 0 for r in reply["rows"])
        assert total["sum_of_layer_averages_ms"] == pytest.approx(rows_sum)
        assert "sum of per-layer average" in total["sum_label"] and total["path"] == TRIO[name]
        assert {r[f"{name}_precision"] for r in reply["rows"]} - {None}
    assert "e2e_median_ms" in reply["totals"][0] and "e2e_median_ms" not in reply["totals"][2]
    code, default = await api("compare", method="POST", body={"models": ids})
    assert code == 200 and default["names"] == ["a100_resnet_fp32", "a100_resnet_fp16", "a100_resnet_qat"]
    tiny = (await opened(api, "tiny.onnx"))["id"]
    for body in ({"models": ids[:1]}, {"models": [ids[0], "nope"]}, {"models": [ids[0], tiny]},
                 {"models": ids, "names": ["a", "a", "b"]}, {"models": "x"}):
        code, reply = await api("compare", method="POST", body=body)
        assert code in (400, 404) and reply["message"], body
