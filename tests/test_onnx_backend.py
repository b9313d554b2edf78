"""ONNX's own backend test models (shipped inside the ``onnx`` package) and models with dynamic,
several or non-image inputs: every layer output equals onnxruntime's, or a clear CnnvisError says why.

The slice holds the kinds that once crashed (tensors whose first axis is not the batch: Flatten over
axis 0, DFT, Space/DepthToSpace expanded, reductions without keepdims, Repeat) and one of each input
kind; ``benchmarks/sweep_onnx_backend.py`` runs all of them.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

import cnnvis
from cnnvis.errors import CnnvisError, InputShapeError, NonSpatialLayerError

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
from onnx import TensorProto, helper  # noqa: E402
from sweep_onnx_cases import file_cases, node_cases, outcome  # noqa: E402

from cnnvis.adapters.onnx import OnnxModel  # noqa: E402

EQUAL = ["test_flatten_axis0", "test_flatten_negative_axis1", "test_dft_opset19", "test_dft_irfft_opset19",
         "test_depthtospace_example_expanded", "test_spacetodepth_expanded", "test_celu", "test_mvn",
         "test_reduce_sum_do_not_keepdims_example", "test_reduce_mean_do_not_keepdims_random",
         "test_bitwise_not_4d", "test_conv_with_strides_padding", "test_maxpool_2d_default",
         "test_matmul_4d", "test_string_concat", "test_argmax_no_keepdims_example"]
FILES = ["test_operator_repeat", "test_operator_flatten", "test_expand_shape_model1", "test_Conv2d",
         "light_squeezenet"]
REFUSED = ["test_sequence_insert_at_back", "test_optional_get_element_sequence"]


@pytest.fixture(scope="module")
def cases():
    found = {c.name: c for c in node_cases(set(EQUAL + REFUSED))}
    found.update({c.name: c for c in file_cases(set(FILES))})
    return found


@pytest.mark.parametrize("name", EQUAL + FILES)
def test_backend_model_layers_equal_onnxruntime(cases, name):
    result, detail = outcome(cases[name])
    assert result == "equal", detail


@pytest.mark.parametrize("name", REFUSED)
def test_sequence_inputs_are_refused_clearly(cases, name):
    result, detail = outcome(cases[name])
    assert result == "refused" and "not a tensor" in detail


def conv_model(batch, first_axis_op=False):
    """Conv -> Relu -> GlobalAveragePool -> Flatten, the batch written as ``batch`` (-1, 0, "n", None
    or a number); with ``first_axis_op`` also a Flatten over axis 0 (the whole batch in one row)."""
    rng = np.random.default_rng(0)
    weight = helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 3, 3], rng.standard_normal(108).astype(np.float32))
    nodes = [helper.make_node("Conv", ["x", "w"], ["conv"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Relu", ["conv"], ["relu"], name="relu"),
             helper.make_node("GlobalAveragePool", ["relu"], ["pool"], name="pool"),
             helper.make_node("Flatten", ["pool"], ["y"], name="head")]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 4])]
    if first_axis_op:
        nodes.append(helper.make_node("Flatten", ["relu"], ["whole"], axis=0, name="whole"))
        outputs.append(helper.make_tensor_value_info("whole", TensorProto.FLOAT, [1, None]))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 8, 8])],
                              outputs, [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


def reference(model, x, tensor):
    import onnxruntime as ort

    from cnnvis.adapters.onnx.runtime import with_outputs

    session = ort.InferenceSession(with_outputs(model, [tensor]).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    return session.run([tensor], {"x": x})[0]


@pytest.mark.parametrize("batch", [-1, 0, "n", None])
def test_dynamic_batch_written_any_way(batch):
    proto = conv_model(batch)
    x = np.random.default_rng(1).standard_normal((3, 3, 8, 8)).astype(np.float32)
    acts = cnnvis.activations(OnnxModel(proto), x)
    assert set(acts) == {"conv", "relu", "pool"}
    # onnxruntime itself reads a 0 as a fixed empty axis: the reference runs the same weights with "n"
    np.testing.assert_allclose(acts["relu"], reference(conv_model("n"), x, "relu"), rtol=1e-5, atol=1e-6)
    exp = cnnvis.explain(OnnxModel(proto), x, method="eigencam")
    assert exp.layer == "relu" and exp.maps.shape == (3, 8, 8)


def test_first_axis_not_the_batch_returned_whole_or_refused():
    proto = conv_model(-1, first_axis_op=True)
    model = OnnxModel(proto)
    x = np.random.default_rng(2).standard_normal((2, 3, 8, 8)).astype(np.float32)
    adapter = cnnvis.adapters.base.resolve_adapter(model)
    whole = adapter.node_outputs(adapter.prepare_inputs(x), ["whole"])["whole"]
    assert whole.shape == (1, 2 * 4 * 8 * 8)  # returned whole, with its own shape
    np.testing.assert_allclose(whole, reference(proto, x, "whole"), rtol=1e-5, atol=1e-6)
    assert "whole" not in cnnvis.activations(model, x)
    with pytest.raises(NonSpatialLayerError):
        cnnvis.explain(model, x, layer="whole", method="eigencam")


def test_fixed_batch_runs_in_chunks_and_refuses_mixed_tensors():
    proto = conv_model(2, first_axis_op=True)
    model = OnnxModel(proto)
    x = np.random.default_rng(3).standard_normal((5, 3, 8, 8)).astype(np.float32)
    relu = cnnvis.activations(model, x, "relu")["relu"]
    parts = [reference(proto, np.concatenate([x[i:i + 2], x[:2]])[:2], "relu") for i in range(0, 5, 2)]
    np.testing.assert_allclose(relu, np.concatenate(parts)[:5], rtol=1e-5, atol=1e-6)
    adapter = cnnvis.adapters.base.resolve_adapter(model)
    with pytest.raises(CnnvisError, match="first axis is not the batch"):
        adapter.node_outputs(adapter.prepare_inputs(x), ["whole"])


def two_input_model():
    nodes = [helper.make_node("MatMul", ["tokens", "weights"], ["mixed"], name="mix"),
             helper.make_node("ReduceSum", ["mixed"], ["y"], keepdims=0, name="sum")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("tokens", TensorProto.FLOAT, ["n", 5]),
                                           helper.make_tensor_value_info("weights", TensorProto.FLOAT, [5, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def test_several_non_image_inputs_read_as_a_feed_and_maps_refused():
    model = OnnxModel(two_input_model())
    feed = {"tokens": np.ones((3, 5), np.float32), "weights": np.full((5, 2), 2, np.float32)}
    adapter = cnnvis.adapters.base.resolve_adapter(model)
    outputs = adapter.node_outputs(adapter.prepare_inputs(feed))
    assert outputs["mix"].shape == (3, 2) and float(outputs["sum"]) == 60.0
    assert cnnvis.activations(model, [feed["tokens"], feed["weights"]]) == {}
    with pytest.raises(InputShapeError, match="takes 2 input"):
        cnnvis.explain(model, feed["tokens"])
    with pytest.raises(InputShapeError, match="maps need one image input"):
        cnnvis.explain(model, feed)
    with pytest.raises(InputShapeError, match="takes shape"):
        cnnvis.activations(model, {"tokens": np.ones((3, 4), np.float32), "weights": feed["weights"]})
