"""WebSocket streams: live scalar points while a writer appends, and job progress / cancellation."""

import asyncio
import io
import json
import threading
import time

import numpy as np

from cnnvis.scalars import EventWriter


async def _next(ws, timeout=10.0):
    message = await asyncio.wait_for(ws.read_message(), timeout)
    return None if message is None else json.loads(message)


async def test_live_scalars_arrive_once_in_order(jp_ws_fetch, root, logdir):
    ws = await jp_ws_fetch("cnnvis", "api", "stream", "scalars", params={"logdir": logdir})
    hello = await _next(ws)
    assert hello["type"] == "hello"
    assert {(c["run"], c["tag"]): c["points"] for c in hello["counts"]} == {("a", "acc"): 50, ("a", "loss"): 50}

    writer = EventWriter(root / "runs" / "a")
    newcomer = EventWriter(root / "runs" / "b")
    expected = {("a", "loss"): list(range(50, 110)), ("b", "lr"): list(range(60))}
    for burst in range(6):  # several flushes, so points arrive over several polls
        for step in range(burst * 10, burst * 10 + 10):
            writer.add_scalar("loss", float(step), 50 + step)
            newcomer.add_scalar("lr", step / 100, step)
        writer.flush()
        newcomer.flush()
        await asyncio.sleep(0.03)
    writer.close()
    newcomer.close()

    received = {key: [] for key in expected}
    deadline = time.monotonic() + 15
    while any(len(received[k]) < len(v) for k, v in expected.items()) and time.monotonic() < deadline:
        message = await _next(ws)
        assert message["type"] == "points", message
        key = (message["run"], message["tag"])
        assert message["start"] == (50 if key[0] == "a" else 0) + len(received[key])  # contiguous cursor
        received[key].extend(message["steps"])
    assert received == expected
    ws.close()


async def test_scorecam_job_progress_over_websocket(api, open_model, jp_ws_fetch, jp_fetch):
    model_id = await open_model()
    code, started = await api("jobs", method="POST", body={
        "model": model_id, "method": "scorecam", "layer": "conv2", "indices": list(range(4)) * 6})
    assert code == 202, started
    ws = await jp_ws_fetch("cnnvis", "api", "stream", "jobs", started["id"])
    updates = []
    while (message := await _next(ws, 30)) is not None:
        updates.append(message)
    assert updates[-1]["state"] == "done", updates[-1]
    done = [u["progress"]["done"] for u in updates]
    assert done == sorted(done) and done[-1] == 24 and updates[-1]["progress"]["fraction"] == 1.0
    assert {u["state"] for u in updates} >= {"running", "done"}

    code, job = await api("jobs", started["id"])
    assert code == 200 and job["result"]["method"] == "scorecam" and job["result"]["shape"] == [24, 16, 16]
    maps_url = next(a["url"] for a in job["artifacts"] if a["name"] == "maps")
    maps = np.load(io.BytesIO((await jp_fetch(maps_url.split("/", 2)[2])).body), allow_pickle=False)
    assert maps.shape == (24, 16, 16)


async def test_cancel_a_running_job(api, open_model):
    model_id = await open_model()
    code, started = await api("jobs", method="POST", body={
        "model": model_id, "method": "ablationcam", "indices": list(range(4)) * 5000})
    assert code == 202
    deadline = time.monotonic() + 20  # generous: CI machines are small and shared
    while time.monotonic() < deadline:
        code, job = await api("jobs", started["id"])
        if job["state"] == "running" and job["progress"]["done"] > 0:
            break
        await asyncio.sleep(0.02)
    assert job["state"] == "running"
    code, job = await api("jobs", started["id"], method="DELETE")
    assert code == 200 and job["state"] in ("running", "cancelled")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        code, job = await api("jobs", started["id"])
        if job["state"] != "running":
            break
        await asyncio.sleep(0.02)
    assert job["state"] == "cancelled" and job["progress"]["done"] < 20000
    code, listing = await api("jobs")
    assert [j["state"] for j in listing["jobs"]] == ["cancelled"]


async def test_job_errors_are_client_errors(api, open_model):
    model_id = await open_model()
    code, reply = await api("jobs", method="POST", body={"model": model_id, "method": "nosuchcam"})
    assert code == 400 and "nosuchcam" in reply["message"]
    code, reply = await api("jobs", method="POST", body={"model": "nope", "method": "scorecam"})
    assert code == 404
    code, reply = await api("jobs", method="POST", body={"model": model_id, "indices": [7]})
    assert code == 400 and "out of range" in reply["message"]
    code, reply = await api("jobs", "nope")
    assert code == 404


def test_job_manager_states():
    from cnnvis.errors import UnknownLayerError
    from cnnvis.services import Reply
    from cnnvis.services.jobs import JobManager

    manager = JobManager(concurrency=1)
    gate = threading.Event()

    def slow(progress, cancel):
        progress(1, 2, "half")
        gate.wait(5)
        return Reply({"ok": True})

    def bad(progress, cancel):
        raise UnknownLayerError("x", ["conv1"])

    first = manager.submit("slow", slow)
    queued = manager.submit("slow", slow)
    assert manager.cancel(queued.id).state == "cancelled"  # never started
    failed = manager.submit("bad", bad)
    gate.set()
    for _ in range(100):
        if first.finished_state and failed.finished_state:
            break
        time.sleep(0.02)
    assert first.state == "done" and first.snapshot()["result"] == {"ok": True}
    assert first.snapshot()["progress"] == {"done": 2, "total": 2, "fraction": 1.0}
    assert failed.state == "failed" and "conv1" in failed.error
    manager.shutdown()


async def test_scalar_stream_from_start_replays_existing_points(jp_ws_fetch, logdir):
    ws = await jp_ws_fetch("cnnvis", "api", "stream", "scalars", params={"logdir": logdir, "from": "start"})
    assert (await _next(ws))["type"] == "hello"
    got = {}
    while sum(len(v) for v in got.values()) < 100:
        message = await _next(ws)
        got.setdefault(message["tag"], []).extend(message["steps"])
    assert got == {"acc": list(range(50)), "loss": list(range(50))}
    ws.close()


async def test_dataset_job_keeps_arrays_only(api, open_model):
    model_id = await open_model()
    code, started = await api("jobs", method="POST", body={"model": model_id, "kind": "dataset", "target": 2})
    assert code == 202
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        code, job = await api("jobs", started["id"])
        if job["state"] in ("done", "failed", "cancelled"):
            break
        await asyncio.sleep(0.05)
    assert job["state"] == "done", job
    assert [a["name"] for a in job["artifacts"]] == ["raw", "maps"]
    assert job["result"]["targets"] == [2, 2, 2, 2] and job["progress"]["total"] == 4
