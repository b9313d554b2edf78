"""Sanity check and faithfulness on the planted-patch CNN, anchored on Quantus's numbers."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from planted import SIZE, make_images, trained_model  # noqa: E402

import cnnvis  # noqa: E402
from cnnvis import plugins  # noqa: E402
from cnnvis.cam.engine import CAMMethod  # noqa: E402

LAYER = "4"  # the last conv block's ReLU: full 32x32 resolution


@pytest.fixture(scope="module")
def planted():
    x, _, _ = make_images(32, np.random.default_rng(1))
    return trained_model(), x


class EdgeCAM(CAMMethod):
    """A deliberately broken method: the input's edge strength, whatever the model is."""

    name = "edgecam"
    uses_gradients = False

    def raw_map(self, ctx):
        import cv2

        from cnnvis.imaging import resize_maps

        images = ctx.adapter.inputs_nchw(ctx.inputs).mean(axis=1)
        edges = np.stack([np.hypot(cv2.Sobel(i, cv2.CV_32F, 1, 0), cv2.Sobel(i, cv2.CV_32F, 0, 1)) for i in images])
        return resize_maps(edges, *ctx.activations.shape[-2:])


class EdgePlugin:
    @cnnvis.hookimpl
    def cnnvis_cam_methods(self):
        return {"edgecam": EdgeCAM}


@pytest.fixture()
def edge_plugin():
    pm = plugins.plugin_manager()
    pm.register(EdgePlugin(), name="edge-test")
    yield
    pm.unregister(name="edge-test")


def test_gradcam_passes_and_leaves_the_model_alone(planted):
    model, x = planted
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng_state = torch.get_rng_state()
    report = cnnvis.sanity_check(model, x, method="gradcam", layer=LAYER, progress=False)
    assert report.passed, report.stages
    assert report.final_spearman < 0.2
    assert [row["layer"] for row in report.stages] == ["(original)", "8", "4", "2", "0"]
    assert report.stages[0]["spearman"] == pytest.approx(1.0)
    assert "depend on the learned weights" in report.verdict
    assert report.maps.shape == (5, 32, SIZE, SIZE)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(rng_state, torch.get_rng_state())  # seeding the copies left the caller's stream alone


def test_edge_detector_registered_as_plugin_fails(planted, edge_plugin):
    model, x = planted
    report = cnnvis.sanity_check(model, x, method="edgecam", layer=LAYER, progress=False)
    assert not report.passed
    assert report.final_spearman > 0.99
    assert "do not depend" in report.verdict
    loose = cnnvis.sanity_check(model, x, method="edgecam", layer=LAYER, threshold=1.01, progress=False)
    assert loose.passed  # the threshold is the caller's


def test_gradcam_deletes_faster_than_a_random_map(planted):
    model, x = planted
    exp = cnnvis.explain(model, x, method="gradcam", layer=LAYER)
    random_maps = np.random.default_rng(0).random(exp.maps.shape)
    ours = cnnvis.faithfulness(model, x, exp, metric="deletion", progress=False)
    chance = cnnvis.faithfulness(model, x, random_maps, metric="deletion", target=exp.targets, progress=False)
    assert ours.mean_auc <= 0.7 * chance.mean_auc, (ours.mean_auc, chance.mean_auc)
    inserted = cnnvis.faithfulness(model, x, exp, metric="insertion", progress=False)
    assert inserted.mean_auc > cnnvis.faithfulness(model, x, random_maps, metric="insertion",
                                                   target=exp.targets, progress=False).mean_auc
    assert ours.curves.shape == (32, 33) and ours.fractions[[0, -1]].tolist() == [0.0, 1.0]
    np.testing.assert_allclose(ours.curves[:, 0], inserted.curves[:, -1])  # both are the intact image
    assert len(ours.table) == 33


def _quantus_explainer(layer):
    def explain_func(model, inputs, targets, **kwargs):
        exp = cnnvis.explain(model, np.asarray(inputs), method="gradcam", target=[int(t) for t in targets],
                             layer=layer, progress=False)
        return exp.maps[:, None]

    return explain_func


def test_randomisation_matches_quantus(planted):
    quantus = pytest.importorskip("quantus")
    from quantus.functions.similarity_func import ssim as quantus_ssim

    model, x = planted
    x = x[:12]
    report = cnnvis.sanity_check(model, x, method="gradcam", layer=LAYER, seed=43, progress=False)
    y = np.asarray(report.targets)

    def ssim_2d(a, b, batched=True, **kwargs):
        return np.array([quantus_ssim(p.reshape(SIZE, SIZE), q.reshape(SIZE, SIZE)) for p, q in zip(a, b, strict=True)])

    for column, similarity in (("spearman", None), ("ssim", ssim_2d)):
        metric = quantus.MPRT(similarity_func=similarity, layer_order="top_down", seed=42, disable_warnings=True)
        scores = metric(model=model, x_batch=x, y_batch=y, a_batch=report.maps[0][:, None],
                        explain_func=_quantus_explainer(LAYER), channel_first=True)
        theirs = np.array([scores[name] for name in report.layers])
        ours = getattr(report, column)[1:]
        finite = np.isfinite(theirs)  # Quantus gives NaN where a randomised map is constant; we give 0
        np.testing.assert_allclose(ours[finite], theirs[finite], atol=1e-6)
        assert np.all(ours[~finite] == 0)


def test_deletion_matches_quantus_pixel_flipping(planted):
    quantus = pytest.importorskip("quantus")
    model, x = planted
    x = x[:12]
    exp = cnnvis.explain(model, x, method="gradcam", layer=LAYER)
    # Ties are ordered differently by any two sorts; a tiny rank-only jitter makes the order unique.
    maps = exp.maps + np.random.default_rng(3).random(exp.maps.shape).astype(np.float32) * 1e-4
    ours = cnnvis.faithfulness(model, x, maps, target=exp.targets, steps=32, baseline=0.0, progress=False)
    metric = quantus.PixelFlipping(features_in_step=SIZE * SIZE // 32, perturb_baseline=0.0, disable_warnings=True)
    theirs = np.array(metric(model=model, x_batch=x, y_batch=np.asarray(exp.targets), a_batch=maps[:, None],
                             channel_first=True, softmax=True))
    np.testing.assert_allclose(ours.curves[:, 1:], theirs, atol=1e-5)
    # Quantus integrates its curve (without the intact image) over steps of 1; ours over [0, 1].
    full = np.concatenate([ours.curves[:, :1], theirs], axis=1)
    np.testing.assert_allclose(ours.auc, np.trapezoid(full, dx=1, axis=1) / 32, atol=1e-6)


def test_faithfulness_rejects_mismatched_maps(planted):
    model, x = planted
    with pytest.raises(cnnvis.CnnvisError, match="one \\(32, 32\\) map per image"):
        cnnvis.faithfulness(model, x, np.zeros((3, 32, 32)), progress=False)
    with pytest.raises(cnnvis.CnnvisError, match="metric"):
        cnnvis.faithfulness(model, x, np.zeros((32, 32, 32)), metric="roads", progress=False)


def test_sanity_check_refuses_models_without_weights_to_reset():
    class Fake:
        framework = "tensorrt"

    from cnnvis.trust.randomize import cascade

    with pytest.raises(cnnvis.CnnvisError, match="PyTorch, Keras or ONNX"):
        cascade(Fake.framework, Fake(), 0)


def test_normalize_shared_and_none_keep_magnitudes(planted):
    model, x = planted
    default = cnnvis.explain(model, x[:6], layer=LAYER)
    per_image = cnnvis.explain(model, x[:6], layer=LAYER, normalize="image")
    shared = cnnvis.explain(model, x[:6], layer=LAYER, normalize="shared")
    raw = cnnvis.explain(model, x[:6], layer=LAYER, normalize="none")
    np.testing.assert_array_equal(default.maps, per_image.maps)
    peaks = np.maximum(raw.raw, 0).max(axis=(1, 2))
    np.testing.assert_allclose(raw.maps.max(axis=(1, 2)), peaks, rtol=1e-5)  # the layer is at input size
    np.testing.assert_allclose(shared.maps.max(axis=(1, 2)), peaks / peaks.max(), rtol=1e-5)
    assert shared.maps.max() == pytest.approx(1.0)
    with pytest.raises(cnnvis.CnnvisError, match="normalize"):
        cnnvis.explain(model, x[:2], layer=LAYER, normalize="global")


def test_keras_sanity_check_randomises_a_copy_top_down():
    keras = pytest.importorskip("keras")
    model = keras.Sequential([
        keras.Input((16, 16, 3)),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1"),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c2"),
        keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3, name="d"),
    ])
    x = np.random.default_rng(0).normal(size=(3, 16, 16, 3)).astype(np.float32)
    before = [w.copy() for w in model.get_weights()]
    report = cnnvis.sanity_check(model, x, method="gradcam", layer="c2", progress=False)
    again = cnnvis.sanity_check(model, x, method="gradcam", layer="c2", progress=False)
    assert [row["layer"] for row in report.stages] == ["(original)", "d", "c2", "c1"]
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    np.testing.assert_allclose(report.spearman, again.spearman)  # the seed fixes the re-initialisation
    assert report.spearman[0] == pytest.approx(1.0)
