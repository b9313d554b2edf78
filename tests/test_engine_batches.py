"""Any number of images in one explain call, image by image equal to pytorch-grad-cam."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
pytorch_grad_cam = pytest.importorskip("pytorch_grad_cam")

from helpers import GRAD_CAM_ANCHORS, assert_same_maps, grad_cam_anchor_maps  # noqa: E402

import cnnvis  # noqa: E402

nn = torch.nn
SAME = 0.9999  # Pearson per image against pytorch-grad-cam

def tiny_cnn():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 6, 3, padding=1, stride=2), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 5),
    ).eval()


def anchor_maps(method, model, module, x):
    return grad_cam_anchor_maps(method, model, module, x, batch_size=64)


@pytest.mark.parametrize("count", [1, 129])
@pytest.mark.parametrize("method", list(GRAD_CAM_ANCHORS))
def test_tiny_cnn_matches_pytorch_grad_cam_at_any_count(torch_threads, method, count):
    model = tiny_cnn()
    x = torch.randn(count, 3, 16, 16, generator=torch.Generator().manual_seed(count))
    exp = cnnvis.explain(model, x, method=method, layer="2", progress=False)
    assert exp.maps.shape == (count, 16, 16) and exp.maps.dtype == np.float32
    assert len(exp.targets) == count
    assert_same_maps(exp.maps, anchor_maps(method, model, model[2], x), SAME)


@pytest.mark.parametrize("method", list(GRAD_CAM_ANCHORS))
def test_six_hundred_images_in_one_call(torch_threads, method):
    model = tiny_cnn()
    x = torch.randn(600, 3, 16, 16, generator=torch.Generator().manual_seed(6))
    exp = cnnvis.explain(model, x, method=method, layer="2", progress=False)
    assert exp.maps.shape == (600, 16, 16) and exp.inputs_nchw.shape == (600, 3, 16, 16)
    assert_same_maps(exp.maps, anchor_maps(method, model, model[2], x), SAME)
    # Chunks of any size give the same maps as one pass.
    one_pass = cnnvis.explain(model, x, method=method, layer="2", batch_size=600, progress=False)
    np.testing.assert_allclose(exp.maps, one_pass.maps, atol=1e-5)


@pytest.mark.parametrize("count", [1, 129])
def test_resnet18_matches_pytorch_grad_cam(torch_threads, count):
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    x = torch.randn(count, 3, 64, 64, generator=torch.Generator().manual_seed(count))
    exp = cnnvis.explain(model, x, method="gradcam", layer="layer3")
    assert_same_maps(exp.maps, anchor_maps("gradcam", model, model.layer3, x), SAME)


def test_shared_scale_spans_every_chunk(torch_threads):
    model = tiny_cnn()
    x = torch.randn(70, 3, 16, 16, generator=torch.Generator().manual_seed(7))
    chunked = cnnvis.explain(model, x, layer="2", normalize="shared", batch_size=16)
    whole = cnnvis.explain(model, x, layer="2", normalize="shared", batch_size=70)
    assert float(chunked.maps.max()) == pytest.approx(1.0)
    np.testing.assert_allclose(chunked.maps, whole.maps, atol=1e-6)


def test_numpy_path_resizes_more_than_128_maps():
    from cnnvis.imaging import resize_maps

    maps = np.random.default_rng(0).random((300, 4, 4), dtype=np.float32)
    resized = resize_maps(maps, 16, 16)
    assert resized.shape == (300, 16, 16)
    np.testing.assert_allclose(resized[200], resize_maps(maps[200:201], 16, 16)[0], atol=1e-6)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_bad_batch_size_is_refused(bad):
    with pytest.raises(cnnvis.CnnvisError, match="batch_size"):
        cnnvis.explain(tiny_cnn(), torch.randn(2, 3, 16, 16), batch_size=bad)


def test_targets_are_split_across_chunks(torch_threads):
    model = tiny_cnn()
    x = torch.randn(40, 3, 16, 16, generator=torch.Generator().manual_seed(8))
    targets = [i % 5 for i in range(40)]
    chunked = cnnvis.explain(model, x, target=targets, layer="2", batch_size=7)
    assert chunked.targets == targets
    whole = cnnvis.explain(model, x, target=targets, layer="2", batch_size=40)
    np.testing.assert_allclose(chunked.maps, whole.maps, atol=1e-6)


def test_progress_counts_over_every_chunk(torch_threads):
    model = tiny_cnn()
    x = torch.randn(5, 3, 16, 16, generator=torch.Generator().manual_seed(9))
    calls = []
    cnnvis.explain(model, x, method="scorecam", layer="2", batch_size=2, progress=lambda d, t: calls.append((d, t)))
    assert calls[0] == (0, 5 * 6) and calls[-1] == (5 * 6, 5 * 6)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
