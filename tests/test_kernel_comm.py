"""The JupyterLab sidebar's kernel comm, against a real IPython kernel started with jupyter_client.

The test plays the frontend: it registers the target with a silent execute, opens a ``cnnvis``
comm with a ``comm_open`` shell message, sends requests as ``comm_msg`` and reads the replies
(with their binary buffers) from iopub.
"""

import io
import os
import sys
import time
import uuid

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("ipykernel")
from jupyter_client.manager import start_new_kernel  # noqa: E402

TIMEOUT = 120  # seconds for any one reply: a broken comm fails the test instead of hanging it
PNG = b"\x89PNG\r\n\x1a\n"

TORCH_CELL = """
import time
import numpy as np
import torch
from torch import nn

class Sleepy(nn.Module):
    def forward(self, x):
        time.sleep(0.2)  # slow enough that a cancel arrives midway through ScoreCAM
        return x

torch.manual_seed(0)
net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 12, 3, padding=1), nn.ReLU(),
                    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(12, 4)).eval()
slow = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), Sleepy(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                     nn.Linear(64, 2)).eval()
x = torch.rand(2, 3, 16, 16)
batch = np.random.default_rng(0).random((1, 3, 16, 16), dtype=np.float32)
flat = np.zeros((3, 4))
labels = ["cat", "dog", "owl", "fox"]
_private = torch.rand(1, 3, 8, 8)
"""

KERAS_CELL = """
from cnnvis.adapters.keras import import_triton_before_tensorflow
import_triton_before_tensorflow()
import keras
kmodel = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
                           keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])
kx = np.random.default_rng(1).random((2, 16, 16, 3), dtype=np.float32)
"""


class Kernel:
    """A kernel client that executes code and speaks the comm protocol like the sidebar."""

    def __init__(self, client):
        self.client = client
        self.pending: list[dict] = []  # iopub messages read while waiting for something else

    def execute(self, code, silent=False):
        msg_id = self.client.execute(code, silent=silent, store_history=False)
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            reply = self.client.get_shell_msg(timeout=TIMEOUT)
            if reply["parent_header"].get("msg_id") == msg_id:
                assert reply["content"]["status"] == "ok", reply["content"]
                return
        raise AssertionError(f"no execute reply for {code[:40]!r}")

    def open_comm(self):
        comm_id = uuid.uuid4().hex
        self._shell("comm_open", {"comm_id": comm_id, "target_name": "cnnvis", "data": {}})
        return comm_id

    def close_comm(self, comm_id):
        self._shell("comm_close", {"comm_id": comm_id, "data": {}})

    def send(self, comm_id, data, buffers=()):
        self._shell("comm_msg", {"comm_id": comm_id, "data": data}, list(buffers))

    def request(self, comm_id, kind, args=None, buffers=(), on_progress=None):
        """``(content, buffers)`` of the final reply; progress messages go to ``on_progress``."""
        request_id = uuid.uuid4().hex[:8]
        self.send(comm_id, {"id": request_id, "kind": kind, "args": args or {}}, buffers)
        deadline = time.monotonic() + TIMEOUT
        while True:
            data, received = self._next(comm_id, request_id, deadline)
            if "progress" not in data:
                return data, received
            if on_progress:
                on_progress(request_id, data["progress"])

    def _next(self, comm_id, request_id, deadline):
        """The next message about ``request_id``; others wait in ``pending`` for their own reader."""
        while True:
            for i, msg in enumerate(self.pending):
                if msg["content"]["data"].get("id") == request_id:
                    msg = self.pending.pop(i)
                    return msg["content"]["data"], [bytes(b) for b in msg.get("buffers") or []]
            left = deadline - time.monotonic()
            assert left > 0, f"no reply to {request_id} within {TIMEOUT}s"
            msg = self.client.get_iopub_msg(timeout=left)
            if msg["msg_type"] == "comm_msg" and msg["content"].get("comm_id") == comm_id:
                self.pending.append(msg)

    def _shell(self, msg_type, content, buffers=()):
        msg = self.client.session.msg(msg_type, content)
        self.client.session.send(self.client.shell_channel.socket, msg, buffers=list(buffers))


@pytest.fixture(scope="module")
def kernel():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "OMP_NUM_THREADS": "1"}
    manager, client = start_new_kernel(kernel_name="python3", startup_timeout=TIMEOUT, env=env)
    try:
        k = Kernel(client)
        k.execute(f"import sys; assert sys.executable == {sys.executable!r}, sys.executable")
        k.execute("import cnnvis.notebook.kernel as _k; _k.register()", silent=True)
        k.execute("import cnnvis.notebook.kernel as _k; _k.register()", silent=True)  # idempotent
        k.execute(TORCH_CELL)
        yield k
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def comm(kernel):
    comm_id = kernel.open_comm()
    yield comm_id
    kernel.close_comm(comm_id)


def test_kernel_models_lists_models_and_batches_in_order(kernel, comm):
    content, buffers = kernel.request(comm, "kernel_models")
    assert content["ok"] is True and buffers == []
    models = content["result"]["models"]
    assert [m["name"] for m in models] == ["net", "slow"]
    assert models[0] == {"name": "net", "framework": "torch", "type": "Sequential",
                         "params": 3 * 8 * 9 + 8 + 8 * 12 * 9 + 12 + 12 * 4 + 4}
    inputs = {i["name"]: i for i in content["result"]["inputs"]}
    assert list(inputs) == ["x", "batch"]  # not the 2-D array, not the _private tensor
    assert inputs["x"] == {"name": "x", "shape": [2, 3, 16, 16], "dtype": "float32", "framework": "torch"}
    assert inputs["batch"]["framework"] == "numpy" and inputs["batch"]["shape"] == [1, 3, 16, 16]


def test_attach_then_graph_explain_activations(kernel, comm):
    content, _ = kernel.request(comm, "attach", {"name": "net", "inputs": "x", "class_names": "labels"})
    assert content["ok"] is True, content
    assert content["result"]["model"] == "net" and content["result"]["framework"] == "torch"
    assert content["result"]["inputs"] == [2, 3, 16, 16]

    content, _ = kernel.request(comm, "graph", {"model": "net"})
    assert content["ok"] is True
    graph = content["result"]
    assert {"0", "2"} <= {n["id"] for n in graph["nodes"]} and graph["edges"]

    content, buffers = kernel.request(comm, "explain", {"model": "net", "method": "gradcam", "target": 1})
    assert content["ok"] is True, content
    assert content["result"]["targets"] == [1, 1] and content["result"]["target_names"][0] == "dog"
    assert buffers[0].startswith(PNG) and buffers[1].startswith(PNG)
    maps = np.load(io.BytesIO(buffers[3]), allow_pickle=False)
    assert maps.shape == (2, 16, 16) and maps.dtype == np.float32

    sent = io.BytesIO()
    np.save(sent, np.ones((1, 3, 16, 16), np.float32))
    content, buffers = kernel.request(comm, "activations", {"model": "net", "layer": "2"}, [sent.getvalue()])
    assert content["ok"] is True and content["result"]["shape"] == [12, 16, 16]
    assert np.load(io.BytesIO(buffers[0]), allow_pickle=False).shape == (12, 16, 16)

    content, _ = kernel.request(comm, "models")
    assert [m["id"] for m in content["result"]["models"]] == ["net"]


@pytest.mark.parametrize(("kind", "args", "error"), [
    ("nonsense", {}, "BadRequest"),
    ("attach", {"name": "no_such_variable"}, "NotFound"),
    ("attach", {"name": "flat"}, "BadRequest"),
    ("attach", {}, "BadRequest"),
    ("attach", {"name": "net", "inputs": "missing"}, "NotFound"),
    ("graph", {"model": "never_attached"}, "NotFound"),
])
def test_mistakes_get_error_replies(kernel, comm, kind, args, error):
    content, buffers = kernel.request(comm, kind, args)
    assert content["ok"] is False and buffers == []
    assert content["error"]["type"] == error and content["error"]["message"]


def test_cancel_stops_work_while_the_comm_keeps_answering(kernel, comm):
    content, _ = kernel.request(comm, "attach", {"name": "slow", "inputs": "x"})
    assert content["ok"] is True
    seen = []

    def on_progress(request_id, progress):
        if not seen:  # the worker runs ScoreCAM; this comm still answers, and cancels it
            answer, _ = kernel.request(comm, "status")
            assert answer["ok"] is True and "attach" in answer["result"]["kinds"]
            kernel.send(comm, {"cancel": request_id})
        seen.append(progress)

    content, _ = kernel.request(comm, "explain", {"model": "slow", "method": "scorecam", "layer": "0"},
                                on_progress=on_progress)
    assert seen and content["ok"] is False and content["error"]["type"] == "CancelledError"


def test_each_comm_has_its_own_models(kernel, comm):
    other = kernel.open_comm()
    try:
        content, _ = kernel.request(other, "models")
        assert content["result"]["models"] == []
    finally:
        kernel.close_comm(other)


def test_keras_model_through_the_comm(kernel, comm):
    kernel.execute(KERAS_CELL)
    content, _ = kernel.request(comm, "kernel_models")
    models = {m["name"]: m for m in content["result"]["models"]}
    assert models["kmodel"]["framework"] == "keras" and models["kmodel"]["params"] == 3 * 4 * 9 + 4 + 4 * 3 + 3
    inputs = {i["name"]: i for i in content["result"]["inputs"]}
    assert inputs["kx"]["shape"] == [2, 16, 16, 3]

    content, _ = kernel.request(comm, "attach", {"name": "kmodel", "inputs": "kx"})
    assert content["ok"] is True and content["result"]["framework"] == "keras"
    content, buffers = kernel.request(comm, "explain", {"model": "kmodel", "layer": "conv", "target": 0})
    assert content["ok"] is True, content
    assert buffers[0].startswith(PNG) and content["result"]["shape"] == [2, 16, 16]


def test_register_is_idempotent_and_needs_a_kernel():
    from cnnvis.notebook import kernel as kernel_comm

    class Manager:
        def __init__(self):
            self.targets, self.calls = {}, 0

        def register_target(self, name, callback):
            self.calls += 1
            self.targets[name] = callback

    class Shell:
        user_ns: dict = {}

        def __init__(self):
            self.kernel = type("K", (), {"comm_manager": Manager()})()

    shell = Shell()
    kernel_comm.register(shell)
    kernel_comm.register(shell)
    assert shell.kernel.comm_manager.calls == 1 and "cnnvis" in shell.kernel.comm_manager.targets
    with pytest.raises(RuntimeError, match="IPython kernel"):
        kernel_comm.register()  # plain pytest: no kernel here
