"""The ONNX adapter against the PyTorch model it was exported from (torchvision resnet18)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from helpers import pearson, shared_fixture_dir

import cnnvis
from cnnvis import CnnvisError, UnsafeFileError, UnsupportedFileError

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


@pytest.fixture(scope="module")
def resnet(tmp_path_factory):
    torch.manual_seed(0)
    model = torchvision.models.resnet18().eval()
    x = torch.randn(2, 3, 64, 64)
    path = tmp_path_factory.mktemp("onnx") / "resnet18.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x[:1],), str(path), dynamo=False, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    return model, x, path, cnnvis.load(path)


def test_graph_has_every_onnx_node(resnet):
    _, _, path, handle = resnet
    graph = cnnvis.graph(handle)
    ops = [n for n in graph.nodes if n["kind"] in ("layer", "op")]
    assert len(ops) == len(onnx.load(str(path)).graph.node)
    assert cnnvis.explain.__module__ == "cnnvis.api" and handle.format == "onnx"


def test_activations_equal_pytorch(resnet):
    model, x, _, handle = resnet
    layers = ["layer1", "layer2", "layer3", "layer4"]  # groups of ONNX nodes, named as the torch modules
    ours = cnnvis.activations(handle, x.numpy(), layers)
    theirs = cnnvis.activations(model, x, layers)
    for name in layers:
        assert ours[name].shape == theirs[name].shape
        np.testing.assert_allclose(ours[name], theirs[name], atol=1e-4, rtol=0)
    every = cnnvis.activations(handle, x.numpy()[:1])
    assert "/conv1/Conv" in every and all(a.ndim == 4 for a in every.values())


@pytest.mark.parametrize("method", ["eigencam", "scorecam", "ablationcam"])
def test_gradient_free_maps_equal_pytorch(resnet, method):
    model, x, _, handle = resnet
    ours = cnnvis.explain(handle, x.numpy(), method=method, batch_size=256, progress=False)
    theirs = cnnvis.explain(model, x, method=method, layer="layer4", batch_size=256, progress=False)
    assert ours.layer == "layer4" and ours.targets == theirs.targets
    assert pearson(ours.maps, theirs.maps) >= 0.999
    np.testing.assert_allclose(ours.outputs, theirs.outputs, atol=1e-4)


def test_replaying_a_layer_inside_a_residual_block_reproduces_the_scores(resnet):
    _, x, _, handle = resnet
    adapter = cnnvis.adapters.base.resolve_adapter(handle)
    single = adapter.prepare_inputs(x.numpy()[:1])
    layer = "/layer3/layer3.1/relu/Relu"  # its block adds a skip connection from before this layer
    act = adapter.activations(single, [layer])[layer]
    logits = adapter.outputs(single)
    target = [int(logits.argmax())] * 3
    replayed = adapter.target_scores_with_layer(single, layer, np.repeat(act, 3, axis=0), target)
    np.testing.assert_allclose(replayed, logits[0, target[0]], rtol=1e-5, atol=1e-4)
    zeroed = act.copy()
    zeroed[:, :8] = 0
    assert not np.isclose(adapter.target_scores_with_layer(single, layer, zeroed, target[:1])[0], replayed[0])


def test_gradient_methods_are_refused_and_eigencam_is_the_default(resnet):
    _, x, _, handle = resnet
    with pytest.raises(CnnvisError, match="gradcam needs gradients.*ablationcam, eigencam, .*scorecam"):
        cnnvis.explain(handle, x.numpy(), method="gradcam")
    assert cnnvis.explain(handle, x.numpy(), progress=False).method == "eigencam"


def test_tensorrt_exports_default_to_eigencam_and_refuse_gradients():
    fixtures = shared_fixture_dir("tensorrt")
    if fixtures is None:
        pytest.skip("recorded TensorRT fixtures not found")
    engine = cnnvis.load(next((fixtures / "a100_resnet_fp16").glob("*.graph.json")))
    with pytest.raises(CnnvisError, match="gradcam needs gradients.*eigencam"):
        cnnvis.explain(engine, np.zeros((1, 3, 8, 8), np.float32), method="gradcam")
    from cnnvis.cam.engine import default_method

    assert default_method(cnnvis.adapters.base.resolve_adapter(engine)) == "eigencam"
    table = cnnvis.profile(engine)
    assert len(table) > 0 and table.totals["nodes_ms"] == pytest.approx(sum(r["mean_ms"] for r in table))


def test_profile_total_is_reconciled_with_model_run(resnet):
    _, x, _, handle = resnet
    table = cnnvis.profile(handle, x.numpy()[:1], runs=3, warmup=1)
    nodes = {n["id"] for n in cnnvis.graph(handle).nodes}
    assert table.totals["runs"] == 3 and len(table.runs) == 3
    assert table.totals["nodes_ms"] == pytest.approx(sum(r["mean_ms"] for r in table), rel=1e-9)
    assert sum(r["pct"] for r in table) == pytest.approx(100)
    for run in table.runs:  # every kernel lies inside its model_run: the rest is the runtime's own work
        assert 0 < run["nodes_ms"] <= run["model_run_ms"]
        assert run["overhead_ms"] == pytest.approx(run["model_run_ms"] - run["nodes_ms"])
    assert all(r["source_nodes"] and set(r["source_nodes"]) <= nodes for r in table)
    assert {"nodes_ms", "model_run_ms", "overhead_ms"} <= set(table.notes)


def test_trace_parsing_groups_kernels_by_model_run():
    from cnnvis.adapters.onnx import table_from_trace

    model = _tiny_model()
    def run(ts, dur):
        return {"cat": "Session", "name": "model_run", "ts": ts, "dur": dur}

    def kernel(name, ts, dur):
        return {"cat": "Node", "name": f"{name}_kernel_time", "ts": ts, "dur": dur,
                "args": {"op_name": "Conv", "provider": "CPUExecutionProvider"}}

    events = [run(0, 500), kernel("conv", 10, 400),  # the warm-up run, dropped
              run(1000, 300), kernel("conv", 1010, 100), kernel("relu", 1120, 50),
              run(2000, 400), kernel("conv", 2010, 200), kernel("relu", 2220, 150)]
    table = table_from_trace(events, model, ["conv", "relu"], warmup=1)
    assert table.totals["model_run_ms"] == pytest.approx(0.35)
    assert table.totals["nodes_ms"] == pytest.approx(0.25)
    assert table.totals["overhead_ms"] == pytest.approx(0.10)
    assert {r["node"]: r["mean_ms"] for r in table} == pytest.approx({"conv": 0.15, "relu": 0.10})


def test_external_data_only_from_the_models_folder(tmp_path):
    model = _tiny_model()
    folder = tmp_path / "models"
    folder.mkdir()
    path = folder / "tiny.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, location="tiny.weights", size_threshold=0)
    h = cnnvis.load(path)
    assert cnnvis.activations(h, np.ones((1, 2, 4, 4), np.float32))["conv"].shape == (1, 3, 4, 4)
    escaped = onnx.load(str(path), load_external_data=False)
    for tensor in escaped.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = "../secret.bin"
    (tmp_path / "secret.bin").write_bytes((folder / "tiny.weights").read_bytes())
    onnx.save_model(escaped, str(folder / "escape.onnx"))
    with pytest.raises(UnsafeFileError, match="outside the model's folder") as refused:
        cnnvis.load(folder / "escape.onnx")
    assert str(tmp_path) not in str(refused.value)  # the message may reach a server's client: no paths


def test_corrupt_and_truncated_files_are_refused(resnet, tmp_path):
    _, _, path, _ = resnet
    data = path.read_bytes()
    (tmp_path / "cut.onnx").write_bytes(data[: len(data) // 3])
    (tmp_path / "junk.onnx").write_bytes(b"\x08\x07not a protobuf\xff\xff\xff")
    for name in ("cut.onnx", "junk.onnx"):
        with pytest.raises(UnsupportedFileError, match=name):
            cnnvis.load(tmp_path / name)


def test_channels_last_models_are_read_along_the_right_axes():
    h = cnnvis.adapters.onnx.OnnxModel(_tiny_model(nhwc=True))
    x = np.random.default_rng(0).random((1, 4, 4, 2), np.float32)
    acts = cnnvis.activations(h, x, ["conv", "back"])
    np.testing.assert_allclose(acts["back"], np.maximum(acts["conv"], 0), atol=1e-6)
    assert cnnvis.explain(h, x, progress=False).maps.shape == (1, 4, 4)
    with pytest.raises(CnnvisError, match="cannot identify"):
        cnnvis.activations(h, x, ["reshaped"])


def test_fixed_batch_models_run_in_chunks():
    h = cnnvis.adapters.onnx.OnnxModel(_tiny_model())
    x = np.random.default_rng(1).random((3, 2, 4, 4), np.float32)
    exp = cnnvis.explain(h, x, method="scorecam", progress=False)
    assert exp.maps.shape == (3, 4, 4)


def _tiny_model(nhwc: bool = False):
    """Conv(2->3) + Relu + mean-pool + Gemm, batch fixed to 1; with ``nhwc`` the input is channels-last
    and the graph transposes around the conv, plus a 4-D Reshape whose axes nothing fixes."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((3, 2, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.standard_normal((4, 3)).astype(np.float32), "fc"),
             numpy_helper.from_array(np.array([1, 4, 4, 3], np.int64), "shape4")]
    first = "x"
    nodes = []
    if nhwc:
        nodes.append(helper.make_node("Transpose", ["x"], ["x_nchw"], name="to_nchw", perm=[0, 3, 1, 2]))
        first = "x_nchw"
    nodes += [helper.make_node("Conv", [first, "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
              helper.make_node("Relu", ["c"], ["r"], name="relu")]
    if nhwc:
        nodes += [helper.make_node("Transpose", ["r"], ["r_nhwc"], name="back", perm=[0, 2, 3, 1]),
                  helper.make_node("Reshape", ["r_nhwc", "shape4"], ["re"], name="reshaped")]
    nodes += [helper.make_node("GlobalAveragePool", ["r"], ["p"], name="pool"),
              helper.make_node("Flatten", ["p"], ["f"], name="flat"),
              helper.make_node("Gemm", ["f", "fc"], ["y"], name="fc", transB=1)]
    shape = [1, 4, 4, 2] if nhwc else [1, 2, 4, 4]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
