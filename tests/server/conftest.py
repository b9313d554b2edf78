"""A Jupyter server with the cnnvis extension, and a small model, inputs and logdir under its root."""

import json
import pickle
import shutil

import numpy as np
import pytest

# pytest-jupyter's fixtures and async-test hooks, for this folder only (pytest_plugins is only
# allowed in the rootdir's conftest, and other tests need none of it).
from pytest_jupyter.jupyter_server import *  # noqa: E402, F403

API = "cnnvis/api"


@pytest.fixture
def jp_server_config():
    return {
        "ServerApp": {"jpserver_extensions": {"cnnvis": True}, "allow_root": True},
        "CnnvisExtension": {"max_request_bytes": 2**20, "job_concurrency": 2, "stream_interval": 0.05,
                            "job_poll_interval": 0.02},
    }


@pytest.fixture(scope="session")
def model_files(tmp_path_factory):
    """A tiny CNN saved with torch.export, its inputs as .npy, a pickle named like a checkpoint."""
    torch = pytest.importorskip("torch")
    from torch import nn

    class TinyNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
            self.relu1 = nn.ReLU()
            self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
            self.relu2 = nn.ReLU()
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(16, 4)

        def forward(self, x):
            x = self.relu2(self.conv2(self.relu1(self.conv1(x))))
            return self.fc(self.pool(x).flatten(1))

    torch.manual_seed(0)
    model = TinyNet().eval()
    x = torch.randn(4, 3, 16, 16)
    folder = tmp_path_factory.mktemp("models")
    batch = torch.export.Dim("batch", min=1, max=4096)
    torch.export.save(torch.export.export(model, (x[:2],), dynamic_shapes=({0: batch},)), folder / "tiny.pt2")
    np.save(folder / "inputs.npy", x.numpy())
    (folder / "evil.pt2").write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    np.save(folder / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return folder


@pytest.fixture
def root(jp_root_dir, model_files):
    for path in model_files.iterdir():
        shutil.copy(path, jp_root_dir / path.name)
    return jp_root_dir


@pytest.fixture
def logdir(root):
    from cnnvis.scalars import EventWriter

    writer = EventWriter(root / "runs" / "a")
    for step in range(50):
        writer.add_scalar("loss", 1.0 / (step + 1), step)
        writer.add_scalar("acc", step / 50, step)
    writer.close()
    return "runs"


@pytest.fixture
def api(jp_fetch):
    """``await api("status")`` / ``await api("models", method="POST", body={...})``; JSON decoded."""

    async def call(*parts, body=None, raw=False, **kwargs):
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        response = await jp_fetch(API, *parts, body=body, raise_error=False, **kwargs)
        if raw:
            return response
        return response.code, json.loads(response.body or b"null")

    return call


@pytest.fixture
def open_model(api, root):
    """``model_id = await open_model()``: the tiny CNN with its four inputs."""

    async def opened(path="tiny.pt2", inputs="inputs.npy"):
        code, reply = await api("models", method="POST", body={"path": path, "inputs": inputs})
        assert code == 201, reply
        return reply["id"]

    return opened


@pytest.fixture
def media_logdir(root):
    """``media/a``: scalars, weight histograms and image summaries, written by cnnvis's own
    writer as a training script would."""
    from cnnvis.scalars import EventWriter

    rng = np.random.default_rng(0)
    with EventWriter(root / "media" / "a") as writer:
        for step in range(30):
            writer.add_scalar("loss", 1.0 / (step + 1), step)
            writer.add_histogram("weights/conv1", rng.normal(step / 10, 1, size=400), step)
            if step % 10 == 0:
                writer.add_image("sample", np.full((6, 5, 3), step * 8, np.uint8), step)
    return "media"
