"""cnnvis.compare across frameworks: the demo's CNN in PyTorch against its Keras twin (same
weights, channels-last), one batch of channels-first inputs for both."""

from __future__ import annotations

import numpy as np
import pytest

import cnnvis

torch = pytest.importorskip("torch")
pytest.importorskip("keras")


def test_torch_model_and_its_keras_twin_agree_layer_by_layer(tmp_path):
    from cnnvis.demo import DigitsNet, export_keras

    torch.manual_seed(0)
    model = DigitsNet().eval()
    with torch.no_grad():  # running statistics of their own, so a BatchNorm left out would show
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    twin = export_keras(model, tmp_path)
    x = np.random.default_rng(0).random((4, 1, 16, 16), dtype=np.float32)
    result = cnnvis.compare(model, twin, x, names=("torch", "keras"), progress=False)
    assert result.alignment == "names" and result.unaligned == {"torch": [], "keras": []}
    pairs = {r["layer"]: r["layer_b"] for r in result}
    assert pairs["stem.0"] == "stem_0" and pairs["features.4"] == "features_4" and pairs["classifier"] == "classifier"
    assert [r["kind"] for r in result if r["compute"]] == ["convolution", "convolution", "pooling", "convolution",
                                                          "pooling", "matmul"]
    assert all(r["cosine"] >= 0.9999 for r in result), [(r["layer"], r["cosine"]) for r in result]
    assert result.summary["top1_agreement"] == 1.0
    # The painted graph: every torch layer drawn, only those with at least half the largest damage coloured.
    picture = result.paint(threshold=0.5)
    assert picture.svg.count('class="node"') == len(result.layers) >= 6
    assert set(picture.colors) <= {r["layer"] for r in result if r["damage"] >= 0.5 * max(x["damage"] for x in result)}
