"""Hostile files through a real Jupyter server with the cnnvis extension ("Open in CNN Vis" and the
views' routes): no payload runs in the server, memory stays bounded, sessions close and are capped,
nothing outside the root is read, error replies never show the server's own paths, and an unrelated
``GET status`` keeps answering while a hostile file is parsed."""

import asyncio
import os
import shutil

import numpy as np
import pytest

from .test_files_data import npz_bomb
from .test_files_models import escaping_keras_archive, replace_members
from .test_files_text import trtexec_log


async def test_open_pt2_with_pickled_sample_inputs_runs_nothing(api, root, marker, payload_pickle):
    replace_members(root / "tiny.pt2", root / "evil-inputs.pt2",
                    lambda name, data: payload_pickle if "data/sample_inputs/" in name else data)
    code, reply = await api("models", method="POST", body={"path": "evil-inputs.pt2", "inputs": "inputs.npy"})
    assert code == 201, reply
    assert any("sample_inputs" in note for note in reply["ignored"])
    code, graph = await api("models", reply["id"], "graph")
    assert code == 200 and graph["nodes"]
    assert not marker.exists()


async def test_raw_pickle_model_is_refused(api, root):
    code, reply = await api("models", method="POST", body={"path": "evil.pt2"})
    assert code == 400 and reply["reason"] == "UnsafeFileError"


@pytest.mark.parametrize("path", ["../outside.pt2", "/etc/passwd", "%2e%2e/outside.pt2", "link/tiny.pt2"])
async def test_model_paths_outside_the_root_are_refused(api, root, tmp_path, path):
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    shutil.copy(root / "tiny.pt2", outside / "tiny.pt2")
    if not (root / "link").exists():
        os.symlink(outside, root / "link")
    code, reply = await api("models", method="POST", body={"path": path})
    assert code in (403, 404), (path, reply)
    assert str(root) not in reply["message"] and str(tmp_path) not in reply["message"]


async def test_npz_bomb_as_inputs_is_read_only_to_the_limit(api, root, peak_rss):
    npz_bomb(root / "bomb.npz")
    with peak_rss() as rss:
        code, reply = await api("models", "nosuchmodel", "activations", method="POST",
                                body={"layer": "conv1", "inputs": "bomb.npz", "inputs_limit": 1})
    assert code == 404, reply  # the model is missing; the 512 MiB were never inflated to find that out
    assert rss.growth_mb < 150, rss.growth_mb
    with peak_rss() as rss:
        code, reply = await api("models", method="POST", body={"path": "tiny.pt2", "inputs": "bomb.npz"})
    assert code == 413 and "declares" in reply["message"]
    assert rss.growth_mb < 150, rss.growth_mb


async def test_models_close_and_the_least_recently_used_go_beyond_the_cap(api, open_model):
    first, second = await open_model(), await open_model()
    assert (await api("models", first, "graph"))[0] == 200  # first is now the most recently used
    code, third = await api("models", method="POST", body={"path": "tiny.pt2"})
    assert code == 201 and third["evicted"] == [second]  # max_sessions = 2 in this suite
    code, reply = await api("models", second, "graph")
    assert code == 404 and "open it again" in reply["message"]
    code, reply = await api("models", first, method="DELETE")
    assert code == 200 and reply == {"closed": first, "models": [third["id"]]}
    assert (await api("models", first, "graph"))[0] == 404
    assert (await api("models", first, method="DELETE"))[0] == 404
    code, listing = await api("models")
    assert [m["id"] for m in listing["models"]] == [third["id"]]


async def test_event_file_linked_from_outside_the_root_is_not_served(api, root, tmp_path):
    from cnnvis.scalars import EventWriter

    outside = tmp_path / "outside-run"
    with EventWriter(outside) as writer:
        writer.add_scalar("secret_metric", 42.0, 0)
    with EventWriter(root / "shared" / "mine") as writer:
        writer.add_scalar("loss", 1.0, 0)
    (root / "shared" / "stolen").mkdir()
    event_file = next(outside.iterdir())
    os.symlink(event_file, root / "shared" / "stolen" / event_file.name)
    code, runs = await api("runs", params={"logdir": "shared"})
    assert code == 200 and [r["run"] for r in runs["runs"]] == ["mine"]
    code, reply = await api("scalars", params={"logdir": "shared", "run": "stolen", "tag": "secret_metric"})
    assert code == 404 and "42" not in reply["message"]
    assert str(root) not in reply["message"] and os.path.realpath(root) not in reply["message"]


async def test_error_replies_name_paths_relative_to_the_root(api, root):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((2, 2), np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 2])], [weight])
    model = helper.make_model(graph)
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", "../../etc/passwd"
    (root / "nested").mkdir()
    onnx.save_model(model, str(root / "nested" / "evil.onnx"))
    code, reply = await api("models", method="POST", body={"path": "nested/evil.onnx"})
    assert code == 400 and "outside the model's folder" in reply["message"]
    assert str(root) not in reply["message"] and os.path.realpath(root) not in reply["message"]


@pytest.mark.timeout(180)  # the quadratic parse held the server for minutes per request
async def test_status_answers_while_a_hostile_log_is_parsed(api, root, marker, payload_pickle):
    line = " (A[" * 2**18
    (root / "hostile.log").write_text(trtexec_log([
        f"Layer(Conv): c, Tactic: 0x1, {line} -> {line}", "=== Profile (10 iterations ) ===", "head",
        " " * 2**20 + " 1 2 3 x", f"[I] Created input binding for {line} with dimensions {line}"] * 4))
    hostile = [asyncio.ensure_future(api("models", method="POST", body={"path": "hostile.log"})) for _ in range(3)]
    code, status = await api("status")
    assert code == 200 and "close" in status["kinds"]
    for code, reply in await asyncio.gather(*hostile):
        assert code in (201, 400), reply
    assert (await api("status"))[0] == 200


async def test_keras_archive_traversal_through_the_server(api, root, tmp_path):
    escaped = tmp_path / "escaped-by-server.txt"
    escaping_keras_archive(tmp_path, root / "evil.keras", escaped)
    code, _ = await api("models", method="POST", body={"path": "evil.keras"})
    assert code in (201, 400)
    assert not escaped.exists()


def test_sessions_are_capped_by_memory_least_recently_used_first():
    import torch

    from cnnvis.services import Dispatcher, ModelSession

    dispatcher = Dispatcher()
    dispatcher.sessions.max_bytes = 10 * 2**20  # room for three sessions holding 3 MiB of inputs each

    def opened(name):
        return dispatcher.open_session(name, ModelSession(torch.nn.Conv2d(3, 1, 1), torch.zeros(4, 3, 256, 256)))

    assert opened("a") == [] and opened("b") == [] and opened("c") == []
    dispatcher.session({"model": "a"})  # used: "b" is now the least recently used
    assert opened("d") == ["b"]
    assert list(dispatcher.sessions) == ["c", "a", "d"]
    assert dispatcher.handle("close", {"model": "a"}).result == {"closed": "a", "models": ["c", "d"]}
    assert dispatcher.sessions.total_bytes() <= dispatcher.sessions.max_bytes


def test_media_read_cache_keeps_a_bounded_number_of_logdirs(tmp_path):
    from cnnvis.scalars import EventWriter
    from cnnvis.services import media

    for i in range(3 * media.MEDIA_KEPT):
        with EventWriter(tmp_path / f"logdir{i}" / "run") as writer:
            writer.add_histogram("w", np.arange(10.0), 0)
        media.histograms(str(tmp_path / f"logdir{i}"), {})
        assert len(media._reads) <= media.MEDIA_KEPT
