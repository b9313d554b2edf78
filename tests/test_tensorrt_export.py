"""TensorRT exports read without a GPU: every real fixture, the trtexec log, and broken copies."""

from __future__ import annotations

import json
import shutil

import pytest
from helpers import shared_fixture_dir

import cnnvis
from cnnvis import CnnvisError, UnsupportedFileError

FIXTURES = shared_fixture_dir("tensorrt")
pytestmark = pytest.mark.skipif(FIXTURES is None, reason="recorded TensorRT fixtures not found")

GRAPHS = {
    "a100_resnet_fp16": ("resnet.onnx.engine.graph.json", 36),
    "a100_resnet_fp32": ("resnet.onnx.engine.graph.json", 32),
    "a100_resnet_qat": ("resnet-qat.onnx.engine.graph.json", 37),
    "rtx3090_resnet_fp16": ("resnet.onnx.engine.graph.json", 86),
    "mobilenet_qat": ("mobilenet.qat.onnx.engine.graph.json", 73),
}
NODE_KEYS = {"id", "name", "type", "kind", "parent", "output_shape", "params", "latency_ms", "latency_pct",
             "precision", "source_nodes", "tactic", "inputs", "outputs"}


def _path(folder):
    return FIXTURES / folder / GRAPHS[folder][0]


def _layers(graph):
    return [n for n in graph.nodes if n["kind"] == "layer"]


@pytest.mark.parametrize("folder", sorted(GRAPHS))
def test_every_graph_export_parses_and_joins_its_profile(folder):
    handle = cnnvis.load(_path(folder))
    graph = cnnvis.graph(handle)
    layers = _layers(graph)
    assert handle.framework == "tensorrt" and graph.framework == "tensorrt"
    assert len(layers) == GRAPHS[folder][1]
    assert all(NODE_KEYS <= set(n) for n in layers)
    records = [r for r in json.loads((FIXTURES / folder / GRAPHS[folder][0].replace("graph", "profile")).read_text())
               if "name" in r]
    by_id = {n["id"]: n for n in layers}
    assert all(r["name"] in by_id for r in records), "every profile record joins a layer"
    assert handle.model.unjoined_profile == []
    assert sum(r["percentage"] for r in records) == pytest.approx(100, abs=0.01)
    assert sum(n["latency_pct"] for n in layers) == pytest.approx(100, abs=0.01)
    for record in records:
        assert by_id[record["name"]]["latency_ms"] == pytest.approx(record["averageMs"])
        assert by_id[record["name"]]["latency_pct"] == pytest.approx(record["percentage"], abs=0.01)
    # bindings are input/output nodes wired to the layers by tensor name
    kinds = [n["kind"] for n in graph.nodes if n["kind"] in ("input", "output")]
    assert kinds == ["input", "output"]
    ids = {n["id"] for n in graph.nodes}
    assert all(src in ids and dst in ids for src, dst in graph.edges)
    inp = next(n["id"] for n in graph.nodes if n["kind"] == "input")
    out = next(n["id"] for n in graph.nodes if n["kind"] == "output")
    assert any(src == inp for src, _ in graph.edges) and any(dst == out for _, dst in graph.edges)
    json.dumps(graph.to_dict())


def test_fp16_layer_details():
    graph = cnnvis.graph(cnnvis.load(_path("a100_resnet_fp16")))
    conv = graph.node("Conv_0 + Relu_1")
    assert conv["type"] == "CaskConvolution"
    assert conv["precision"] == "FP16"
    assert conv["source_nodes"] == ["Conv_0", "Relu_1"]
    assert conv["tactic"].startswith("trt_turing_cutlass_image_network_first_layer")
    assert conv["tactic_value"] == "0xe2222883a6602489"
    assert conv["params"] == 9408 + 64
    assert conv["output_shape"] == [32, 64, 112, 112]
    assert conv["inputs"][0]["format"] == "Channel major FP16 format where channel % 4 == 0"
    assert conv["outputs"][0]["format"] == "Channel major FP16 format where channel % 8 == 0"
    reformat = graph.node("Reformatting CopyNode for Input Tensor 0 to Conv_0 + Relu_1")
    assert reformat["engine_only"] and reformat["source_nodes"] == []
    assert [t["precision"] for t in reformat["inputs"] + reformat["outputs"]] == ["FP32", "FP16"]
    assert ("input.1", reformat["id"]) in graph.edges
    assert (reformat["id"], conv["id"]) in graph.edges
    assert (conv["id"], "MaxPool_2") in graph.edges


def test_qat_precision_is_int8():
    graph = cnnvis.graph(cnnvis.load(_path("a100_resnet_qat")))
    conv = graph.node("layer1.0.conv1.weight + QuantizeLinear_20 + Conv_22")
    assert conv["precision"] == "INT8"
    assert conv["source_nodes"] == ["QuantizeLinear_20", "Conv_22"]


def test_orin_trtexec_log_loads_with_its_profile_table():
    handle = cnnvis.load(FIXTURES / "orin_trtexec" / "trt.out")
    graph = cnnvis.graph(handle)
    layers = _layers(graph)
    assert handle.format == "trtexec-log" and len(layers) == 86
    export = handle.model
    assert export.iterations == 11
    assert export.total_row_ms == pytest.approx(403.8158)
    records = [r for r in json.loads((FIXTURES / "orin_trtexec" / "profile.json").read_text()) if "name" in r]
    by_id = {n["id"]: n for n in layers}
    table = export.latency
    assert all(r["name"] in by_id for r in records)
    for record in records:
        # rows absent from the table (zero-time constants) read as 0 ms
        assert by_id[record["name"]]["latency_ms"] == pytest.approx(record["averageMs"], abs=1e-3), record["name"]
    assert sum(r["averageMs"] for r in records) == pytest.approx(export.total_row_ms, abs=1e-3)
    assert sum(n["latency_ms"] for n in layers) == pytest.approx(export.total_row_ms, abs=1e-3)
    assert sum(1 for r in records if r["averageMs"] == 0) == 9 and len(table) == 86
    conv = graph.node("backbone.conv1.weight + /backbone/conv1/_weight_quantizer/QuantizeLinear + /backbone/conv1/Conv")
    assert conv["precision"] == "INT8" and conv["type"] == "CaskConvolution"
    assert conv["tactic"] == "0xb29abdd00304c881"
    assert conv["output_shape"] == [1, 64, 1104, 1936]
    assert [n["name"] for n in graph.nodes if n["kind"] in ("input", "output")] == ["input", "output"]
    assert ("input", "/backbone/conv1/_input_quantizer/QuantizeLinear") in graph.edges


def test_names_only_export_is_refused_with_the_verbosity_message():
    with pytest.raises(UnsupportedFileError, match="profilingVerbosity=detailed") as info:
        cnnvis.load(FIXTURES / "orin_trtexec" / "layer_info.json")
    assert "layer_info.json" in str(info.value) and "names-only" in str(info.value)


def test_recognised_by_content_whatever_the_name(tmp_path):
    odd = tmp_path / "whatever.txt"
    shutil.copy(_path("a100_resnet_fp16"), odd)
    graph = cnnvis.graph(cnnvis.load(odd))
    assert len(_layers(graph)) == 36
    assert all(n["latency_ms"] is None for n in _layers(graph))  # no profile beside it
    log = tmp_path / "build_log"
    shutil.copy(FIXTURES / "orin_trtexec" / "trt.out", log)
    assert len(_layers(cnnvis.graph(cnnvis.load(log)))) == 86


def test_profile_discovery_beside_in_folder_and_explicit(tmp_path):
    src = FIXTURES / "a100_resnet_fp32"
    shutil.copy(src / "resnet.onnx.engine.graph.json", tmp_path / "net.graph.json")
    shutil.copy(src / "resnet.onnx.engine.profile.json", tmp_path / "profile.json")  # the folder's profile.json
    assert cnnvis.load(tmp_path / "net.graph.json").model.profile_path.endswith("profile.json")
    shutil.copy(FIXTURES / "a100_resnet_fp16" / "resnet.onnx.engine.profile.json", tmp_path / "net.profile.json")
    beside = cnnvis.load(tmp_path / "net.graph.json").model
    assert beside.profile_path.endswith("net.profile.json")  # X.profile.json wins
    assert beside.unjoined_profile  # (the fp16 profile's names do not all exist in the fp32 engine)
    explicit = cnnvis.load(tmp_path / "net.graph.json", profile=src / "resnet.onnx.engine.profile.json").model
    assert explicit.unjoined_profile == [] and explicit.sum_of_averages_ms() == pytest.approx(2.123776)


def test_timing_and_metadata_are_read():
    export = cnnvis.load(_path("a100_resnet_fp16")).model
    assert len(export.timing_ms) == 3698
    assert export.metadata["device"]["Name"] == "NVIDIA A100 80GB PCIe"
    assert "build_options" in export.metadata["build"]


def test_multi_profile_engines_keep_every_profile_apart(tmp_path):
    # No fixture has two optimization profiles; derive one: profile 1 repeats every layer with a suffix.
    data = json.loads(_path("a100_resnet_fp32").read_text())
    second = json.loads(json.dumps(data["Layers"]))
    for layer in second:
        layer["Name"] += " [profile 1]"
        for tensor in layer["Inputs"] + layer["Outputs"]:
            tensor["Name"] += " [profile 1]"
    data["Layers"] += second
    data["Bindings"] += [b + " [profile 1]" for b in data["Bindings"]]
    path = tmp_path / "two.graph.json"
    path.write_text(json.dumps(data))
    graph = cnnvis.graph(cnnvis.load(path))
    layers = _layers(graph)
    assert len(layers) == 64
    assert {n["profile"] for n in layers} == {None, 1}
    twin = graph.node("Conv_0 + Relu_1 [profile 1]")
    assert twin["source_nodes"] == ["Conv_0", "Relu_1"]
    assert ("Conv_0 + Relu_1 [profile 1]", "MaxPool_2 [profile 1]") in graph.edges
    assert ("Conv_0 + Relu_1", "MaxPool_2 [profile 1]") not in graph.edges


def _truncated(src, tmp_path, fraction=0.5):
    text = src.read_text()
    out = tmp_path / src.name
    out.write_text(text[: int(len(text) * fraction)])
    return out


@pytest.mark.parametrize("what", ["graph", "profile", "timing"])
def test_truncated_json_names_the_file_and_the_problem(tmp_path, what):
    src = FIXTURES / "a100_resnet_fp16"
    for name in ("graph", "profile", "timing"):
        shutil.copy(src / f"resnet.onnx.engine.{name}.json", tmp_path / f"resnet.onnx.engine.{name}.json")
    broken = _truncated(src / f"resnet.onnx.engine.{what}.json", tmp_path)
    with pytest.raises(CnnvisError, match="not valid JSON") as info:
        cnnvis.load(tmp_path / "resnet.onnx.engine.graph.json")
    assert broken.name in str(info.value) and "truncated" in str(info.value)


@pytest.mark.parametrize("edit, problem", [
    (lambda d: d["Layers"][3].pop("Name"), "layer 3 has no 'Name'"),
    (lambda d: d["Layers"][1].update(Inputs="oops"), "malformed 'Inputs'"),
    (lambda d: d.update(Layers=[]), "'Layers' is empty"),
    (lambda d: d.update(Bindings=[1, 2]), "'Bindings' must be a list"),
])
def test_hand_broken_graph_names_the_file_and_the_problem(tmp_path, edit, problem):
    data = json.loads(_path("a100_resnet_fp16").read_text())
    edit(data)
    path = tmp_path / "broken.graph.json"
    path.write_text(json.dumps(data))
    with pytest.raises(CnnvisError, match=problem) as info:
        cnnvis.load(path)
    assert "broken.graph.json" in str(info.value)


def test_hand_broken_profile_names_the_file(tmp_path):
    shutil.copy(_path("a100_resnet_fp16"), tmp_path / "e.graph.json")
    (tmp_path / "e.profile.json").write_text(json.dumps([{"count": 1}, {"name": "Conv_0 + Relu_1", "averageMs": "x"}]))
    with pytest.raises(CnnvisError, match="record 1 is not a per-layer timing") as info:
        cnnvis.load(tmp_path / "e.graph.json")
    assert "e.profile.json" in str(info.value)


@pytest.mark.parametrize("cut, problem", [
    (lambda lines: [ln for ln in lines if "Engine Layer Information" not in ln], "without the 'Engine Layer Information"),
    (lambda lines: lines[: next(i for i, ln in enumerate(lines) if ln.startswith("Layer(CaskPooling)")) + 1]
     + [lines[next(i for i, ln in enumerate(lines) if ln.startswith("Layer(CaskPooling)")) + 1][:70]], "line "),
    (lambda lines: lines[: next(i for i, ln in enumerate(lines) if " Total " in ln and "4441" in ln)],
     "no Total row"),
])
def test_broken_trtexec_logs_name_the_file_and_the_problem(tmp_path, cut, problem):
    lines = (FIXTURES / "orin_trtexec" / "trt.out").read_text().splitlines()
    path = tmp_path / "trt.out"
    path.write_text("\n".join(cut(lines)) + "\n")
    with pytest.raises(CnnvisError, match=problem) as info:
        cnnvis.load(path)
    assert "trt.out" in str(info.value)


def test_profile_timing_and_metadata_alone_say_what_to_load(tmp_path):
    src = FIXTURES / "a100_resnet_fp16"
    for name, kind in (("profile", "profile"), ("timing", "timing"), ("build.metadata", "metadata")):
        with pytest.raises(UnsupportedFileError, match=f"TensorRT {kind} export") as info:
            cnnvis.load(src / f"resnet.onnx.engine.{name}.json")
        assert "graph.json" in str(info.value)


def test_other_json_is_left_to_other_loaders(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"labels": ["a"]}))
    with pytest.raises(UnsupportedFileError, match="No loader recognises"):
        cnnvis.load(path)


def test_exports_refuse_activations_and_cams_and_name_what_works():
    handle = cnnvis.load(_path("a100_resnet_fp16"))
    np = pytest.importorskip("numpy")
    x = np.zeros((1, 3, 224, 224), dtype=np.float32)
    for call in (lambda: cnnvis.activations(handle, x), lambda: cnnvis.explain(handle, x, method="eigencam")):
        with pytest.raises(CnnvisError, match="no weights and no activations") as info:
            call()
        assert all(m in str(info.value) for m in ("eigencam", "scorecam", "ablationcam"))


def test_serialized_engine_without_tensorrt_says_how_to_export(tmp_path):
    pytest.importorskip("importlib")
    import importlib.util

    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("tensorrt is installed here; this checks the message shown where it is not")
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"ftrt\x00\x01binary plan")
    with pytest.raises(UnsupportedFileError, match="tensorrt is not installed") as info:
        cnnvis.load(engine)
    assert "--exportLayerInfo" in str(info.value) and "profilingVerbosity=detailed" in str(info.value)


def test_live_engine_path_where_tensorrt_and_cuda_exist(tmp_path):
    trt = pytest.importorskip("tensorrt", reason="tensorrt is not installed: the live .engine path cannot run here")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device: TensorRT engines only deserialize on a GPU")
    assert trt.__version__  # building an engine needs an ONNX model and minutes of GPU time; see docs/tensorrt.md
