"""Engine layers mapped back onto the ONNX graph: the A100 engines are torchvision resnet18 as
older exporters named it (``Conv_0``, ``Relu_1``, ..., ``Gemm_48``); export it here and check."""

from __future__ import annotations

import pytest
from helpers import legacy_resnet18_onnx, shared_fixture_dir

import cnnvis
from cnnvis import CnnvisError

FIXTURES = shared_fixture_dir("tensorrt")
pytestmark = pytest.mark.skipif(FIXTURES is None, reason="recorded TensorRT fixtures not found")
ENGINES = ["a100_resnet_fp32", "a100_resnet_fp16"]


@pytest.fixture(scope="module")
def resnet18_onnx():
    """torchvision resnet18 (eval, random weights) exported to ONNX, nodes renamed ``{OpType}_{index}``
    in topological order, Identity/Constant skipped, as the exporter the engines came from did."""
    for module in ("torch", "torchvision", "onnx"):
        pytest.importorskip(module)
    return legacy_resnet18_onnx()


def _engine(folder):
    return cnnvis.load(next((FIXTURES / folder).glob("*.graph.json")))


def test_renamed_export_has_every_source_name_of_the_fp16_engine(resnet18_onnx):
    names = {n.name for n in resnet18_onnx.graph.node}
    graph = cnnvis.graph(_engine("a100_resnet_fp16"))
    sources = {s for n in graph.nodes if n["kind"] == "layer" for s in n["source_nodes"]}
    assert len(sources) == 48
    assert sources <= names
    assert "Gemm_48" in names and "Flatten_47" in names


@pytest.mark.parametrize("folder", ENGINES)
def test_every_compute_layer_maps_and_reformats_are_engine_only(resnet18_onnx, folder, tmp_path):
    engine = _engine(folder)
    layers = [n for n in cnnvis.graph(engine).nodes if n["kind"] == "layer"]
    painted = cnnvis.graph(engine, source=resnet18_onnx)
    compute = [n for n in layers if n["source_nodes"]]
    assert {n["id"] for n in compute} == set(painted.mapping)
    for layer in compute:
        assert painted.mapping[layer["id"]] == layer["source_nodes"]
    assert painted.unmatched == {}
    reformats = [n["id"] for n in layers if n["name"].startswith("Reformatting CopyNode")]
    engine_only = {e["layer"]: e for e in painted.engine_only}
    assert reformats and set(reformats) <= set(engine_only)
    assert all(engine_only[r]["kind"] == "reformat" for r in reformats)
    assert set(engine_only) == {n["id"] for n in layers if not n["source_nodes"]}
    # painted nodes carry the latency of the layer they were fused into
    by_id = {n["id"]: n for n in painted.nodes}
    conv0 = next(n for n in layers if n["id"] == "Conv_0 + Relu_1")
    for node_id in ("Conv_0", "Relu_1"):
        assert by_id[node_id]["engine_layer"] == "Conv_0 + Relu_1"
        assert by_id[node_id]["latency_ms"] == pytest.approx(conv0["latency_ms"])
        assert by_id[node_id]["precision"] == conv0["precision"]
    assert by_id["Conv_0"]["fused_with"] == ["Relu_1"]
    shares = sum(n["latency_share_ms"] or 0 for n in painted.nodes)
    assert shares == pytest.approx(sum(n["latency_ms"] for n in compute))
    # ONNX nodes no layer names: the weight Identities and the Flatten that the Gemm swallowed
    assert "Flatten_47" in painted.unclaimed
    assert all(by_id[n]["type"] in ("Identity", "Flatten") for n in painted.unclaimed)
    # the same result from a file path, and JSON-serialisable
    path = tmp_path / "resnet18.onnx"
    path.write_bytes(resnet18_onnx.SerializeToString())
    again = cnnvis.graph(engine, source=str(path))
    assert again.mapping == painted.mapping and again.unclaimed == painted.unclaimed
    assert set(again.to_dict()) >= {"nodes", "edges", "mapping", "engine_only", "unclaimed"}


def test_foreign_node_ranges_claim_the_span_between_their_ends():
    from cnnvis.adapters.tensorrt import TensorRTExport, paint_source
    from cnnvis.graph_model import Graph, make_node

    ops = ["/head/Constant_2", "/head/Mul", "/head/Add", "/Unsqueeze_2", "/Split_2", "/Concat_1"]
    source = Graph(nodes=[make_node(o, type=o.rsplit("/", 1)[-1], kind="op", parent=None) for o in ops],
                   edges=list(zip(ops, ops[1:], strict=False)), framework="onnx")
    layer = {"Name": "{ForeignNode[/head/Constant_2_output_0.../Unsqueeze_2]}", "LayerType": "Myelin",
             "Inputs": [], "Outputs": []}
    export = TensorRTExport("x.graph.json", "layer export", [layer], [])
    painted = paint_source(export, source)
    assert painted.mapping == {layer["Name"]: ops[:4]}
    assert painted.unclaimed == ["/Split_2", "/Concat_1"]


def test_source_is_refused_for_models_without_one():
    torch = pytest.importorskip("torch")
    with pytest.raises(CnnvisError, match="source="):
        cnnvis.graph(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3)), source="model.onnx")
    with pytest.raises(CnnvisError, match="No such ONNX file"):
        cnnvis.graph(_engine("a100_resnet_fp16"), source="missing.onnx")
