"""ROAD (remove and debias) against pytorch-grad-cam's metrics/road.py."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import small_resnet18

import cnnvis
from cnnvis.trust.road import impute, removal_mask

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
pgc_road = pytest.importorskip("pytorch_grad_cam.metrics.road")
perturbation = pytest.importorskip("pytorch_grad_cam.metrics.perturbation_confidence")


@pytest.fixture(scope="module")
def setup(torch_threads):
    model, x = small_resnet18(size=32, seed=4)
    exp = cnnvis.explain(model, x, "gradcam", layer="layer2", progress=False)
    return model, x, exp


def test_imputation_equals_pytorch_grad_cam():
    rng = np.random.default_rng(0)
    image = rng.random((3, 12, 10), dtype=np.float32)
    keep = rng.random((12, 10)) > 0.4
    ours = impute(image, keep, noise=0.0)
    theirs = pgc_road.NoisyLinearImputer(noise=0.0)(torch.from_numpy(image), torch.from_numpy(keep.astype(np.float32)))
    np.testing.assert_allclose(ours, theirs.numpy(), atol=1e-5)
    np.testing.assert_array_equal(ours[:, keep], image[:, keep])  # kept pixels untouched


def test_road_scores_equal_pytorch_grad_cam_without_noise(setup):
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget

    model, x, exp = setup
    ours = cnnvis.trust.road.road(model, x, exp, percentiles=(20, 80), noise=0.0, progress=False)
    targets = [ClassifierOutputSoftmaxTarget(t) for t in exp.targets]
    imputer = pgc_road.NoisyLinearImputer(noise=0.0)
    for column, p in enumerate((20, 80)):
        morf = perturbation.PerturbationConfidenceMetric(perturbation.RemoveMostRelevantFirst(p, imputer))
        lerf = perturbation.PerturbationConfidenceMetric(perturbation.RemoveLeastRelevantFirst(p, imputer))
        np.testing.assert_allclose(ours.morf[:, column], morf(x, exp.maps, targets, model), atol=1e-5)
        np.testing.assert_allclose(ours.lerf[:, column], lerf(x, exp.maps, targets, model), atol=1e-5)
    assert ours.combined.shape == (2,)
    np.testing.assert_allclose(ours.combined, (ours.lerf.mean(1) - ours.morf.mean(1)) / 2)


def test_road_through_faithfulness(setup):
    model, x, exp = setup
    result = cnnvis.faithfulness(model, x, exp, metric="road", progress=False)
    assert result.morf.shape == (2, 9) and len(result.table) == 9
    assert set(result.to_dict()) >= {"metric", "percentiles", "morf", "lerf", "combined", "mean_combined"}
    again = cnnvis.faithfulness(model, x, exp, metric="road", progress=False)
    np.testing.assert_array_equal(result.morf, again.morf)  # seeded noise: repeatable


def test_road_refuses_bad_percentiles(setup):
    model, x, exp = setup
    with pytest.raises(cnnvis.CnnvisError, match="percentiles"):
        cnnvis.trust.road.road(model, x, exp, percentiles=(0, 50))
    assert removal_mask(np.linspace(0, 1, 100).reshape(10, 10), 90, True).sum() == 90


def test_arcc_parts_equal_pytorch_grad_cam(setup):
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.metrics.arcc import Coherency, Complexity
    from pytorch_grad_cam.metrics.road import ROADCombined
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget, ClassifierOutputTarget

    from cnnvis.trust.arcc import arcc

    model, x, exp = setup
    ours = arcc(model, x, exp, noise=0.0)
    targets = [ClassifierOutputSoftmaxTarget(t) for t in exp.targets]
    base = GradCAM(model, [model.layer2])
    np.testing.assert_allclose(ours.complexity, Complexity()(exp.maps), rtol=1e-5)
    # cnnvis maps the pre-softmax score (the contract), so the map recomputed for coherency does too.
    logit_targets = [ClassifierOutputTarget(t) for t in exp.targets]
    np.testing.assert_allclose(ours.coherency, Coherency()(x, exp.maps, logit_targets, model, base), atol=1e-3)
    road = ROADCombined(percentiles=[20, 40, 60, 80])(x, exp.maps, targets, model)  # noisy: close, not equal
    np.testing.assert_allclose(ours.road, np.clip(road * 2, 0, 1), atol=0.05)
    assert 0 <= ours.mean <= 1
