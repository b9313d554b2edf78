"""Channel statistics of many layers in one pass, reduced where the model runs."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from helpers import small_cnn_dispatcher  # noqa: E402

import cnnvis  # noqa: E402
from cnnvis.services import BadRequest  # noqa: E402


def expected(acts):
    flat = acts.reshape(*acts.shape[:2], -1).astype(np.float64)
    return {"mean": flat.mean(2), "variance": flat.var(2), "max": flat.max(2), "min": flat.min(2),
            "dead_fraction": (np.abs(flat) <= 1e-8).mean(2)}


def test_every_layer_in_one_forward_equals_the_full_tensors(torch_threads):
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    x = torch.randn(2, 3, 64, 64)
    full = cnnvis.activations(model, x)
    calls = []
    handle = model.register_forward_pre_hook(lambda m, a: calls.append(1))
    try:
        stats = cnnvis.activations(model, x, stats=True)
    finally:
        handle.remove()
    assert len(calls) == 1 and set(stats) == set(full)
    for name in ("conv1", "layer1.0.relu", "layer3", "layer4.1.bn2"):  # layer1.0.relu runs in place, twice
        for key, value in expected(full[name]).items():
            np.testing.assert_allclose(stats[name][key], value, atol=1e-5 * max(1.0, np.abs(value).max()))
        assert stats[name]["dead"].shape == full[name].shape[:2]


class Mix(torch.nn.Module):
    def forward(self, x):
        return x.permute(0, 2, 3, 1).tanh()


def test_channels_last_layers_are_reduced_over_their_channels():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), Mix(), torch.nn.LayerNorm(8),
                                torch.nn.Flatten(), torch.nn.LazyLinear(3)).eval()
    x = torch.randn(2, 3, 6, 6)
    model(x)
    for _ in range(2):  # the first call traces the layout, the second reads it from the cache
        stats = cnnvis.activations(model, x, layers=["1"], stats=True)
        full = cnnvis.activations(model, x, layers=["1"])["1"]
        np.testing.assert_allclose(stats["1"]["mean"], expected(full)["mean"], atol=1e-6)
        assert stats["1"]["max"].shape == (2, 8)


def test_dead_channels_are_flagged():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.LazyLinear(2)).eval()
    with torch.no_grad():
        model[0].weight[1] = 0
        model[0].bias[1] = -1  # channel 1 is negative everywhere, so zero after the ReLU
    x = torch.randn(1, 3, 5, 5)
    model(x)
    stats = cnnvis.activations(model, x, layers=["1"], stats=True)["1"]
    assert stats["dead"][0].tolist()[1] is True and stats["dead_fraction"][0][1] == 1.0
    assert stats["dead_fraction"][0][0] < 1.0


def test_service_answers_statistics_without_tensors():
    d = small_cnn_dispatcher()
    reply = d.handle("activations", {"stats": True, "index": 1})
    assert reply.buffers == [] and reply.result["device"] == "cpu"
    assert set(reply.result["layers"]) == {"0", "1", "2", "3", "4"}
    assert len(reply.result["layers"]["2"]["mean"]) == 8
    only = d.handle("activations", {"stats": True, "layers": ["1"]}).result["layers"]
    assert list(only) == ["1"] and all(v >= 0 for v in only["1"]["min"])
    with pytest.raises(BadRequest, match="list of layer names"):
        d.handle("activations", {"stats": True, "layers": "1"})
