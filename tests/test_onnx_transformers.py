"""Vision transformers exported to ONNX: a ViT's tokens are laid on its patch grid (default layer:
the last block's first LayerNorm, as for the PyTorch model), a Swin's channels-last grids are
followed through its blocks, and a transformer cnnvis does not know is refused rather than mapped
at its patch embedding."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

import cnnvis
from cnnvis.adapters.base import resolve_adapter
from cnnvis.adapters.onnx import OnnxModel

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection  # noqa: E402

SIZE = 32


def _export(model) -> OnnxModel:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (torch.zeros(1, 3, SIZE, SIZE),), buffer, dynamo=False,
                          input_names=["input"], dynamic_axes={"input": {0: "n"}})
    return OnnxModel(onnx.load_from_string(buffer.getvalue()))


@pytest.fixture(scope="module")
def vit():
    torch.manual_seed(0)
    model = torchvision.models.VisionTransformer(image_size=SIZE, patch_size=8, num_layers=3, num_heads=2,
                                                 hidden_dim=24, mlp_dim=32, num_classes=5)
    return _export(model)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).standard_normal((2, 3, SIZE, SIZE)).astype(np.float32)


def test_vit_tokens_are_laid_on_the_patch_grid(vit, images):
    exp = cnnvis.explain(vit, images, progress=False)
    assert exp.method == "eigencam" and exp.layer == "/encoder/layers/encoder_layer_2/ln_1/LayerNormalization"
    adapter = resolve_adapter(vit)
    tokens = adapter.node_outputs(images, [exp.layer])[exp.layer]
    assert tokens.shape == (2, 1 + 4 * 4, 24)  # the class token, then the 4x4 patches
    grid = tokens[:, 1:].reshape(2, 4, 4, 24).transpose(0, 3, 1, 2)  # pytorch-grad-cam's ViT reshape
    expected = get_2d_projection(grid)
    for got, want in zip(exp.raw, expected, strict=True):
        assert abs(np.corrcoef(got.ravel(), want.ravel())[0, 1]) >= 0.9999
    score = cnnvis.explain(vit, images, method="scorecam", progress=False)
    assert score.maps.shape == (2, SIZE, SIZE) and np.isfinite(score.maps).all()


def test_vit_tokens_are_not_written_back(vit, images):
    with pytest.raises(cnnvis.NonSpatialLayerError, match="does not write a changed map back"):
        cnnvis.explain(vit, images, method="ablationcam", progress=False)


def test_vit_sequence_that_is_not_the_patch_grid_is_refused(vit, images):
    adapter = resolve_adapter(vit)
    shapes = {i: adapter.node_outputs(images[:1], [i])[i].shape for i, n in
              zip(adapter.index.node_ids, adapter.index.nodes, strict=True) if adapter.index.rank(n.output[0]) == 3}
    flat = next(i for i, s in shapes.items() if s == (1, 24, 16))  # the patch embedding flattened, channels first
    hidden = next(i for i, s in shapes.items() if s == (1, 17, 32))  # the MLP's hidden tokens
    for layer in (flat, hidden):
        with pytest.raises(cnnvis.NonSpatialLayerError, match="patch grid's tokens of width 24"):
            cnnvis.explain(vit, images, layer=layer, progress=False)


def test_swin_channels_last_grids_are_followed_through_its_blocks(images):
    torch.manual_seed(0)
    swin = torchvision.models.SwinTransformer(patch_size=[4, 4], embed_dim=16, depths=[2, 2], num_heads=[2, 2],
                                              window_size=[4, 4], num_classes=5)
    handle = _export(swin)
    exp = cnnvis.explain(handle, images, progress=False)
    assert exp.layer == "/permute/Transpose"  # the final norm's grid, not the patch embedding
    grid = resolve_adapter(handle).node_outputs(images, [exp.layer])[exp.layer]
    assert grid.shape == (2, 32, 4, 4)
    for got, want in zip(exp.raw, get_2d_projection(grid), strict=True):
        assert abs(np.corrcoef(got.ravel(), want.ravel())[0, 1]) >= 0.9999
    # inside a block the channels-last grid is known too (LayerNorm, the MLP's Linear layers, the residual)
    mlp = "/features/features.3/features.3.1/mlp/mlp.0/MatMul"
    assert handle.layouts[handle.index.nodes[handle.index.node_ids.index(mlp)].output[0]] == "NHWC"


class _PlainEncoder(torch.nn.Module):
    """A patchifying convolution and an encoder without class token or final norm: no ViT cnnvis knows."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Conv2d(3, 24, 8, stride=8)
        layer = torch.nn.TransformerEncoderLayer(24, 2, 32, dropout=0.0, batch_first=True)
        self.encoder = torch.nn.TransformerEncoder(layer, 4, enable_nested_tensor=False)
        self.head = torch.nn.Linear(24, 5)

    def forward(self, x):
        tokens = self.embed(x).flatten(2).transpose(1, 2)
        return self.head(self.encoder(tokens).mean(1))


def test_unknown_transformer_is_refused_not_mapped_at_its_patch_embedding(images):
    torch.manual_seed(0)
    with pytest.raises(cnnvis.NonSpatialLayerError, match="patch embedding") as refused:
        cnnvis.explain(_export(_PlainEncoder()), images, progress=False)
    assert "Explain the PyTorch model" in str(refused.value)
