"""ONNX models whose weights live in external data files too large to read into the proto (over
protobuf's 2 GB): the proto keeps its references and onnxruntime reads the files from the model's
folder (or, for weights changed in memory, from buffers). Here a small model takes that path
(``map_external_above=0``) and must give what the same model gives when loaded the ordinary way,
and what onnxruntime gives on it directly."""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pytest

import cnnvis
from cnnvis import UnsafeFileError, UnsupportedFileError

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from cnnvis.adapters.base import resolve_adapter  # noqa: E402
from cnnvis.adapters.onnx import external  # noqa: E402


def _export(model, path, size):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.rand(1, 3, size, size),), str(path), dynamo=False, input_names=["input"],
                          output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})


def _save_external(source, folder):
    folder.mkdir()
    onnx.save_model(onnx.load(str(source)), str(folder / "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    return folder / "model.onnx"


@pytest.fixture(scope="module")
def resnet(tmp_path_factory):
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("large")
    _export(torchvision.models.resnet18().eval(), root / "resnet18.onnx", 64)
    path = _save_external(root / "resnet18.onnx", root / "external")
    x = np.random.default_rng(0).random((2, 3, 64, 64), dtype=np.float32)
    return root / "resnet18.onnx", path, x, cnnvis.load(root / "resnet18.onnx"), cnnvis.load(path, map_external_above=0)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.manual_seed(0)
    # every weight over INLINE_BYTES: they stay in the file (biases and the shape constant are read in)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(16, 16, 3, padding=1),
                              torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(16, 32))
    root = tmp_path_factory.mktemp("tiny")
    _export(net.eval(), root / "tiny.onnx", 16)
    return root, _save_external(root / "tiny.onnx", root / "external")


def test_the_mapped_proto_holds_references_not_weights(resnet):
    _, path, _, plain, mapped = resnet
    data = (path.parent / "weights.bin").stat().st_size
    assert mapped.model.external is not None and plain.model.external is None
    assert data > 40_000_000 and mapped.model.proto.ByteSize() < 200_000 < plain.model.proto.ByteSize()
    assert all(len(t.raw_data) <= external.INLINE_BYTES for t in mapped.model.proto.graph.initializer)
    big = [t for t in mapped.model.proto.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    assert len(big) > 20  # the convolutions' weights stay in the file
    # parameter counts come from the tensors' dims: the same whether the data is in the proto or not
    params = {n["id"]: (n["params"], n["output_shape"]) for n in cnnvis.graph(plain).nodes}
    assert {n["id"]: (n["params"], n["output_shape"]) for n in cnnvis.graph(mapped).nodes} == params
    params = {k: p for k, (p, _) in params.items()}
    assert sum(params.values()) > 11_000_000
    assert cnnvis.load(path).model.external is None  # small enough: read into the proto as before


def test_activations_and_scores_equal_the_plain_model_and_onnxruntime(resnet):
    source, _, x, plain, mapped = resnet
    layers = ["layer1", "layer3", "layer4", "/conv1/Conv"]
    ours, theirs = cnnvis.activations(mapped, x, layers), cnnvis.activations(plain, x, layers)
    for name in layers:
        np.testing.assert_allclose(ours[name], theirs[name], rtol=0, atol=1e-6)
    session = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"input": x})
    np.testing.assert_allclose(resolve_adapter(mapped).outputs(x), logits, rtol=0, atol=1e-5)


@pytest.mark.parametrize("method", ["eigencam", "scorecam", "ablationcam"])
def test_gradient_free_maps_equal_the_plain_model(resnet, method):
    _, _, x, plain, mapped = resnet
    # one image on layer3 for the masked/ablated passes: the cut graph after it holds layer4's weights
    batch, layer = (x, "layer4") if method == "eigencam" else (x[:1], "layer3")
    ours = cnnvis.explain(mapped, batch, method=method, layer=layer, batch_size=256, progress=False)
    theirs = cnnvis.explain(plain, batch, method=method, layer=layer, batch_size=256, progress=False)
    assert ours.targets == theirs.targets and ours.maps.shape == (len(batch), 64, 64)
    np.testing.assert_allclose(ours.maps, theirs.maps, rtol=0, atol=1e-5)


def test_profile_runs_on_mapped_weights(resnet):
    _, _, x, _, mapped = resnet
    table = cnnvis.profile(mapped, x[:1], runs=1, warmup=0)
    assert "/conv1/Conv" in {row["node"] for row in table}


def test_sanity_check_randomises_mapped_weights_in_memory(tiny):
    root, path = tiny
    weights = path.parent / "weights.bin"
    before = hashlib.sha256(weights.read_bytes()).hexdigest()
    x = np.random.default_rng(1).random((2, 3, 16, 16), dtype=np.float32)
    mapped = cnnvis.sanity_check(cnnvis.load(path, map_external_above=0), x, progress=False)
    plain = cnnvis.sanity_check(cnnvis.load(root / "tiny.onnx"), x, progress=False)
    assert mapped.layers == plain.layers and len(mapped.layers) == 3
    np.testing.assert_allclose(mapped.spearman, plain.spearman, atol=1e-6)
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == before  # fresh weights never reach the file


@pytest.mark.parametrize("limit", [0, None])
def test_truncated_data_file_is_refused(tiny, tmp_path, limit):
    _, path = tiny
    folder = tmp_path / "cut"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(path.read_bytes())
    data = (path.parent / "weights.bin").read_bytes()
    (folder / "weights.bin").write_bytes(data[: len(data) - 100])
    with pytest.raises(UnsupportedFileError, match="truncated"):
        cnnvis.load(folder / "model.onnx", map_external_above=limit)


def test_data_file_outside_the_folder_is_refused(tiny, tmp_path):
    _, path = tiny
    folder = tmp_path / "inner"
    folder.mkdir()
    (tmp_path / "weights.bin").write_bytes((path.parent / "weights.bin").read_bytes())
    proto = onnx.load(str(path), load_external_data=False)
    for tensor in proto.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = "../weights.bin"
    onnx.save_model(proto, str(folder / "model.onnx"))
    with pytest.raises(UnsafeFileError, match="outside the model's folder"):
        cnnvis.load(folder / "model.onnx", map_external_above=0)


def test_values_of_data_the_model_was_not_opened_with_are_refused(tiny):
    _, path = tiny
    proto = onnx.load(str(path), load_external_data=False)
    tensor = next(t for t in proto.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL)
    with pytest.raises(cnnvis.CnnvisError, match="not opened with"):
        external.ExternalData().read(tensor)


def test_quantizing_a_model_past_protobufs_limit_is_refused(tiny, tmp_path, monkeypatch):
    from cnnvis.adapters.onnx import serialized_bytes
    from cnnvis.comparison import int8

    root, path = tiny
    whole = onnx.load(str(root / "tiny.onnx")).ByteSize()
    assert abs(serialized_bytes(onnx.load(str(path), load_external_data=False)) - whole) < 0.05 * whole
    x = np.random.default_rng(2).random((2, 3, 16, 16), dtype=np.float32)
    monkeypatch.setattr(int8, "PROTOBUF_LIMIT", whole // 2)  # our own limit, lowered: no 2 GiB file in tests
    with pytest.raises(cnnvis.CnnvisError, match="at most 2 GiB.*use_external_data_format=True"):
        int8.quantize_onnx(path, tmp_path / "int8.onnx", x)
