"""cnnvis.compare: torchvision resnet18 against its own ONNX export, an INT8 build and a copy
with one planted fault."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import cnnvis
from cnnvis import CnnvisError

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

SIZE = 64  # small images keep resnet18 fast; every layer still has a spatial output
FAULTY = "/layer2/layer2.1/conv1/Conv"


@pytest.fixture(scope="module")
def resnet(tmp_path_factory):
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    folder = tmp_path_factory.mktemp("compare")
    path = folder / "resnet18.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.zeros(1, 3, SIZE, SIZE), str(path), dynamo=False, input_names=["input"],
                          output_names=["logits"], dynamic_axes={"input": {0: "n"}, "logits": {0: "n"}})
    x = np.random.default_rng(0).random((8, 3, SIZE, SIZE), dtype=np.float32)
    return model, cnnvis.load(path), x, folder  # one handle: its onnxruntime sessions are built once


def _compute_layers(model) -> list[str]:
    kinds = (torch.nn.Conv2d, torch.nn.Linear, torch.nn.MaxPool2d, torch.nn.AdaptiveAvgPool2d)
    return [name for name, module in model.named_modules() if isinstance(module, kinds)]


def test_torch_and_its_onnx_export_agree_on_every_compute_layer(resnet):
    model, path, x, _ = resnet
    result = cnnvis.compare(model, path, x, names=("torch", "onnx"), method="eigencam", progress=False)
    assert result.alignment == "names"
    compute = {r["layer"]: r for r in result.rows if r["compute"]}
    assert sorted(compute) == sorted(_compute_layers(model))  # 20 convs, fc and both poolings
    assert all(r["cosine"] >= 0.9999 for r in compute.values()), min(r["cosine"] for r in compute.values())
    assert compute["layer1.0.conv1"]["layer_b"] == "/layer1/layer1.0/conv1/Conv"
    assert not [n for n in result.unaligned["onnx"] if n.endswith(("Conv", "Gemm", "Pool"))]
    assert result.summary["top1_agreement"] == 1.0 and "retention" not in result.summary
    assert len(result.explanations) == len(x)
    assert all(r["spearman"] > 0.99 for r in result.explanations)  # the same evidence in both
    frame = result.to_pandas()
    assert {"layer", "layer_b", "op_type", "cosine", "relative_error", "max_abs_error"} <= set(frame.columns)


def test_int8_build_ranked_with_retention(resnet, tmp_path):
    model, path, x, _ = resnet
    from cnnvis.precision import quantize_onnx

    int8 = quantize_onnx(path.path, tmp_path / "resnet18.int8.onnx", x)
    labels = model(torch.from_numpy(x)).argmax(1).numpy()  # the FP32 model's own answers
    result = cnnvis.compare(path, int8, x, labels=labels, names=("fp32", "int8"), latency=True, progress=False)
    print(f"INT8 retention {result.summary['retention']:.4f}, top-1 agreement {result.summary['top1_agreement']:.4f}")
    assert result.summary["accuracy_fp32"] == 1.0
    assert result.summary["retention"] == result.summary["accuracy_int8"]
    assert result.summary["retention_ok"] == (result.summary["retention"] >= 0.98)
    assert sorted(r["rank"] for r in result) == list(range(1, len(result) + 1))
    assert result.summary["ranked"] == [r["layer"] for r in result.ranked]
    assert all(0 < r["relative_error"] and r["cosine"] < 1.0 for r in result if r["op_type"] == "Conv")
    assert result.ranked[0]["damage"] >= result.ranked[-1]["damage"]
    assert result.unaligned == {"fp32": [], "int8": []}  # the folded Relus are part of their Conv rows
    timed = [r for r in result if r["op_type"] == "Conv" and r["latency_a"] and r["latency_b"]]
    assert len(timed) >= 10  # both builds' kernels traced back to their layers


def test_planted_fault_is_ranked_first(resnet, tmp_path):
    model, path, x, _ = resnet
    proto = onnx.load(path.path)
    node = next(n for n in proto.graph.node if n.name == FAULTY)
    weight = next(t for t in proto.graph.initializer if t.name == node.input[1])
    weight.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(weight) * 3, weight.name))
    faulty = tmp_path / "faulty.onnx"
    onnx.save(proto, str(faulty))
    result = cnnvis.compare(model, faulty, x, progress=False)
    assert result.ranked[0]["layer_b"] == FAULTY and result.ranked[0]["layer"] == "layer2.1.conv1"
    later = [r for r in result.ranked[1:] if r["layer"].startswith(("layer3", "layer4"))]
    assert later and all(r["relative_error"] > 0.01 for r in later)  # the fault spreads, but is not theirs
    _check_picture(result, "layer2.1.conv1")


def _check_picture(result, planted):
    """The painted graph: every layer of model a drawn once, the planted fault in the strongest colour."""
    import xml.etree.ElementTree as ET

    from cnnvis.comparison.picture import damage_color

    picture = result.paint(kept=[planted])
    svg = ET.fromstring(picture._repr_svg_())
    nodes = {g.get("data-layer"): g for g in svg.iter("{http://www.w3.org/2000/svg}g")}
    assert list(nodes) == [name for name, _, _ in result.layers] and len(nodes) >= 20
    fills = {name: g.find("{http://www.w3.org/2000/svg}rect").get("fill") for name, g in nodes.items()}
    strongest = damage_color(1.0, 1.0)
    assert picture.strongest == planted and fills[planted] == strongest
    assert [name for name, fill in fills.items() if fill == strongest] == [planted]
    assert nodes[planted].find("{http://www.w3.org/2000/svg}rect").get("stroke-width") == "3"  # kept in float
    quiet = result.paint(threshold=0.5)  # only layers with at least half the largest damage stay painted
    assert planted in quiet.colors and len(quiet.colors) < len(picture.colors)


def test_picture_shows_names_as_text():
    from cnnvis.comparison.picture import paint

    hostile = '<img src=x onerror="alert(1)">'
    layers = [("conv", "Conv", ()), (hostile, "Relu", ("conv",))]
    rows = [{"layer": "conv", "damage": 0.2, "rank": 2, "cosine": 0.9},
            {"layer": hostile, "damage": 0.5, "rank": 1, "cosine": 0.8}]
    svg = paint(layers, rows, ("a", "<b>"), unaligned=[], kept=[hostile]).svg
    assert "<img" not in svg and "<b>" not in svg and "&lt;img src=x" in svg


def test_compute_order_alignment_and_mapping(resnet, tmp_path):
    model, path, x, _ = resnet
    proto = onnx.load(path.path)
    for i, node in enumerate(proto.graph.node):
        node.name = f"{node.op_type}_{i}"  # names an older exporter gave: nothing shared with torch
    renamed = tmp_path / "renamed.onnx"
    onnx.save(proto, str(renamed))
    result = cnnvis.compare(model, renamed, x[:2], progress=False)
    assert result.alignment == "compute order"
    assert sorted(r["layer"] for r in result) == sorted(_compute_layers(model))
    assert all(r["cosine"] >= 0.9999 for r in result)
    first_conv = next(n.name for n in proto.graph.node if n.op_type == "Conv")
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"conv1": first_conv, "fc": next(n.name for n in proto.graph.node
                                                                 if n.op_type == "Gemm")}))
    mapped = cnnvis.compare(model, renamed, x[:2], mapping=mapping, progress=False)
    assert mapped.alignment == "mapping" and [r["layer"] for r in mapped] == ["conv1", "fc"]
    assert all(r["cosine"] >= 0.9999 for r in mapped)
    gemm = next(n.name for n in proto.graph.node if n.op_type == "Gemm")
    odd = cnnvis.compare(model, renamed, x[:2], mapping={"conv1": first_conv, "layer1.0.conv1": gemm}, progress=False)
    assert [r["layer"] for r in odd] == ["conv1"]  # a conv's maps against the logits have no common layout
    assert odd.summary["shape_mismatch"] == [["layer1.0.conv1", gemm]] and "layer1.0.conv1" in odd.unaligned["a"]


def test_channels_last_inputs_and_bad_requests(resnet):
    model, path, x, _ = resnet
    nhwc = np.ascontiguousarray(x[:2].transpose(0, 2, 3, 1))
    result = cnnvis.compare(model, path, nhwc, progress=False)  # each side reads its own layout
    assert len(result) > 20 and all(r["cosine"] >= 0.9999 for r in result if r["compute"])
    with pytest.raises(CnnvisError, match="names must be two distinct"):
        cnnvis.compare(model, path, x[:1], names=("a", "a"))
    with pytest.raises(CnnvisError, match="no layer of"):
        cnnvis.compare(model, path, x[:1], mapping={"conv1": "nope"})
    with pytest.raises(CnnvisError, match="labels has 3 entries"):
        cnnvis.compare(model, path, x[:2], labels=[0, 1, 2], progress=False)
    cancelled = cnnvis.compare
    with pytest.raises(cnnvis.CancelledError):
        cancelled(model, path, x[:2], cancel=lambda: True)
