"""TensorRT layer names taken apart: hand-written expectations for real names from the fixtures."""

from __future__ import annotations

import json

import pytest
from helpers import shared_fixture_dir

from cnnvis.adapters.tensorrt import op_type, parse_layer_name

FIXTURES = shared_fixture_dir("tensorrt")
needs_fixtures = pytest.mark.skipif(FIXTURES is None, reason="recorded TensorRT fixtures not found")

# (real name, kind, nodes, quantize, initializers, internal, extra checks)
CASES = [
    ("Conv_0 + Relu_1", "fused", ["Conv_0", "Relu_1"], [], [], []),
    ("Conv_5 + Add_6 + Relu_7", "fused", ["Conv_5", "Add_6", "Relu_7"], [], [], []),
    ("MaxPool_2", "fused", ["MaxPool_2"], [], [], []),
    ("resnet50/conv1_conv/Conv2D__6", "fused", ["resnet50/conv1_conv/Conv2D__6"], [], [], []),
    ("Conv__435 + resnet50/conv1_relu/Relu", "fused", ["Conv__435", "resnet50/conv1_relu/Relu"], [], [], []),
    ("QuantizeLinear_2", "fused", ["QuantizeLinear_2"], ["QuantizeLinear_2"], [], []),
    ("conv1.weight + QuantizeLinear_7 + Conv_9", "fused", ["QuantizeLinear_7", "Conv_9"], ["QuantizeLinear_7"],
     ["conv1.weight"], []),
    ("features.1.conv.0.0.weight + QuantizeLinear_25 + Conv_29 + PWN(Clip_33)", "fused",
     ["QuantizeLinear_25", "Conv_29", "Clip_33"], ["QuantizeLinear_25"], ["features.1.conv.0.0.weight"], []),
    ("neck.detect1.conv1.conv.weight + /neck/detect1/conv1/conv/_weight_quantizer/QuantizeLinear + "
     "/neck/detect1/conv1/conv/Conv + PWN(/neck/detect1/conv1/relu/LeakyRelu)", "fused",
     ["/neck/detect1/conv1/conv/_weight_quantizer/QuantizeLinear", "/neck/detect1/conv1/conv/Conv",
      "/neck/detect1/conv1/relu/LeakyRelu"],
     ["/neck/detect1/conv1/conv/_weight_quantizer/QuantizeLinear"], ["neck.detect1.conv1.conv.weight"], []),
    ("PWN((Unnamed Layer* 112) [ElementWise], PWN(PWN((Unnamed Layer* 109) [Constant] + (Unnamed Layer* 110) "
     "[ElementWise], (Unnamed Layer* 111) [Unary]), (Unnamed Layer* 113) [ElementWise]))", "internal", [], [], [],
     ["(Unnamed Layer* 112) [ElementWise]", "(Unnamed Layer* 109) [Constant]", "(Unnamed Layer* 110) [ElementWise]",
      "(Unnamed Layer* 111) [Unary]", "(Unnamed Layer* 113) [ElementWise]"]),
    ("backbone.layer2.0.downsample.1.running_var + (Unnamed Layer* 108) [Shuffle]", "internal", [], [],
     ["backbone.layer2.0.downsample.1.running_var"], ["(Unnamed Layer* 108) [Shuffle]"]),
    ("backbone.layer2.0.downsample.1.weight + (Unnamed Layer* 105) [Shuffle] + (Unnamed Layer* 114) [ElementWise] + "
     "backbone.layer2.0.bn2.bias + Identity_2 + (Unnamed Layer* 106) [Shuffle] + "
     "/backbone/layer2/layer2.0/downsample/downsample.1/BatchNormalization", "fused",
     ["Identity_2", "/backbone/layer2/layer2.0/downsample/downsample.1/BatchNormalization"], [],
     ["backbone.layer2.0.downsample.1.weight", "backbone.layer2.0.bn2.bias"],
     ["(Unnamed Layer* 105) [Shuffle]", "(Unnamed Layer* 114) [ElementWise]", "(Unnamed Layer* 106) [Shuffle]"]),
    ("fc.weight + QuantizeLinear_255 + Gemm_257 + fc.bias + (Unnamed Layer* 306) [Shuffle] + "
     "unsqueeze_node_after_fc.bias + (Unnamed Layer* 306) [Shuffle]_(Unnamed Layer* 306) [Shuffle]_output + "
     "(Unnamed Layer* 307) [ElementWise]", "fused", ["QuantizeLinear_255", "Gemm_257"], ["QuantizeLinear_255"],
     ["fc.weight", "fc.bias"],
     ["(Unnamed Layer* 306) [Shuffle]", "unsqueeze_node_after_fc.bias",
      "(Unnamed Layer* 306) [Shuffle]_(Unnamed Layer* 306) [Shuffle]_output", "(Unnamed Layer* 307) [ElementWise]"]),
    ("/neck/detect3/conv1/conv/_input_quantizer/QuantizeLinear_clone_1", "fused",
     ["/neck/detect3/conv1/conv/_input_quantizer/QuantizeLinear"],
     ["/neck/detect3/conv1/conv/_input_quantizer/QuantizeLinear"], [], []),
    ("(Unnamed Layer* 714) [Constant]", "internal", [], [], [], ["(Unnamed Layer* 714) [Constant]"]),
    ("(Unnamed Layer* 718) [NMS]_1_output[DevicetoShapeHostCopy]", "internal", [], [], [],
     ["(Unnamed Layer* 718) [NMS]_1_output[DevicetoShapeHostCopy]"]),
    ("[trainStation1]", "internal", [], [], [], ["[trainStation1]"]),
    ("/neck/Concat_/neck/Resize_output_0_clone_0 copy", "internal", [], [], [],
     ["/neck/Concat_/neck/Resize_output_0_clone_0 copy"]),
    ("reshape_after_Gemm_48", "internal", [], [], [], ["reshape_after_Gemm_48"]),
    ("copied_squeeze_after_(Unnamed Layer* 307) [ElementWise]", "internal", [], [], [],
     ["copied_squeeze_after_(Unnamed Layer* 307) [ElementWise]"]),
]


@pytest.mark.parametrize("raw, kind, nodes, quantize, initializers, internal", CASES, ids=[c[0][:40] for c in CASES])
def test_real_names_parse_as_written_by_hand(raw, kind, nodes, quantize, initializers, internal):
    parsed = parse_layer_name(raw)
    assert parsed.kind == kind
    assert list(parsed.nodes) == nodes
    assert list(parsed.quantize) == quantize
    assert list(parsed.initializers) == initializers
    assert list(parsed.internal) == internal
    assert parsed.profile is None


def test_reformat_names_point_at_their_layer():
    parsed = parse_layer_name("Reformatting CopyNode for Input Tensor 1 to Conv_5 + Add_6 + Relu_7")
    assert (parsed.kind, parsed.direction, parsed.target, parsed.nodes) == ("reformat", "input",
                                                                             "Conv_5 + Add_6 + Relu_7", ())
    out = parse_layer_name("Reformatting CopyNode for Output Tensor 0 to MaxPool_12")
    assert (out.kind, out.direction, out.target) == ("reformat", "output", "MaxPool_12")


def test_foreign_node_ranges_keep_both_ends_even_when_they_are_tensors():
    parsed = parse_layer_name("{ForeignNode[/head/Constant_2_output_0.../Unsqueeze_2]}")
    assert parsed.kind == "foreign"
    assert parsed.foreign == ("/head/Constant_2_output_0", "/Unsqueeze_2")
    assert parse_layer_name("{ForeignNode[/Split_2.../Concat_1]}").foreign == ("/Split_2", "/Concat_1")


def test_profile_suffixes_are_stripped_and_recorded():
    # No fixture has several optimization profiles: derive such names from real ones.
    for raw in ["Conv_0 + Relu_1", "conv1.weight + QuantizeLinear_7 + Conv_9",
                "Reformatting CopyNode for Input Tensor 0 to Conv_8 + Relu_9"]:
        base = parse_layer_name(raw)
        derived = parse_layer_name(f"{raw} [profile 2]")
        assert derived.profile == 2
        assert derived.base == raw
        assert (derived.kind, derived.nodes, derived.initializers, derived.target) == \
            (base.kind, base.nodes, base.initializers, base.target)
    reformat = parse_layer_name("Reformatting CopyNode for Input Tensor 0 to Conv_8 + Relu_9 [profile 1]")
    assert reformat.target == "Conv_8 + Relu_9"


def test_op_types_from_every_naming_style():
    assert [op_type(n) for n in ["Conv_0", "/layer1/layer1.0/conv1/Conv", "Conv__435", "resnet50/pool1_pool/MaxPool",
                                 "QuantizeLinear_7", "Gemm_48"]] == \
        ["Conv", "Conv", "Conv", "MaxPool", "QuantizeLinear", "Gemm"]


@needs_fixtures
def test_every_fixture_name_parses_into_known_parts():
    names = []
    for graph in FIXTURES.glob("*/*.json"):
        data = json.loads(graph.read_text())
        if isinstance(data, dict) and "Layers" in data:
            names += [layer if isinstance(layer, str) else layer["Name"] for layer in data["Layers"]]
    assert len(names) > 300
    for name in names:
        parsed = parse_layer_name(name)
        assert parsed.kind in ("fused", "reformat", "foreign", "internal"), name
        # nothing is lost: every part lands in one of the buckets
        if parsed.kind in ("fused", "internal"):
            assert parsed.nodes or parsed.internal or parsed.initializers, name
        assert not any(" + " in n or n.startswith("PWN(") for n in parsed.nodes), name
