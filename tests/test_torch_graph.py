"""Graph extraction from PyTorch models: torch.fx, hooks fallback, torch.export and TorchScript."""

from __future__ import annotations

import json
import warnings

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from cnnvis.adapters.torch import build_graph  # noqa: E402
from cnnvis.graph_model import NODE_KINDS  # noqa: E402


def leaf_names(model: nn.Module) -> set[str]:
    return {name for name, m in model.named_modules() if name and next(m.children(), None) is None}


def recorded_shapes(model: nn.Module, x: torch.Tensor) -> dict[str, list[int]]:
    """Output shape of every leaf module in a plain forward pass (last call wins)."""
    shapes: dict[str, list[int]] = {}
    handles = []
    for name in leaf_names(model):
        module = model.get_submodule(name)
        handles.append(
            module.register_forward_hook(lambda m, i, o, name=name: shapes.__setitem__(name, list(o.shape)))
        )
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return shapes


def check_structure(g) -> dict[str, dict]:
    ids = [n["id"] for n in g.nodes]
    assert len(ids) == len(set(ids)), "node ids must be unique"
    index = {n["id"]: n for n in g.nodes}
    for n in g.nodes:
        assert n["kind"] in NODE_KINDS
        assert n["parent"] is None or n["parent"] in index, n
    for src, dst in g.edges:
        assert src in index and dst in index, (src, dst)
        assert index[src]["kind"] != "group" and index[dst]["kind"] != "group", (src, dst)
    json.dumps(g.to_dict())
    return index


def producers(g, node_id: str) -> set[str]:
    return {s for s, d in g.edges if d == node_id}


@pytest.fixture(scope="module")
def x64():
    torch.manual_seed(0)
    return torch.randn(1, 3, 64, 64)


@pytest.mark.parametrize("arch", ["resnet50", "densenet121", "mobilenet_v3_small", "efficientnet_b0"])
def test_torchvision_models(arch, x64):
    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)(weights=None).eval()
    g = build_graph(model, x64)
    index = check_structure(g)

    layers = [n["id"] for n in g.nodes if n["kind"] == "layer"]
    assert sorted(layers) == sorted(leaf_names(model))  # every leaf, exactly once
    real = recorded_shapes(model, x64)
    for name, shape in real.items():
        assert index[name]["output_shape"] == shape, name
    assert index["output"]["output_shape"] == [1, 1000]
    for name, module in model.named_modules():
        if name:
            assert index[name]["params"] == sum(p.numel() for p in module.parameters())

    ops = [n for n in g.nodes if n["kind"] == "op"]
    if arch == "resnet50":
        adds = [n for n in ops if n["type"] in ("add", "iadd")]
        assert adds and all(len(producers(g, n["id"])) == 2 for n in adds)
        assert index["add"]["parent"] == "layer1.0"
        assert index["layer1"]["output_shape"] == real["layer1.2.relu"]
    if arch == "densenet121":
        cats = [n for n in ops if n["type"] == "cat"]
        assert cats and max(len(producers(g, n["id"])) for n in cats) >= 3
        assert all(n["parent"] for n in cats)


class Functional(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))
        self.act = nn.ReLU()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = F.relu(self.features(x))
        x = self.act(x)
        x = self.act(x + 1)  # the same module a second time
        x = F.adaptive_avg_pool2d(x, 1)
        return self.fc(torch.flatten(x, 1))


def test_functional_ops_and_shared_module():
    model = Functional()
    g = build_graph(model, torch.randn(2, 3, 16, 16))
    index = check_structure(g)
    assert index["relu"]["kind"] == "op" and index["relu"]["type"] == "relu"
    assert index["flatten"]["kind"] == "op" and index["flatten"]["output_shape"] == [2, 8]
    assert index["features"]["kind"] == "group" and index["features"]["output_shape"] == [2, 8, 14, 14]
    assert index["x"]["kind"] == "input" and index["output"]["kind"] == "output"
    assert [n["id"] for n in g.nodes].count("act") == 1
    assert producers(g, "act") == {"relu", "add"}  # both calls of the shared module
    assert ("features.1", "relu") in g.edges and ("fc", "output") in g.edges
    assert ("adaptive_avg_pool2d", "flatten") in g.edges and ("flatten", "fc") in g.edges


def test_params_on_a_container_count_for_the_group():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = nn.Sequential(nn.Linear(3, 3))
            self.block.register_parameter("scale", nn.Parameter(torch.ones(5)))

        def forward(self, x):
            return self.block(x)

    index = check_structure(build_graph(Scaled(), torch.randn(1, 3)))
    assert index["block"]["params"] == 12 + 5
    assert index["block.0"]["params"] == 12


class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.body = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        y = self.stem(x)
        if y.mean() > 0:  # data-dependent: torch.fx cannot trace this
            y = y * 2
        y = self.body(y) + y
        return self.head(y.mean(dim=(2, 3)))


def test_data_dependent_model_falls_back_to_hooks():
    model = Branchy()
    x = torch.randn(1, 3, 8, 8)
    with pytest.warns(UserWarning, match="approximate"):
        g = build_graph(model, x)
    index = check_structure(g)
    layers = [n["id"] for n in g.nodes if n["kind"] == "layer"]
    assert sorted(layers) == sorted(leaf_names(model))
    assert recorded_shapes(model, x) == {k: index[k]["output_shape"] for k in leaf_names(model)}
    adds = [n for n in g.nodes if n["kind"] == "op" and n["type"] == "add"]
    assert len(adds) == 1 and len(producers(g, adds[0]["id"])) == 2
    assert index["body"]["output_shape"] == [1, 8, 8, 8]
    assert ("x", "stem") in g.edges and ("head", "output") in g.edges


def test_data_dependent_model_without_inputs():
    with pytest.warns(UserWarning, match="approximate"):
        g = build_graph(Branchy())  # input inferred from the first Conv2d
    index = check_structure(g)
    assert index["stem"]["output_shape"] == [1, 8, 224, 224]


def test_inferred_input_fills_shapes_and_keeps_training_state():
    model = torchvision.models.resnet18(weights=None)
    before = model.bn1.running_mean.clone()
    g = build_graph(model)
    index = check_structure(g)
    assert index["fc"]["output_shape"] == [1, 1000]
    assert index["layer4"]["output_shape"] == [1, 512, 7, 7]
    assert model.training and torch.equal(model.bn1.running_mean, before)


def test_uninferable_input_leaves_shapes_empty_quietly():
    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x, y):
            return self.conv(x) + y

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = build_graph(TwoInputs())
    index = check_structure(g)
    assert index["conv"]["output_shape"] is None
    assert producers(g, "add") == {"conv", "y"}


def test_torch_export_round_trip(tmp_path):
    model = Functional().eval()
    x = torch.randn(1, 3, 16, 16)
    path = tmp_path / "model.pt2"
    torch.export.save(torch.export.export(model, (x,)), str(path))
    loaded = torch.export.load(str(path)).module()
    g = build_graph(loaded, x)
    index = check_structure(g)
    kinds = {n["kind"] for n in g.nodes}
    assert {"input", "output", "op", "group"} <= kinds
    convs = [n for n in g.nodes if n["type"] == "aten.conv2d"]
    assert len(convs) == 1 and convs[0]["parent"] == "features.0"
    assert index["features"]["type"] == "Sequential" and index["features.0"]["type"] == "Conv2d"
    assert index["features"]["output_shape"] == [1, 8, 14, 14]
    assert index["output"]["output_shape"] == [1, 4]
    assert all(n["output_shape"] is not None for n in g.nodes if n["kind"] == "op")
    linear = next(n for n in g.nodes if n["type"] == "aten.linear")
    assert linear["parent"] == "fc" and producers(g, linear["id"]) == {"flatten"}


def test_user_traced_graph_module():
    traced = torch.fx.symbolic_trace(Functional())
    index = check_structure(build_graph(traced, torch.randn(1, 3, 16, 16)))
    assert index["features.0"]["kind"] == "layer"
    assert index["flatten"]["kind"] == "op" and index["fc"]["output_shape"] == [1, 4]


def test_torchscript_model():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    x = torch.randn(1, 3, 32, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.script is deprecated upstream
        scripted = torch.jit.script(model)
    g = build_graph(scripted, x)
    index = check_structure(g)
    layers = [n["id"] for n in g.nodes if n["kind"] == "layer"]
    assert sorted(layers) == sorted(leaf_names(model))
    real = recorded_shapes(model, x)
    assert {k: index[k]["output_shape"] for k in real} == real
    assert index["layer1"]["kind"] == "group" and index["layer1"]["output_shape"] == real["layer1.1.relu"]
    adds = [n for n in g.nodes if n["kind"] == "op" and n["name"].startswith("add")]
    assert len(adds) == 8 and all(len(producers(g, n["id"])) == 2 for n in adds)
    assert index["x"]["kind"] == "input" and index["output"]["output_shape"] == [1, 1000]


def test_torchscript_without_inputs_has_structure():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.script(Functional())
    index = check_structure(build_graph(scripted))
    assert index["fc"]["kind"] == "layer" and index["features"]["kind"] == "group"


def test_builtin_units_tuple_outputs_and_slicing():
    class Sequence(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Linear(4, 8)
            self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
            self.lstm = nn.LSTM(8, 8, batch_first=True)

        def forward(self, x):
            h = self.embed(x)
            a, _ = self.attn(h, h, h)
            out, _ = self.lstm(a)
            return out[:, -1]

    g = build_graph(Sequence(), torch.randn(2, 5, 4))
    index = check_structure(g)
    # MultiheadAttention runs as one unit, as in torch.fx: a layer, its out_proj listed beneath it.
    assert index["attn"]["kind"] == "layer" and index["attn.out_proj"]["parent"] == "attn"
    assert index["attn"]["output_shape"] == [[2, 5, 8], [2, 5, 5]]
    assert ("embed", "attn") in g.edges and ("attn", "lstm") in g.edges  # tuple picks are folded
    (slice_op,) = [n for n in g.nodes if n["kind"] == "op"]
    assert slice_op["type"] == "getitem" and slice_op["output_shape"] == [2, 8]
    assert (slice_op["id"], "output") in g.edges
