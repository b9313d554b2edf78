"""The REST routes: formats, limits, and refusals (paths outside root, pickles, bad bodies)."""

import asyncio
import io
import json
import os

import numpy as np
import pytest

from cnnvis.scalars import EventWriter

NPY = "application/x-npy"


async def test_status_lists_methods_and_limits(api):
    code, status = await api("status")
    assert code == 200
    assert {"gradcam", "scorecam", "ablationcam"} <= set(status["methods"])
    assert status["server"]["max_request_bytes"] == 2**20
    assert any("torch" in p for p in status["plugins"])


async def test_runs_scalars_cursor_and_alerts(api, root, logdir):
    code, runs = await api("runs", params={"logdir": logdir})
    assert code == 200 and runs["logdir"] == "runs"  # the client's path, not the server's
    assert runs["runs"] == [{"run": "a", "tags": [{"tag": "acc", "points": 50, "last_step": 49},
                                                  {"tag": "loss", "points": 50, "last_step": 49}]}]
    query = {"logdir": logdir, "run": "a", "tag": "loss"}
    code, full = await api("scalars", params={**query, "points": 10, "smoothing": 0.5})
    assert code == 200 and full["total"] == 50 and full["cursor"] == 50 and full["downsampled"]
    assert len(full["steps"]) <= 10 and len(full["lo"]) == len(full["steps"]) and "smoothed" in full
    assert 0 in full["steps"] and 49 in full["steps"]  # the envelope keeps the ends
    writer = EventWriter(root / "runs" / "a")
    for step in range(50, 60):
        writer.add_scalar("loss", 0.01, step)
    writer.close()
    for _ in range(40):  # a logdir is re-read at most every CnnvisExtension.scalars_max_age seconds
        code, more = await api("scalars", params={**query, "since": full["cursor"]})
        if more["total"] == 60:
            break
        await asyncio.sleep(0.1)
    assert code == 200 and more["steps"] == list(range(50, 60)) and more["cursor"] == 60
    code, again = await api("scalars", params={**query, "points": 10, "smoothing": 0.5})
    assert again["total"] == 60 and 59 in again["steps"]  # no stale cached reply once the run grew
    code, clamped = await api("scalars", params={**query, "points": 10**9})
    assert code == 200 and not clamped["downsampled"]  # clamped to max_scalar_points, not refused
    code, alerts = await api("alerts", params={"logdir": logdir})
    assert code == 200 and isinstance(alerts["alerts"], list)


async def test_models_graph_activations_explain(api, open_model, jp_fetch):
    model_id = await open_model()
    code, listing = await api("models")
    assert code == 200 and listing["models"][0]["id"] == model_id
    assert listing["models"][0]["inputs"] == [4, 3, 16, 16]
    code, graph = await api("models", model_id, "graph")
    assert code == 200 and "conv2" in {n["id"] for n in graph["nodes"]}

    code, stats = await api("models", model_id, "activations", method="POST", body={"layer": "conv2", "index": 1})
    assert code == 200 and stats["shape"] == [16, 16, 16] and len(stats["stats"]["mean"]) == 16
    response = await api("models", model_id, "activations", method="POST", raw=True,
                         body={"layer": "conv2", "index": 1}, headers={"Accept": NPY})
    assert response.code == 200 and response.headers["Content-Type"] == NPY
    array = np.load(io.BytesIO(response.body), allow_pickle=False)
    assert array.shape == (16, 16, 16) and array.dtype == np.float32
    np.testing.assert_allclose(array.mean(axis=(1, 2)), stats["stats"]["mean"], atol=1e-5)

    code, reply = await api("models", model_id, "explain", method="POST",
                            body={"method": "gradcam", "layer": "conv2", "indices": [0, 2], "target": 1})
    assert code == 200 and reply["layer"] == "conv2" and reply["targets"] == [1, 1]
    kinds = [(a["name"], a["type"]) for a in reply["artifacts"]]
    assert kinds[:2] == [("overlay 0", "image/png"), ("overlay 1", "image/png")]
    assert ("maps", NPY) in kinds
    for artifact in reply["artifacts"]:
        response = await jp_fetch(artifact["url"].split("/", 2)[2])  # strip the base_url
        assert response.headers["Content-Type"] == artifact["type"]
        if artifact["name"] == "maps":
            maps = np.load(io.BytesIO(response.body), allow_pickle=False)
            assert maps.shape == (2, 16, 16) and 0 <= maps.min() and maps.max() <= 1
        elif artifact["type"] == "image/png":
            assert response.body.startswith(b"\x89PNG")
    code, missing = await api("models", model_id, "explain", reply["id"], "99")
    assert code == 404


async def test_unknown_layer_and_model_are_client_errors(api, open_model):
    model_id = await open_model()
    code, reply = await api("models", model_id, "activations", method="POST", body={"layer": "conv9"})
    assert code == 400 and "conv9" in reply["message"]
    code, reply = await api("models", "nosuchmodel", "graph")
    assert code == 404 and "nosuchmodel" in reply["message"]


@pytest.mark.parametrize("path", ["../outside.pt2", "/etc/passwd", "link/tiny.pt2", "escape.pt2"])
async def test_paths_outside_root_are_refused(api, root, tmp_path_factory, path):
    outside = tmp_path_factory.mktemp("outside")
    (outside / "tiny.pt2").write_bytes((root / "tiny.pt2").read_bytes())
    os.symlink(outside, root / "link")
    os.symlink(outside / "tiny.pt2", root / "escape.pt2")
    code, reply = await api("models", method="POST", body={"path": path})
    assert code == 403, reply
    code, reply = await api("models", method="POST", body={"path": "tiny.pt2", "inputs": "../" + path})
    assert code == 403, reply
    logdir = path.replace("tiny.pt2", "").replace("escape.pt2", "link") or "link"
    code, reply = await api("runs", params={"logdir": logdir})
    assert code == 403, (logdir, reply)


async def test_pickle_disguised_as_checkpoint_is_refused(api, root):
    code, reply = await api("models", method="POST", body={"path": "evil.pt2"})
    assert 400 <= code < 500 and "unpickl" in reply["message"]
    code, reply = await api("models", method="POST", body={"path": "tiny.pt2", "inputs": "objects.npy"})
    assert code == 400 and "unpickl" in reply["message"]


async def test_oversize_and_malformed_bodies(api):
    code, reply = await api("models", method="POST", body=b'{"path": "' + b"x" * 2**21 + b'"}')
    assert code == 413 and "larger" in reply["message"]
    code, reply = await api("models", method="POST", body=b'{"path": ')
    assert code == 400 and "Malformed JSON" in reply["message"]
    code, reply = await api("models", method="POST", body=b"[1, 2]")
    assert code == 400 and "JSON object" in reply["message"]


async def test_fsspec_urls_are_off_by_default(api):
    code, reply = await api("runs", params={"logdir": "memory://runs"})
    assert code == 403 and "allow_fsspec_urls" in reply["message"]


async def test_page_and_static_assets(jp_fetch):
    page = await jp_fetch("cnnvis/")
    html = page.body.decode()
    assert "page.js" in html and 'id="cnnvis-root"' in html
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    script = await jp_fetch("cnnvis", "static", "page.js")
    assert b"cnnvis/api/" in script.body and b"cnnvis-root" in script.body
    openapi = json.loads((await jp_fetch("cnnvis", "api", "openapi.json")).body)
    assert openapi["paths"]["/api/stream/scalars"]["get"]["x-websocket"] is True


async def test_unexpected_errors_are_short_500s_and_the_server_carries_on(api, jp_serverapp):
    extension = jp_serverapp.web_app.settings["cnnvis"]

    def broken(args, buffers, **_):
        raise RuntimeError("something deep inside failed")

    original = extension.dispatcher._kinds["status"]
    extension.dispatcher._kinds["status"] = broken
    code, reply = await api("status")
    assert code == 500 and reply["message"].startswith("Internal error in cnnvis (RuntimeError)")
    assert "deep inside" not in reply["message"]  # details go to the log, not to the client
    extension.dispatcher._kinds["status"] = original
    code, _ = await api("status")
    assert code == 200


def test_extension_points_and_command():
    import cnnvis
    from cnnvis.server.app import CnnvisExtension, main

    (point,) = cnnvis._jupyter_server_extension_points()
    assert point["app"] is CnnvisExtension and CnnvisExtension.name == "cnnvis"
    assert CnnvisExtension.extension_url == "/cnnvis/"
    from cnnvis.server.app import launch_instance

    assert launch_instance == CnnvisExtension.launch_instance  # `jupyter cnnvis` starts the server
    with pytest.raises(SystemExit) as done:  # and `jupyter cnnvis token ...` manages device tokens
        main(["token", "--help"])
    assert done.value.code == 0
    assert {"job_concurrency", "max_request_bytes", "max_scalar_points", "allow_fsspec_urls",
            "logdir_roots"} <= set(CnnvisExtension.class_own_traits(config=True))
