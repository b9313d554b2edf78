"""The notebook widget answers the engine kinds (``profile``, ``compare``) over its message
protocol for a TensorRT export, as the server does: the same views run in a cell."""

import threading

import pytest
from helpers import shared_fixture_dir

import cnnvis
from cnnvis.services import Dispatcher, ModelSession

FIXTURES = shared_fixture_dir("tensorrt")
pytestmark = pytest.mark.skipif(FIXTURES is None, reason="recorded TensorRT fixtures not found")
FP16 = "a100_resnet_fp16/resnet.onnx.engine.graph.json"


def test_widget_answers_profile_for_an_engine():
    widget = cnnvis.show(cnnvis.load(FIXTURES / FP16))
    replies, done = [], threading.Event()

    def send(content, buffers=None):
        if content.get("id") == "p1" and "ok" in content:
            replies.append(content)
            done.set()

    widget.send = send
    try:
        widget._on_message(widget, {"id": "p1", "kind": "profile", "args": {}}, [])
        assert done.wait(60)
    finally:
        widget.close()
    result = replies[0]["result"]
    assert replies[0]["ok"] is True and len(result["rows"]) == 36
    assert result["timing"]["count"] == 3698 and all("outputs" in r for r in result["rows"])


def test_dispatcher_compares_open_engines_and_refuses_other_models():
    dispatcher = Dispatcher()
    for name, path in (("fp32", "a100_resnet_fp32/resnet.onnx.engine.graph.json"), ("fp16", FP16)):
        dispatcher.add_session(name, ModelSession(cnnvis.load(FIXTURES / path), name=name, source=path))
    assert {"profile", "run_profile", "source_graph", "compare"} <= set(dispatcher.kinds)
    reply = dispatcher.handle("compare", {"models": ["fp32", "fp16"]}).result
    assert reply["names"] == ["a100_resnet_fp32", "a100_resnet_fp16"] and reply["alignment"] == "source nodes"
    with pytest.raises(cnnvis.CnnvisError, match="source"):
        dispatcher.handle("source_graph", {"model": "fp16"})
