"""Jetson agents into a live server: real agent processes replaying recorded tegrastats logs.

Every sample arrives once and in order (also when the server cuts the connection mid-stream),
the device's history and CSV export hold them all, bad tokens are refused, a token revoked from
another process ends the agent's connection within 2 s, and the agent never listens on a port.
"""

import asyncio
import json
import time

import pytest
from agent_support import FIXTURES, AgentProcess, create_token, listening_ports, sample_lines, token_cli

from cnnvis.jetson import parse_line

pytestmark = pytest.mark.skipif(FIXTURES is None, reason="recorded tegrastats fixtures not found")


@pytest.fixture
def agent_url(jp_http_port, jp_base_url, http_server_client):
    """The server's URL, as an agent is given it (http_server_client makes the server listen)."""
    return f"http://127.0.0.1:{jp_http_port}{jp_base_url}"


async def wait_for(predicate, timeout=30.0, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(step)
    return False


async def finished(agent, timeout=60.0):
    assert await wait_for(lambda: agent.proc.poll() is not None, timeout), agent.output[-3000:]
    return agent.proc.returncode


async def all_samples(api, device):
    code, reply = await api("devices", device, "samples", params={"since": "0"})
    assert code == 200, reply
    return reply["samples"]


def assert_same_fields(samples, lines):
    for sample, line in zip(samples, lines, strict=True):
        expected = parse_line(line)
        for key in ("ram", "swap", "cpu", "gpu", "emc", "temps", "rails", "total_mw", "unknown"):
            assert sample[key] == json.loads(json.dumps(expected[key])), (key, line)


async def test_replay_arrives_once_in_order_and_agent_listens_nowhere(api, agent_url, tmp_path, jp_serverapp):
    log = FIXTURES / "nano_4gb.log"
    lines = sample_lines(log)
    agent = AgentProcess(tmp_path, agent_url, create_token("jetson-1"), "--replay", str(log), "--interval", "0.01")
    ext = jp_serverapp.web_app.settings["cnnvis"]
    try:
        assert await wait_for(lambda: "jetson-1" in ext.device_hub.agents, 30), agent.output
        assert listening_ports(agent.proc.pid) == []
        assert await finished(agent) == 0, agent.output
    finally:
        agent.stop()
    samples = await all_samples(api, "jetson-1")
    assert [s["seq"] for s in samples] == list(range(1, len(lines) + 1))
    assert_same_fields(samples, lines)
    code, devices = await api("devices")
    assert code == 200 and isinstance(devices, list)
    assert [(d["id"], d["connected"], d["count"], d["token"]) for d in devices] == [
        ("jetson-1", False, len(lines), "jetson-1")]
    assert devices[0]["info"]["source"] == "replay"


async def test_cut_connections_lose_and_duplicate_nothing(api, agent_url, tmp_path, jp_serverapp,
                                                          jp_ws_fetch):
    log = FIXTURES / "xavier_nx_burn.log"
    lines = sample_lines(log)
    ext = jp_serverapp.web_app.settings["cnnvis"]
    agent = AgentProcess(tmp_path, agent_url, create_token("jetson-1"), "--replay", str(log), "--interval", "0.03")
    try:
        assert await wait_for(lambda: "jetson-1" in ext.device_hub.agents, 30), agent.output
        live = await jp_ws_fetch("cnnvis", "api", "devices", "jetson-1", "live", params={"since": "0"})
        cuts = 0
        while agent.proc.poll() is None and cuts < 4:
            await asyncio.sleep(0.4)
            handler = ext.device_hub.agents.get("jetson-1")
            if handler is not None:
                handler.close(1011, "test cut")  # the server drops the connection mid-stream
                cuts += 1
        assert await finished(agent) == 0, agent.output
    finally:
        agent.stop()
    assert cuts >= 3 and agent.output.count("connection lost") >= 3, agent.output
    samples = await all_samples(api, "jetson-1")
    assert [s["seq"] for s in samples] == list(range(1, len(lines) + 1))
    assert_same_fields(samples, lines)
    seen = []  # the live view also gets each sample once, in order
    while len(seen) < len(lines):
        message = json.loads(await asyncio.wait_for(live.read_message(), 10))
        if message["type"] == "samples":
            seen += [s["seq"] for s in message["samples"]]
    assert seen == list(range(1, len(lines) + 1))
    live.close()


async def test_wrong_token_is_refused_and_logged(agent_url, tmp_path, jp_serverapp, caplog):
    create_token("lab")
    log = FIXTURES / "agx_orin_jp6.log"
    with caplog.at_level("WARNING"):
        for token in ("cnvd_not-a-real-token", "", None):
            agent = AgentProcess(tmp_path, agent_url, token, "--replay", str(log))
            code = await finished(agent, 30)
            assert code == 2, agent.output
            assert "refused" in agent.output or "no device token" in agent.output
    assert "refused a Jetson agent" in caplog.text


async def test_revoked_token_closes_the_live_connection_within_2s(api, agent_url, tmp_path, jp_serverapp):
    ext = jp_serverapp.web_app.settings["cnnvis"]
    token = create_token("jetson-1")
    agent = AgentProcess(tmp_path, agent_url, token, "--replay", str(FIXTURES / "nano_4gb.log"),
                         "--interval", "0.05", "--loop")
    try:
        assert await wait_for(lambda: "jetson-1" in ext.device_hub.agents, 30), agent.output
        done = await asyncio.get_running_loop().run_in_executor(None, token_cli, "revoke", "jetson-1")
        assert done.returncode == 0, done.stderr
        revoked_at = time.monotonic()
        assert await wait_for(lambda: "jetson-1" not in ext.device_hub.agents, 2.0)
        assert time.monotonic() - revoked_at < 2.0
        assert await finished(agent, 10) == 2 and "revoked" in agent.output
    finally:
        agent.stop()
    again = AgentProcess(tmp_path, agent_url, token, "--replay", str(FIXTURES / "nano_4gb.log"))
    assert await finished(again, 30) == 2
    listed = token_cli("list")
    assert "jetson-1" in listed.stdout and "revoked" in listed.stdout


async def test_stand_in_tegrastats_and_trtexec(api, agent_url, tmp_path, jp_serverapp):
    from agent_support import stand_in_tegrastats, stand_in_trtexec
    from helpers import shared_fixture_dir

    trt = shared_fixture_dir("tensorrt")
    if trt is None:
        pytest.skip("TensorRT fixtures not found")
    log = FIXTURES / "agx_orin_jp6.log"
    lines = sample_lines(log)
    bin_dir = tmp_path / "bin"
    stand_in_tegrastats(bin_dir, log)
    stand_in_trtexec(bin_dir, trt / "a100_resnet_fp16" / "resnet.onnx.engine.profile.json")
    engine = tmp_path / "resnet.engine"
    engine.write_bytes(b"not parsed by the agent")
    import os

    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    agent = AgentProcess(tmp_path, agent_url, create_token("jetson-1"), "--interval", "0.02", "--engine", str(engine),
                         "--engine-every", "1", env=env)
    try:
        async def enough():
            samples = await all_samples(api, "jetson-1") if "jetson-1" in ext.device_hub.agents else []
            return samples if len([s for s in samples if "profile" not in s]) >= len(lines) and any(
                "profile" in s for s in samples) else None

        ext = jp_serverapp.web_app.settings["cnnvis"]
        deadline, samples = time.monotonic() + 30, None
        while samples is None and time.monotonic() < deadline:
            samples = await enough()
            await asyncio.sleep(0.1)
        assert samples is not None, agent.output
    finally:
        agent.stop()
    stats = [s for s in samples if "profile" not in s]
    assert_same_fields(stats[:len(lines)], lines)
    profile = next(s["profile"] for s in samples if "profile" in s)
    assert profile["engine"] == "resnet.engine"
    assert profile["layers"][1]["name"] == "Conv_0 + Relu_1" and profile["layers"][1]["avg_ms"] == pytest.approx(0.111616)
    assert [s["seq"] for s in samples] == sorted(s["seq"] for s in samples)


async def test_csv_export_parquet_and_paging(api, jp_fetch, jp_serverapp):
    ext = jp_serverapp.web_app.settings["cnnvis"]
    lines = sample_lines(FIXTURES / "xavier_nx_burn.log")
    from cnnvis.services.devices import decode_batch

    ext.device_store.attach("nx", "nx", "lab", {})
    ext.device_store.add("nx", decode_batch([{"seq": i + 1, "t": 1000.0 + i, "line": line}
                                             for i, line in enumerate(lines)]))
    response = await jp_fetch("cnnvis", "api", "devices", "nx", "samples", params={"format": "csv", "since": "10"})
    assert response.headers["Content-Type"].startswith("text/csv")
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(response.body.decode())))
    assert [int(r["seq"]) for r in rows] == list(range(11, len(lines) + 1))
    assert {"cpu0_load", "gpu_load", "total_mw"} <= set(rows[0]) and rows[0]["total_mw"]
    response = await jp_fetch("cnnvis", "api", "devices", "nx", "samples", params={"format": "parquet"},
                              raise_error=False)
    try:
        import pyarrow  # noqa: F401
        assert response.code == 200 and response.body[:4] == b"PAR1"
    except ImportError:
        assert response.code == 400 and b"pyarrow" in response.body
    code, page = await api("devices", "nx", "samples", params={"since": "0", "limit": "40"})
    assert code == 200 and page["more"] and page["cursor"] == 40 and len(page["samples"]) == 40
    reply = ext.dispatcher.handle("device_samples", {"device": "nx", "since": 40, "limit": 1000}).result
    assert [s["seq"] for s in reply["samples"]] == list(range(41, len(lines) + 1)) and not reply["more"]
    assert [d["id"] for d in ext.dispatcher.handle("devices", {}).result["devices"]] == ["nx"]
    code, _ = await api("devices", "nope", "samples")
    assert code == 404
