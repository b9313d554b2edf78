"""The notebook widget's message protocol, without a browser: requests in, replies with buffers out."""

import io
import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from cnnvis.notebook import CnnvisWidget, show  # noqa: E402
from cnnvis.notebook.magic import cnnvis_magic, register_magic  # noqa: E402


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 40, 3, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(40, 4))

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)))


class Recorder:
    """Stands in for the comm: records what the widget sends and lets tests wait for a reply."""

    def __init__(self, widget: CnnvisWidget, on_send=None):
        self.messages: list[tuple[dict, list]] = []
        self.done = threading.Condition()
        self.on_send = on_send
        widget.send = self.send

    def send(self, content, buffers=None):
        with self.done:
            self.messages.append((content, list(buffers or [])))
            self.done.notify_all()
        if self.on_send:
            self.on_send(content)

    def reply(self, request_id, timeout=60):
        with self.done:
            ok = self.done.wait_for(lambda: self._final(request_id) is not None, timeout=timeout)
        assert ok, f"no reply to {request_id}: {self.messages}"
        return self._final(request_id)

    def _final(self, request_id):
        return next(((c, b) for c, b in self.messages if c.get("id") == request_id and "ok" in c), None)


@pytest.fixture(scope="module")
def widget():
    torch.manual_seed(0)
    w = show(Net().eval(), torch.rand(2, 3, 16, 16), class_names=["cat", "dog", "owl", "fox"])
    yield w
    w.close()


def test_graph_request_through_the_message_handler(widget):
    rec = Recorder(widget)
    widget._on_message(widget, {"id": "g1", "kind": "graph", "args": {}}, [])
    content, buffers = rec.reply("g1")
    assert content["ok"] is True and buffers == []
    roots = [n["id"] for n in content["result"]["nodes"] if n["parent"] is None]
    assert "features" in roots and "classifier" in roots


def test_explain_reply_carries_binary_buffers(widget):
    rec = Recorder(widget)
    widget._on_message(widget, {"id": "e1", "kind": "explain", "args": {"method": "gradcam", "target": 1}}, [])
    content, buffers = rec.reply("e1")
    assert content["ok"] is True
    result = content["result"]
    assert result["targets"] == [1, 1] and result["top_k"][0][0]["name"] in {"cat", "dog", "owl", "fox"}
    assert buffers[0][:8] == b"\x89PNG\r\n\x1a\n" and buffers[1][:8] == b"\x89PNG\r\n\x1a\n"
    maps = np.load(io.BytesIO(buffers[3]), allow_pickle=False)
    assert maps.shape == (2, 16, 16) and maps.dtype == np.float32


def test_activations_request_with_input_buffer(widget):
    rec = Recorder(widget)
    x = io.BytesIO()
    np.save(x, np.random.default_rng(0).random((1, 3, 16, 16), dtype=np.float32))
    widget._on_message(widget, {"id": "a1", "kind": "activations", "args": {"layer": "features.2"}},
                       [memoryview(x.getvalue())])
    content, buffers = rec.reply("a1")
    assert content["ok"] is True and content["result"]["shape"] == [40, 16, 16]
    assert np.load(io.BytesIO(buffers[0]), allow_pickle=False).shape == (40, 16, 16)


@pytest.mark.parametrize("message", [
    {"id": "x1", "kind": "activations", "args": {"layer": "no.such.layer"}},
    {"id": "x1", "kind": "nonsense", "args": {}},
    {"id": "x1", "kind": "explain", "args": {"method": "not-a-method"}},
])
def test_errors_come_back_as_ok_false(widget, message):
    rec = Recorder(widget)
    widget._on_message(widget, message, [])
    content, buffers = rec.reply("x1")
    assert content["ok"] is False and buffers == []
    assert content["error"]["message"] and content["error"]["type"]


def test_request_without_kind_is_refused(widget):
    rec = Recorder(widget)
    widget._on_message(widget, {"id": "bad"}, [])
    content, _ = rec.reply("bad")
    assert content["ok"] is False and "kind" in content["error"]["message"]


def test_progress_then_cancel_stops_scorecam(widget):
    # Cancel as soon as the first progress message arrives: the next batch must not run.
    def cancel_on_progress(content):
        if "progress" in content:
            widget._on_message(widget, {"cancel": content["id"]}, [])

    rec = Recorder(widget, on_send=cancel_on_progress)
    args = {"method": "scorecam", "layer": "features.2"}
    widget.handle_request("s1", "explain", args)
    content, _ = rec.reply("s1")
    progress = [c["progress"] for c, _ in rec.messages if c.get("id") == "s1" and "progress" in c]
    assert progress and progress[0]["total"] == 80  # forward passes: 2 inputs x 40 channels
    assert content["ok"] is False and content["error"]["type"] == "CancelledError"


def test_scorecam_without_cancel_completes(widget):
    rec = Recorder(widget)
    widget.handle_request("s2", "explain", {"method": "scorecam", "layer": "features.2"})
    content, buffers = rec.reply("s2")
    assert content["ok"] is True and len(buffers) == 5


def test_mimebundle_carries_static_snapshot(widget):
    data, _ = widget._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    assert '<img class="cnnvis-snapshot-img"' in data["text/html"]
    assert data["image/png"].startswith("iVBOR")  # base64 of the PNG signature


def test_widget_loads_the_built_bundle():
    from cnnvis.notebook.widget import STATIC

    if not (STATIC / "widget.js").exists():
        pytest.skip("frontend bundle not built (make frontend)")
    assert "frontend bundle is missing" not in str(CnnvisWidget._esm)
    assert "render" in str(CnnvisWidget._esm)


def test_magic_resolves_names_in_user_namespace():
    torch.manual_seed(0)
    ns = {"net": Net().eval(), "x": torch.rand(1, 3, 16, 16), "labels": ["a", "b", "c", "d"]}
    w = cnnvis_magic("net --input x --target 2 --classes labels", ns)
    try:
        assert w.target == 2 and w.summary["name"] == "net" and w.summary["class_names"] == ns["labels"]
        assert w.summary["inputs"] == [1, 3, 16, 16]
    finally:
        w.close()


def test_magic_usage_errors_do_not_exit():
    from IPython.core.error import UsageError

    with pytest.raises(UsageError):
        cnnvis_magic("--bogus", {})
    with pytest.raises(UsageError):
        cnnvis_magic("missing_name", {})


def test_register_magic_and_load_ext():
    registered = {}

    class Shell:
        user_ns: dict = {}

        def register_magic_function(self, func, magic_kind, magic_name):
            registered[magic_name] = (func, magic_kind)

    register_magic(Shell())
    assert registered["cnnvis"][1] == "line"
