import os

import pytest

# Keep runs comparable on small CI machines and quiet about TensorFlow's start-up chatter.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def torch_threads():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    return torch
