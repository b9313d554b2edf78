"""A CNN trained where a small planted patch decides the class must look at the patch."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import planted  # noqa: E402

import cnnvis  # noqa: E402


def make_images(n, rng):
    """The planted-patch images (tests/planted.py) as torch tensors."""
    images, labels, corners = planted.make_images(n, rng)
    return torch.from_numpy(images), torch.from_numpy(labels), corners


def test_gradcam_peak_inside_planted_patch(torch_threads):
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(32, 2),
    )
    x, y, _ = make_images(1200, rng)
    optim = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _epoch in range(6):
        for i in range(0, len(x), 64):
            optim.zero_grad()
            nn.functional.cross_entropy(model(x[i:i + 64]), y[i:i + 64]).backward()
            optim.step()
    model.eval()
    x_test, y_test, corners = make_images(100, rng)
    accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
    assert accuracy > 0.9, f"the test model did not learn the task (accuracy {accuracy:.2f})"

    exp = cnnvis.explain(model, x_test, target=y_test.tolist(), layer="4")
    hits = 0
    for cam, (cy, cx) in zip(exp.maps, corners, strict=True):
        py, px = np.unravel_index(np.argmax(cam), cam.shape)
        hits += (cy - 1 <= py <= cy + planted.PATCH) and (cx - 1 <= px <= cx + planted.PATCH)
    assert hits / len(corners) >= 0.9, f"peak inside the patch for {hits}/{len(corners)} images"
