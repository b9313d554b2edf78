import os

import pytest

# Keep runs comparable on small CI machines and quiet about TensorFlow's start-up chatter.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Triton (with CUDA builds of PyTorch) crashes when imported after TensorFlow; some tests use both.
from cnnvis.adapters.keras import import_triton_before_tensorflow  # noqa: E402

import_triton_before_tensorflow()


@pytest.fixture(scope="session")
def torch_threads():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    return torch


def pytest_collection_modifyitems(config, items):
    """Browser tests run last: Playwright's sync API keeps an event loop running on this thread
    while its browser is open, which the Jupyter server fixtures of other tests cannot share."""
    items.sort(key=lambda item: "/e2e/" in item.path.as_posix())
