"""What a device may send the server, and what comes back out: device text in a CSV export cannot
become a spreadsheet formula, and oversized WebSocket frames close the connection before they are
stored (agent route) or buffered (panel streams). A hostile agent with a valid token, written with
tornado's WebSocket client, against a real Jupyter server."""

import asyncio
import csv
import io
import json
import urllib.request

import pytest
from agent_support import FIXTURES, ServerProcess, create_token, sample_lines
from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClosedError, websocket_connect

pytestmark = pytest.mark.skipif(FIXTURES is None, reason="recorded tegrastats fixtures not found")
FORMULAS = ["=HYPERLINK(\"http://attacker.example/\",\"click\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)",
            "\t=1+1", "\r=1+1"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with ServerProcess(tmp_path_factory.mktemp("server-side")) as srv:
        yield srv


async def agent_socket(server, device, token):
    url = server.url.replace("http://", "ws://") + f"cnnvis/api/agent?name={device}"
    socket = await websocket_connect(HTTPRequest(url, headers={"X-Cnnvis-Device-Token": token}))
    await socket.write_message(json.dumps({"type": "hello", "info": {}}))
    assert json.loads(await socket.read_message())["type"] == "welcome"
    return socket


async def send_samples(server, device, token, samples):
    socket = await agent_socket(server, device, token)
    try:
        try:
            await socket.write_message(json.dumps({"type": "samples", "samples": samples}))
        except WebSocketClosedError:  # closed by the server while the frame was still being sent
            pass
        reply = await asyncio.wait_for(socket.read_message(), 30)
        return reply, socket.close_code
    finally:
        socket.close()


def export(server, device):
    request = urllib.request.Request(f"{server.url}cnnvis/api/devices/{device}/samples?format=csv",
                                     headers={"Authorization": f"token {server.TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read().decode()


def test_device_text_in_csv_export_is_never_a_formula(server):
    line = sample_lines(FIXTURES / "agx_orin_jp6.log")[0]
    token = create_token("board-csv", server.env)
    samples = [{"seq": i + 1, "t": 1.0 + i, "line": line, "marker": text} for i, text in enumerate(FORMULAS)]
    reply, _ = asyncio.run(send_samples(server, "board-csv", token, samples))
    assert json.loads(reply) == {"type": "ack", "seq": len(FORMULAS)}
    text = export(server, "board-csv")
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    assert [row[header.index("marker")] for row in body] == ["'" + f for f in FORMULAS]
    assert [row[header.index("seq")] for row in body] == [str(i + 1) for i in range(len(FORMULAS))]
    for cell in header + [c for row in body for c in row]:
        if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
            float(cell)  # only a number (a negative reading) may start with a sign


def test_an_agent_frame_over_the_limit_closes_the_connection_and_stores_nothing(server):
    token = create_token("board-big", server.env)
    line = sample_lines(FIXTURES / "agx_orin_jp6.log")[0]
    big = [{"seq": i + 1, "t": 1.0, "line": line + " " + "x" * 5000} for i in range(1000)]  # ~5 MiB
    reply, code = asyncio.run(send_samples(server, "board-big", token, big))
    # Closed unanswered: 1009 (message too big) if the close frame outran the abort, else no code.
    assert reply is None and code in (1009, None), (reply, code)
    assert server.get("devices", "board-big", "samples", since="0")["samples"] == []
    small = big[:100]  # the same samples in a message under the limit are stored
    reply, _ = asyncio.run(send_samples(server, "board-big", token, small))
    assert json.loads(reply) == {"type": "ack", "seq": 100}


def test_a_panel_stream_closes_on_an_oversized_client_frame(server):
    token = create_token("board-live", server.env)
    line = sample_lines(FIXTURES / "agx_orin_jp6.log")[0]
    asyncio.run(send_samples(server, "board-live", token, [{"seq": 1, "t": 1.0, "line": line}]))

    async def flood():
        url = server.url.replace("http://", "ws://") + "cnnvis/api/devices/board-live/live"
        socket = await websocket_connect(HTTPRequest(url, headers={"Authorization": f"token {server.TOKEN}"}))
        assert json.loads(await socket.read_message())["type"] == "hello"
        await socket.write_message("x" * (100 << 10))
        while await asyncio.wait_for(socket.read_message(), 30) is not None:
            pass
        return socket.close_code

    assert asyncio.run(flood()) == 1009


def test_agent_batches_stay_under_the_servers_frame_limit(server, tmp_path):
    """12 MiB of long lines buffered while no server answered go in several messages, all stored."""
    import socket
    import sqlite3
    import time

    from agent_support import AgentProcess

    line = sample_lines(FIXTURES / "agx_orin_jp6.log")[0]
    log, short, buffer = tmp_path / "long.log", tmp_path / "short.log", str(tmp_path / "buffer.sqlite")
    log.write_text("".join(f"{line} pad{i} {'x' * 300_000}\n" for i in range(40)))
    short.write_text(f"{line} pad40\n")
    token = create_token("board-long", server.env)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/"
    offline = AgentProcess(tmp_path, dead, token, "--replay", str(log), "--interval", "0", "--buffer", buffer,
                           name="board-long")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _numbered(sqlite3, buffer) < 40:
            time.sleep(0.1)
    finally:
        offline.stop()
    agent = AgentProcess(tmp_path, server.url, token, "--replay", str(short), "--buffer", buffer,
                         name="board-long")
    assert agent.wait(60) == 0, agent.output
    assert "connection lost" not in agent.output
    stored = server.get("devices", "board-long", "samples", since="0")["samples"]
    assert [s["seq"] for s in stored] == list(range(1, 42))
    assert [s["unknown"][-2 if i < 40 else -1] for i, s in enumerate(stored)] == [f"pad{i}" for i in range(41)]


def _numbered(sqlite3, path):
    try:
        with sqlite3.connect(path) as db:
            return db.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()[0] - 1
    except (sqlite3.OperationalError, TypeError):  # not created yet
        return 0
