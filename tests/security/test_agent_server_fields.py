"""A malicious or broken server cannot crash the agent or empty its buffer: every field it sends is
checked (``last_seq`` and ``ack`` within what the agent sent), oversized or malformed frames end the
connection with a clear error, and the agent reconnects with every unacknowledged sample kept.

The server here is the attacker: a tornado WebSocket endpoint in a thread that answers a real agent
process with crafted messages."""

import asyncio
import json
import socket
import sqlite3
import threading
import time

import pytest
from agent_support import FIXTURES, AgentProcess, sample_lines
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application
from tornado.websocket import WebSocketHandler

pytestmark = pytest.mark.skipif(FIXTURES is None, reason="recorded tegrastats fixtures not found")


class Hostile(WebSocketHandler):
    def initialize(self, server):
        self.server = server

    async def on_message(self, message):
        data = json.loads(message)
        self.server.received.append(data)
        reply = self.server.answers.get(data["type"])
        if reply is not None:
            await self.write_message(reply(data) if callable(reply) else reply)


class HostileServer:
    """Answers ``hello`` and ``samples`` with ``answers[type]`` (a str, or a function of the message)."""

    def __init__(self, answers):
        self.answers, self.received = answers, []
        ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._serve(ready)), daemon=True)
        self.thread.start()
        assert ready.wait(10)

    async def _serve(self, ready):
        sockets = bind_sockets(0, "127.0.0.1")
        self.url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}/"
        http = HTTPServer(Application([(r"/cnnvis/api/agent", Hostile, {"server": self})]))
        http.add_sockets(sockets)
        self.loop, self.done = asyncio.get_running_loop(), asyncio.Event()
        ready.set()
        await self.done.wait()
        http.stop()

    def hellos(self):
        return sum(1 for m in list(self.received) if m["type"] == "hello")

    def stop(self):
        self.loop.call_soon_threadsafe(self.done.set)
        self.thread.join(10)


def welcome(last_seq):
    return json.dumps({"type": "welcome", "device": "board-x", "last_seq": last_seq})


CASES = {
    "last_seq beyond 64 bits": ({"hello": welcome(10**30)}, "last_seq=1000000000000000000000000000000"),
    "last_seq just below 2**63": ({"hello": welcome(2**63 - 1)}, "last_seq=9223372036854775807"),
    "last_seq negative": ({"hello": welcome(-1)}, "last_seq=-1"),
    "last_seq not a number": ({"hello": welcome("5")}, "last_seq='5'"),
    "last_seq a boolean": ({"hello": welcome(True)}, "last_seq=True"),
    "ack beyond what was sent": ({"hello": welcome(0), "samples": json.dumps({"type": "ack", "seq": 10**6})},
                                 "ack carries seq=1000000"),
    "message not an object": ({"hello": "[1, 2, 3]"}, "not a JSON object"),
    "oversized frame": ({"hello": "[" + "0," * (1 << 20) + "0]"}, "bytes or more (limit 1048576)"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_server_fields_are_refused_and_nothing_unsent_is_lost(case, tmp_path):
    answers, message = CASES[case]
    log = FIXTURES / "agx_orin_jp6.log"
    lines = sample_lines(log)
    server = HostileServer(answers)
    buffer = tmp_path / "buffer.sqlite"
    agent = AgentProcess(tmp_path, server.url, "cnvd_hostile", "--replay", str(log), "--interval", "0.001",
                         "--buffer", str(buffer), name="board-x")
    try:
        deadline = time.monotonic() + 30
        while server.hellos() < 3 and agent.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert agent.proc.poll() is None, agent.output  # no crash: it keeps reconnecting
        assert server.hellos() >= 3, agent.output
    finally:
        agent.stop()
        server.stop()
    assert "protocol error" in agent.output and message in agent.output, agent.output
    assert "Traceback" not in agent.output
    with sqlite3.connect(buffer) as db:  # not locked: no transaction was left open
        pending = db.execute("SELECT seq FROM pending ORDER BY seq").fetchall()
    assert [seq for seq, in pending] == list(range(1, len(lines) + 1))


@pytest.mark.parametrize("last_seq", [5, 500])
def test_history_from_an_earlier_buffer_is_continued_not_deleted(tmp_path, last_seq):
    """The server holds samples of this device that this buffer never sent (an earlier buffer was
    lost): the samples buffered meanwhile are numbered after them and all sent, none taken for a
    resend and dropped (also when the server's number is below what the buffer has numbered)."""
    log = FIXTURES / "agx_orin_jp6.log"
    lines = sample_lines(log)
    buffer = str(tmp_path / "buffer.sqlite")
    offline = AgentProcess(tmp_path, dead_url(), "cnvd_x", "--replay", str(log), "--interval", "0",
                           "--buffer", buffer, name="board-x")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and numbered(buffer) < len(lines):
            time.sleep(0.05)
    finally:
        offline.stop()

    def ack(message):
        return json.dumps({"type": "ack", "seq": message["samples"][-1]["seq"]})

    server = HostileServer({"hello": welcome(last_seq), "samples": ack})
    empty = tmp_path / "empty.log"
    empty.write_text("")
    agent = AgentProcess(tmp_path, server.url, "cnvd_x", "--replay", str(empty), "--buffer", buffer,
                         name="board-x")
    try:
        assert agent.wait(30) == 0, agent.output
    finally:
        agent.stop()
        server.stop()
    sent = [s for m in server.received if m["type"] == "samples" for s in m["samples"]]
    assert [s["seq"] for s in sent] == list(range(last_seq + 1, last_seq + 1 + len(lines)))
    assert [s["line"] for s in sent] == lines


def dead_url():
    """A loopback port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/"


def numbered(path):
    try:
        with sqlite3.connect(path) as db:
            return db.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()[0] - 1
    except (sqlite3.OperationalError, TypeError):  # not created yet
        return 0


def test_a_failed_buffer_write_leaves_no_transaction_open(tmp_path):
    """Defence in depth under the checks above: a write that fails mid-transaction is rolled back,
    so the buffer keeps working (and keeps its samples) instead of wedging in an open transaction."""
    import importlib.util

    from agent_support import AGENT

    spec = importlib.util.spec_from_file_location("cnnvis_agent_under_test", AGENT)
    agent = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(agent)
    buffer = agent.Buffer(str(tmp_path / "buffer.sqlite"), 100)
    for i in range(3):
        buffer.append({"line": f"RAM {i}"})
    with pytest.raises(OverflowError):
        buffer.ack(10**30)  # SQLite cannot bind it: fails inside BEGIN IMMEDIATE
    assert buffer.append({"line": "RAM 3"}) == 4
    assert [s["seq"] for s in buffer.after(0, 10)] == [1, 2, 3, 4]
