"""Graph nodes carry what the node properties panel shows: a torch module's kernel, stride, padding
and weight shapes; a TensorRT layer's kernel, stride, padding and weights, beside its tactic."""

from __future__ import annotations

import pytest
from helpers import shared_fixture_dir

torch = pytest.importorskip("torch")


def test_torch_module_nodes_carry_hyper_parameters_and_weight_shapes():
    import cnnvis

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 5, stride=2, padding=2), torch.nn.ReLU())
    nodes = {n["id"]: n for n in cnnvis.graph(net, torch.rand(1, 3, 8, 8)).to_dict()["nodes"]}
    conv = nodes["0"]
    assert conv["attrs"]["kernel_size"] == [5, 5] and conv["attrs"]["stride"] == [2, 2]
    assert conv["attrs"]["padding"] == [2, 2] and conv["weights"] == {"weight": [4, 3, 5, 5], "bias": [4]}
    assert "attrs" not in nodes["1"] and "weights" not in nodes["1"]  # ReLU has neither


@pytest.mark.skipif(shared_fixture_dir("tensorrt") is None, reason="recorded TensorRT fixtures not found")
def test_tensorrt_layer_nodes_carry_kernel_stride_padding_and_weights():
    import cnnvis

    path = shared_fixture_dir("tensorrt") / "a100_resnet_fp16" / "resnet.onnx.engine.graph.json"
    nodes = cnnvis.graph(cnnvis.load(str(path))).to_dict()["nodes"]
    conv = next(n for n in nodes if n["name"] == "Conv_0 + Relu_1")
    assert conv["attrs"]["Kernel"] == [7, 7] and conv["attrs"]["Stride"] == [2, 2]
    assert conv["attrs"]["PrePadding"] == [3, 3] and conv["weights"]["Weights"]["Count"] == 9408
    assert conv["tactic"].startswith("trt_")
