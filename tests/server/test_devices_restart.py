"""A server killed (SIGKILL) and restarted while agents stream: nothing acknowledged is lost, nothing is
stored twice; samples buffered while no server ran arrive once it is back; mutated lines never stop
the stream."""

import time

import pytest
from agent_support import FIXTURES, AgentProcess, ServerProcess, create_token, sample_lines
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.skipif(FIXTURES is None, reason="recorded tegrastats fixtures not found")


@pytest.fixture
def server(tmp_path):
    with ServerProcess(tmp_path) as srv:
        yield srv


def samples(server, device="jetson-1"):
    return server.get("devices", device, "samples", since="0")["samples"]


def test_server_killed_and_restarted_mid_stream(server, tmp_path):
    log = FIXTURES / "nano_4gb.log"
    lines = sample_lines(log)
    agent = AgentProcess(tmp_path, server.url, create_token("jetson-1", server.env), "--replay", str(log),
                         "--interval", "0.12")  # ~14 s: a server restart takes a few seconds
    restarts = 0
    try:
        while restarts < 3 and agent.proc.poll() is None:
            time.sleep(0.8)
            server.kill()
            time.sleep(0.3)  # the agent keeps reading and buffering meanwhile
            server.start()
            restarts += 1
        assert agent.wait(60) == 0, agent.output
    finally:
        agent.stop()
    assert restarts >= 2 and agent.output.count("connection lost") >= restarts, agent.output
    stored = samples(server)
    assert [s["seq"] for s in stored] == list(range(1, len(lines) + 1))
    assert [s["ram"] for s in stored][:3] and stored[-1]["total_mw"] is not None
    assert "refused" not in server.log


def test_samples_buffered_without_a_server_arrive_later(tmp_path):
    log = FIXTURES / "agx_orin_jp6.log"
    lines = sample_lines(log)
    srv = ServerProcess(tmp_path)
    token = create_token("jetson-1", srv.env)
    buffer = tmp_path / "buffer.sqlite"
    agent = AgentProcess(tmp_path, srv.url, token, "--replay", str(log), "--interval", "0.01",
                         "--buffer", str(buffer), "--buffer-max", "5")
    try:
        time.sleep(2.0)  # every line read, no server: the buffer keeps the newest five
        assert "buffer full" in agent.output, agent.output
        srv.start()
        assert agent.wait(60) == 0, agent.output
        assert [s["seq"] for s in samples(srv)] == list(range(len(lines) - 4, len(lines) + 1))
    finally:
        agent.stop()
        srv.kill()


REAL = sample_lines(FIXTURES / "xavier_nx_burn.log") + sample_lines(FIXTURES / "mixed_tx1_tx2_xavier.log") \
    if FIXTURES else [""]
JUNK = st.sampled_from(["", " ", "%", "@", "/", "[", "]", ",", "mW", "-256C", "off", "RAM ", "\x00", "\ufffd",
                        "\u2603", "9" * 40, "nan", "CPU [", "GR3D_FREQ", "@[", "\t"])


@st.composite
def mutated(draw):
    line = draw(st.sampled_from(REAL))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(line)))
        cut = draw(st.integers(0, 8))
        line = line[:at] + draw(st.one_of(JUNK, st.text(max_size=6))) + line[at + cut:]
    return line


def test_mutated_lines_never_stop_the_stream(server, tmp_path):
    drawn = []

    @settings(max_examples=60, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(mutated())
    def collect(line):
        drawn.append(line.replace("\n", " ").replace("\r", " "))

    collect()
    log = tmp_path / "mutated.log"
    log.write_text("\n".join(drawn) + "\n", encoding="utf-8", errors="surrogateescape")
    lines = sample_lines(log)
    agent = AgentProcess(tmp_path, server.url, create_token("jetson-1", server.env), "--replay", str(log),
                         "--interval", "0.005")
    try:
        assert agent.wait(60) == 0, agent.output
    finally:
        agent.stop()
    stored = samples(server)
    assert [s["seq"] for s in stored] == list(range(1, len(lines) + 1))
    assert all(isinstance(s["unknown"], list) for s in stored)
    assert "Traceback" not in server.log
