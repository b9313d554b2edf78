"""The planted-patch task of test_localisation.py as a cached, trained model for the trust and batch tests."""

import functools

import numpy as np

SIZE, PATCH = 32, 6


def make_images(n, rng):
    """Noise images with one patch: a bright cross (class 1) or a bright square ring (class 0)."""
    images = rng.normal(0, 0.3, size=(n, 1, SIZE, SIZE)).astype(np.float32)
    labels = rng.integers(0, 2, size=n)
    corners = rng.integers(0, SIZE - PATCH, size=(n, 2))
    cross = np.zeros((PATCH, PATCH), np.float32)
    cross[PATCH // 2 - 1:PATCH // 2 + 1, :] = 1
    cross[:, PATCH // 2 - 1:PATCH // 2 + 1] = 1
    ring = np.ones((PATCH, PATCH), np.float32)
    ring[1:-1, 1:-1] = 0
    for img, label, (y, x) in zip(images, labels, corners, strict=True):
        img[0, y:y + PATCH, x:x + PATCH] += 2.0 * (cross if label else ring)
    return images, labels, corners


def build():
    import torch.nn as nn

    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(32, 2),
    )


@functools.lru_cache(maxsize=1)
def trained_state():
    """Weights trained once per test process; a shorter schedule than test_localisation's reaches the same accuracy."""
    import torch

    rng = np.random.default_rng(0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build()
        x, y, _ = make_images(512, rng)
        x, y = torch.from_numpy(x), torch.from_numpy(y)
        optim = torch.optim.Adam(model.parameters(), lr=5e-3)
        for _epoch in range(3):
            for i in range(0, len(x), 64):
                optim.zero_grad()
                torch.nn.functional.cross_entropy(model(x[i:i + 64]), y[i:i + 64]).backward()
                optim.step()
    return {k: v.clone() for k, v in model.state_dict().items()}


def trained_model():
    """A fresh eval-mode copy of the trained planted-patch CNN (tests may hook or wrap it)."""
    model = build()
    model.load_state_dict(trained_state())
    return model.eval()
