"""Parsers of untrusted text run in linear time: trtexec logs, TensorRT exports' layer names and
tegrastats logs with megabyte lines built to make backtracking regexes quadratic. Each parse must
finish (the generous timeout only catches a runaway (the quadratic parsers took minutes); no timing is asserted) with a clear answer."""

import json

import pytest

import cnnvis
from cnnvis.adapters.tensorrt.names import op_type, parse_layer_name
from cnnvis.errors import CnnvisError

MIB = 2**20
HOSTILE = {"spaces": " " * MIB, "open-paren-bracket": " (A[" * (MIB // 4), "underscores": "_" * MIB + "x"}


def trtexec_log(body_lines):
    head = ["&&&& RUNNING TensorRT.trtexec [TensorRT v8601] # trtexec --onnx=m.onnx --verbose",
            "[12/01/2025-10:00:00] [I] [TRT] Engine Layer Information:"]
    return "\n".join(head + body_lines) + "\n"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_trtexec_log_with_a_megabyte_line_is_read_or_refused(tmp_path, kind):
    line = HOSTILE[kind]
    good = "Layer(CaskConvolution): conv1, Tactic: 0x1, input (Float[1,3,8,8]) -> out (Float[1,4,8,8])"
    variants = {
        "layer": [f"Layer(Conv): {line}, Tactic: 0x1, a{line} (Float[1]) -> b (Float[1])"],
        "tensors": [f"Layer(Conv): c, Tactic: 0x1, {line} -> {line}"],
        "profile": [good, "=== Profile (10 iterations ) ===", "Layer   Time (ms)   Avg", line + " 1 2 3 x"],
        "binding": [good, f"[I] Created input binding for {line} with dimensions {line}"],
    }
    for name, lines in variants.items():
        path = tmp_path / f"{name}.log"
        path.write_text(trtexec_log(lines))
        try:
            handle = cnnvis.load(path)
        except CnnvisError as exc:
            assert path.name in str(exc) and len(str(exc)) < 2000, name  # clear, and not the whole line back
        else:
            assert handle.format == "trtexec-log", name


@pytest.mark.timeout(60)
def test_trtexec_log_still_reads_a_layer_with_commas_and_parentheses(tmp_path):
    path = tmp_path / "ok.log"
    path.write_text(trtexec_log([
        "Layer(PointWiseV2): PWN(a, b (c)), Tactic: 0x2, x (y) (Half[1,8:16,4,4]), z (Float[2]) -> out (Float[1,8,4,4])",
        "=== Profile (5 iterations ) ===",
        "   Layer   Time (ms)   Avg. Time (ms)   Median Time (ms)   Time %",
        "[12/01/2025-10:00:00] [I]  PWN(a, b (c))   1.0   0.2   0.2   100.0",
        "[12/01/2025-10:00:00] [I]  Total   1.0   0.2   0.2   100.0",
        "[I] Created input binding for x (y) with dimensions 1x8x4x4",
    ]))
    export = cnnvis.load(path).model
    graph = cnnvis.graph(export)
    assert graph.node("PWN(a, b (c))")["type"] == "PointWiseV2"
    assert export.latency["PWN(a, b (c))"]["average_ms"] == pytest.approx(0.2)
    assert export.iterations == 5 and export.total_row_ms == pytest.approx(0.2)


@pytest.mark.timeout(60)
def test_tensorrt_names_of_40000_characters_parse_in_linear_time(tmp_path):
    names = ["_" * 40000 + "x", "_" * 40000 + "1", " " * 40000 + "[profile 1]", "a [profile " + "1" * 40000,
             "PWN(" * 20000 + "x" + ")" * 20000, "(" * 40000, "x" + " + " * 20000]
    for name in names:
        parsed = parse_layer_name(name)
        assert parsed.raw == name
        assert isinstance(op_type(name), str)
    assert parse_layer_name("conv [profile 2]").profile == 2
    assert parse_layer_name("conv [profile 2]").base == "conv"
    assert op_type("/layer1/Conv__435") == "Conv" and op_type("Relu_1") == "Relu"
    graph_json = {"Layers": [{"Name": n, "LayerType": "Reformat", "Inputs": [], "Outputs": [],
                              "TacticValue": "0x0"} for n in names], "Bindings": []}
    path = tmp_path / "hostile.engine.graph.json"
    path.write_text(json.dumps(graph_json))
    graph = cnnvis.graph(cnnvis.load(path))
    assert {n["name"] for n in graph.nodes} >= set(names)


def test_deeply_nested_export_json_is_refused_clearly(tmp_path):
    path = tmp_path / "nested.engine.graph.json"
    path.write_text('{"Layers": ' + "[" * 200_000 + "]" * 200_000 + "}")
    with pytest.raises(CnnvisError, match="nested.engine.graph.json"):
        cnnvis.load(path)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_tegrastats_megabyte_lines_parse(tmp_path, kind):
    from cnnvis.jetson import read_tegrastats

    line = HOSTILE[kind]
    real = ("RAM 2448/7620MB (lfb 2x4MB) SWAP 0/3810MB (cached 0MB) CPU [1%@1190,2%@1190] "
            "GR3D_FREQ 0%@[305,0] tj@40.5C VDD_IN 4011mW/4011mW")
    lines = [real, line, "RAM " + line, "GR3D_FREQ 1%@[" + "1," * (MIB // 2) + "]", "x@" + "1" * MIB + "C", real]
    path = tmp_path / "tegrastats.log"
    path.write_text("\n".join(lines) + "\n")
    samples = read_tegrastats(path)
    assert samples[0]["ram"] == samples[-1]["ram"]  # the real lines around the hostile ones still read


@pytest.mark.timeout(60)
def test_torchscript_scope_names_read_in_linear_time():
    from cnnvis.adapters.torch.graph_hooks import _scope_names

    assert _scope_names("__torch__.Net(Net).layer1(Sequential).0(Conv2d)") == ["Net", "layer1", "0"]
    assert _scope_names("a(b(c)).d(e)") == ["b", "d"]
    for hostile in ("a" * MIB, "(" * (MIB // 16), "TOP(" + "L" * MIB, "x(" * (MIB // 16)):
        assert isinstance(_scope_names(hostile), list)
