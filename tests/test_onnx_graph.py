"""Reading ONNX files into the cnnvis graph format."""

import numpy as np
import pytest


def test_onnx_graph_groups_from_name_prefixes():
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from cnnvis.adapters.onnx import onnx_to_graph

    w = numpy_helper.from_array(np.zeros((4, 3, 3, 3), np.float32), "w")
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="/layer1/layer1.0/conv1/Conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="/layer1/layer1.0/Relu"),
        helper.make_node("Add", ["r", "c"], ["y"], name="/layer1/Add"),
    ]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    g = onnx_to_graph(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])).to_dict()
    by_id = {n["id"]: n for n in g["nodes"]}
    # conv1 holds one node only, so it is no group; layer1.0 and layer1 hold two or more.
    assert by_id["layer1"]["kind"] == "group" and by_id["layer1"]["parent"] is None
    assert by_id["layer1/layer1.0"]["parent"] == "layer1"
    conv = by_id["/layer1/layer1.0/conv1/Conv"]
    assert conv["parent"] == "layer1/layer1.0" and conv["params"] == 108 and conv["output_shape"] == [1, 4, 8, 8]
    assert by_id["layer1"]["params"] == 108
    assert ["x", "/layer1/layer1.0/conv1/Conv"] in g["edges"] and ["/layer1/Add", "output:y"] in g["edges"]
    assert ["/layer1/layer1.0/conv1/Conv", "/layer1/Add"] in g["edges"]


def test_onnx_reader_refuses_a_corrupt_file(tmp_path):
    pytest.importorskip("onnx")
    from cnnvis.adapters.onnx import read_onnx_graph
    from cnnvis.errors import UnsupportedFileError

    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x08\x07garbage that is not a protobuf\xff\xff")
    with pytest.raises(UnsupportedFileError, match="broken.onnx"):
        read_onnx_graph(bad)
    with pytest.raises(UnsupportedFileError, match="No such"):
        read_onnx_graph(tmp_path / "missing.onnx")
