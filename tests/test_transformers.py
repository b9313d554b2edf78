"""Vision transformers from timm and Hugging Face: the default layer is a token grid laid out the way
pytorch-grad-cam's reshape transform lays it, never an attention tensor read as an image; a
transformer cnnvis cannot read is refused with the layers that could be meant."""

import numpy as np
import pytest
from helpers import pearson

import cnnvis
from cnnvis.errors import NonSpatialLayerError

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
gradcam = pytest.importorskip("pytorch_grad_cam")
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

SIZE, TARGET = 64, 3


def tokens(prefix, side):
    """pytorch-grad-cam's ViT reshape transform for ``prefix`` leading tokens and a side x side grid."""
    def transform(t):
        return t[:, prefix:].reshape(len(t), side, side, t.shape[-1]).permute(0, 3, 1, 2)
    return transform


TIMM = {  # name: (constructor options, the default layer, reference reshape)
    "vit_tiny_patch16_224": (dict(depth=2), "blocks.1.norm1", tokens(1, 4)),
    "deit_tiny_distilled_patch16_224": (dict(depth=2), "blocks.1.norm1", tokens(2, 4)),
    "cait_xxs24_224": (dict(depth=2, depth_token_only=1), "blocks_token_only.0.norm1", tokens(1, 4)),
    "swin_tiny_patch4_window7_224": (dict(depths=(1, 1), num_heads=(1, 2), embed_dim=24, window_size=4),
                                     "layers.1.blocks.0.norm2", tokens(0, 8)),  # norm2 reads (N, h*w, C)
    "mixer_s16_224": (dict(), "norm", tokens(0, 4)),  # token MLPs: no class token
    "resmlp_12_224": (dict(), "norm", tokens(0, 4)),
}


class Logits(torch.nn.Module):
    """A Hugging Face classifier as pytorch-grad-cam takes it: a module returning the logits."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x).logits


@pytest.fixture(scope="module")
def image():
    torch.manual_seed(0)
    return torch.randn(1, 3, SIZE, SIZE)


def timm_model(name):
    options, _, _ = TIMM[name]
    torch.manual_seed(0)
    return timm.create_model(name, pretrained=False, num_classes=5, img_size=SIZE, **options).eval()


def hf_vit():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.ViTConfig(image_size=SIZE, patch_size=16, hidden_size=32, num_hidden_layers=2,
                                    num_attention_heads=2, intermediate_size=64, num_labels=5)
    return transformers.ViTForImageClassification(config).eval()


def reference(model, image, layer, transform):
    with gradcam.GradCAM(model, [model.get_submodule(layer)], reshape_transform=transform) as cam:
        return cam(image, targets=[ClassifierOutputTarget(TARGET)])


@pytest.mark.parametrize("name", list(TIMM))
def test_timm_transformer_maps_equal_pytorch_grad_cam(name, image):
    model = timm_model(name)
    exp = cnnvis.explain(model, image, target=TARGET)
    assert exp.layer == TIMM[name][1]
    assert pearson(exp.maps, reference(model, image, exp.layer, TIMM[name][2])) >= 0.99


def test_hugging_face_vit_maps_equal_pytorch_grad_cam(image):
    model = hf_vit()
    exp = cnnvis.explain(model, image, target=TARGET)
    assert exp.layer.endswith("layers.1.layernorm_before")
    expected = reference(Logits(model), image, "model." + exp.layer, tokens(1, 4))
    assert pearson(exp.maps, expected) >= 0.99


def test_attention_scores_named_explicitly_are_refused(image):
    model = timm_model("cait_xxs24_224")  # talking-heads attention: its scores pass through a module
    with pytest.raises(NonSpatialLayerError, match="not a spatial grid"):
        cnnvis.explain(model, image, target=TARGET, layer="blocks.1.attn.attn_drop")


def test_unrecognised_transformer_is_refused_with_candidate_layers(image):
    from cnnvis.plugins import plugin_manager

    pm = plugin_manager()
    builtin = pm.unregister(name="cnnvis.architectures.vit")
    try:
        with pytest.raises(NonSpatialLayerError, match=r"blocks\.1\.norm"):
            cnnvis.explain(timm_model("vit_tiny_patch16_224"), image, target=TARGET)
    finally:
        pm.register(builtin, name="cnnvis.architectures.vit")


def test_activations_of_every_layer_leave_attention_out(image):
    acts = cnnvis.activations(timm_model("cait_xxs24_224"), image)
    assert acts and not any("attn" in name for name in acts)
    assert all(a.ndim == 4 and a.shape[0] == 1 for a in acts.values())
    assert np.isfinite(np.concatenate([a.ravel() for a in acts.values()])).all()


def test_token_mlp_without_layer_norms_is_refused_not_drawn_on_its_stem(image):
    torch.manual_seed(0)
    model = timm.create_model("levit_128s", pretrained=False, num_classes=5).eval()
    with pytest.raises(NonSpatialLayerError, match="the last spatial grid, 'stem', is a transformer's patch embedding"):
        cnnvis.explain(model, torch.randn(1, 3, 224, 224), target=TARGET)
