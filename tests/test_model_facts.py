"""What a session tells the views up front: addressable layers, capabilities with reasons, how its
inputs look, and ImageNet class names for a torchvision classifier (read from torchvision, no download)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from cnnvis.services import ModelSession  # noqa: E402


def small_cnn():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 3)).eval()


def test_summary_lists_layers_capabilities_and_input_scale():
    x = np.random.default_rng(0).uniform(-2, 3, (2, 3, 8, 8)).astype(np.float32)
    summary = ModelSession(small_cnn(), x).summary()
    assert summary["layers"][:2] == ["0", "1"]
    caps = summary["capabilities"]
    assert caps["explain"] and caps["activations"] and caps["evidence"] and caps["reasons"] == {}
    spec = summary["input_spec"]
    assert spec["layout"] == "nchw" and spec["mean"] is None
    assert spec["range"] == [pytest.approx(float(x.min())), pytest.approx(float(x.max()))]


def test_mean_and_std_given_are_the_input_scale():
    x = np.zeros((1, 3, 8, 8), np.float32)
    spec = ModelSession(small_cnn(), x, preprocess="imagenet").summary()["input_spec"]
    assert spec["mean"] == pytest.approx([0.485, 0.456, 0.406]) and spec["std"] == pytest.approx([0.229, 0.224, 0.225])


def test_exported_program_offers_no_evidence_and_says_why(tmp_path):
    import cnnvis

    program = torch.export.export(small_cnn(), (torch.rand(1, 3, 8, 8),))
    torch.export.save(program, str(tmp_path / "m.pt2"))
    summary = ModelSession(cnnvis.load(str(tmp_path / "m.pt2")), np.zeros((1, 3, 8, 8), np.float32)).summary()
    caps = summary["capabilities"]
    assert caps["explain"] and not caps["evidence"]
    assert "cannot be copied" in caps["reasons"]["evidence"]


def test_torchvision_classifier_gets_imagenet_names():
    models = pytest.importorskip("torchvision.models")
    net = models.mobilenet_v3_small(weights=None).eval()
    summary = ModelSession(net, np.zeros((1, 3, 32, 32), np.float32)).summary()
    assert len(summary["class_names"]) == 1000 and summary["class_names"][0] == "tench"
    assert ModelSession(small_cnn()).summary()["class_names"] is None
