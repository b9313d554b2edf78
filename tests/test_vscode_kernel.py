"""The VS Code extension's way into a notebook's kernel (cnnvis.notebook.vscode), in a real IPython
kernel started with jupyter_client.

The test sends exactly what the extension host sends through the Jupyter extension's
``executeCode`` — one execute per message, the request framed and base64-encoded in the code — and
reads the replies from the execute's display outputs (mime type ``application/x-cnnvis-frame``).
The same requests answered by a notebook widget in the same kernel must give identical results and
buffers.
"""

from __future__ import annotations

import base64
import io
import os
import sys
import time

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("ipykernel")
from jupyter_client.manager import start_new_kernel  # noqa: E402

from cnnvis.notebook.vscode import MIME  # noqa: E402
from cnnvis.services.codec import from_reply_frames, to_reply_frames  # noqa: E402

TIMEOUT = 120
WIDGET_MIME = "application/x-test-widget-frame"

MODEL_CELL = """
import numpy as np, torch
from torch import nn
torch.manual_seed(0)
net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 12, 3, padding=1), nn.ReLU(),
                    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(12, 4)).eval()
x = torch.rand(2, 3, 16, 16)
"""

# The widget's answers to the same requests, displayed as frames for the test to compare.
WIDGET_CELL = """
import base64, cnnvis
from IPython.display import display
from cnnvis.services.codec import from_reply_frames, to_reply_frames
_w = cnnvis.show(net, x, name="net", snapshot=False)
_w.send = lambda content, buffers=None: display(
    {%r: base64.b64encode(to_reply_frames(content, list(buffers or []))).decode()}, raw=True)
_request, _buffers = from_reply_frames(base64.b64decode(%r))
_w.handle_request(_request["id"], _request["kind"], _request["args"], _buffers)
"""

ENTRY = 'import cnnvis.notebook.vscode as _cnnvis_vscode\n_cnnvis_vscode.handle("{}")\ndel _cnnvis_vscode'


def frame(content, buffers=()):
    return base64.b64encode(to_reply_frames(content, list(buffers))).decode()


def npy(array):
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


class Kernel:
    def __init__(self, client):
        self.client = client

    def run(self, code):
        """Executes ``code``; returns the frames it displayed, by mime type, and any error."""
        msg_id = self.client.execute(code, store_history=False)
        frames, error = {}, None
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            msg = self.client.get_iopub_msg(timeout=TIMEOUT)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "display_data":
                for mime, value in content["data"].items():
                    frames.setdefault(mime, []).append(from_reply_frames(base64.b64decode(value)))
            elif kind == "error":
                error = f"{content['ename']}: {content['evalue']}"
            elif kind == "status" and content["execution_state"] == "idle":
                return frames, error
        raise AssertionError(f"no answer to {code[:60]!r} in {TIMEOUT}s")

    def relay(self, content, buffers=()):
        """One message as the extension host sends it: (reply content, buffers) of the last frame."""
        frames, error = self.run(ENTRY.format(frame(content, buffers)))
        assert error is None, error
        return frames[MIME][-1]


@pytest.fixture(scope="module")
def kernel():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    manager, client = start_new_kernel(kernel_name="python3", startup_timeout=TIMEOUT, env=env)
    try:
        k = Kernel(client)
        _, error = k.run(f"import sys; assert sys.executable == {sys.executable!r}\n{MODEL_CELL}")
        assert error is None, error
        yield k
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def test_kernel_models_and_attach(kernel):
    content, buffers = kernel.relay({"id": "m1", "kind": "kernel_models", "args": {}})
    assert content["ok"] is True and buffers == []
    assert [m["name"] for m in content["result"]["models"]] == ["net"]
    assert content["result"]["inputs"][0]["name"] == "x"
    content, _ = kernel.relay({"id": "a1", "kind": "attach", "args": {"name": "net", "inputs": "x"}})
    assert content["ok"] is True, content
    assert content["result"]["model"] == "net" and content["result"]["inputs"] == [2, 3, 16, 16]


@pytest.mark.parametrize(("kind", "args", "buffers"), [
    ("graph", {"model": "net"}, []),
    ("explain", {"model": "net", "method": "gradcam", "target": 1}, []),
    ("explain", {"model": "net", "method": "scorecam", "layer": "2"}, []),
    ("activations", {"model": "net", "layer": "2"}, [npy(np.ones((1, 3, 16, 16), np.float32))]),
])
def test_answers_match_the_widget(kernel, kind, args, buffers):
    kernel.relay({"id": "a0", "kind": "attach", "args": {"name": "net", "inputs": "x"}})
    request = {"id": f"r-{kind}", "kind": kind, "args": args}
    ours, our_buffers = kernel.relay(request, buffers)
    frames, error = kernel.run(WIDGET_CELL % (WIDGET_MIME, frame(request, buffers)))
    assert error is None, error
    theirs, their_buffers = frames[WIDGET_MIME][-1]
    assert ours["ok"] is True, ours
    assert ours == theirs
    assert our_buffers == their_buffers
    if kind != "graph":
        assert our_buffers, "arrays and images travel as bytes"


def test_progress_frames_come_before_the_reply(kernel):
    kernel.relay({"id": "a0", "kind": "attach", "args": {"name": "net", "inputs": "x"}})
    request = {"id": "p1", "kind": "explain", "args": {"model": "net", "method": "scorecam", "layer": "2"}}
    frames, error = kernel.run(ENTRY.format(frame(request)))
    assert error is None
    replies = [content for content, _ in frames[MIME]]
    assert all(r["id"] == "p1" for r in replies)
    assert "progress" in replies[0] and replies[-1]["ok"] is True


@pytest.mark.parametrize(("content", "error"), [
    ({"id": "e1", "kind": "nonsense", "args": {}}, "BadRequest"),
    ({"id": "e2", "kind": "graph", "args": {"model": "never_attached"}}, "NotFound"),
    ({"kind": "graph"}, "BadRequest"),
])
def test_mistakes_get_error_replies(kernel, content, error):
    reply, buffers = kernel.relay(content)
    assert reply["ok"] is False and buffers == []
    assert reply["error"]["type"] == error and reply["error"]["message"]


def test_an_unreadable_frame_is_answered_not_raised(kernel):
    frames, error = kernel.run(ENTRY.format(base64.b64encode(b"nonsense").decode()))
    assert error is None
    (reply, _), = frames[MIME]
    assert reply["ok"] is False and "Unreadable cnnvis frame" in reply["error"]["message"]
