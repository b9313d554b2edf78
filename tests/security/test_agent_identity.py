"""Who an agent may speak for: a device token writes its own device only, a revoked token's agent
stops, and one agent owns a buffer. Real agent processes against a real Jupyter server."""

import time

import pytest
from agent_support import FIXTURES, AgentProcess, ServerProcess, create_token, sample_lines, token_cli

pytestmark = pytest.mark.skipif(FIXTURES is None, reason="recorded tegrastats fixtures not found")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with ServerProcess(tmp_path_factory.mktemp("identity")) as srv:
        yield srv


def stored(server, device):
    return server.get("devices", device, "samples", since="0")["samples"]


def wait_until(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_a_token_writes_only_the_device_it_was_created_for(server, tmp_path):
    log = FIXTURES / "agx_orin_jp6.log"
    lines = sample_lines(log)
    token_a, token_b = create_token("board-a", server.env), create_token("board-b", server.env)
    own = AgentProcess(tmp_path, server.url, token_b, "--replay", str(log), "--interval", "0.01",
                       name="board-b")
    assert own.wait() == 0, own.output
    before = server.get("devices")
    intruder = AgentProcess(tmp_path, server.url, token_a, "--replay", str(log), "--interval", "0.01",
                            name="board-b")  # own's buffer, drained
    assert intruder.wait() == 2, intruder.output
    assert "created for device 'board-a'" in intruder.output and "'board-b'" in intruder.output
    assert [s["seq"] for s in stored(server, "board-b")] == list(range(1, len(lines) + 1))
    assert server.get("devices") == before  # not even the device's info or last_seen changed
    assert "token 'board-a' claimed device 'board-b'" in server.log
    rightful = AgentProcess(tmp_path, server.url, token_a, "--replay", str(log), "--interval", "0.01",
                            name="board-a")
    assert rightful.wait() == 0, rightful.output
    assert len(stored(server, "board-a")) == len(lines)


def test_a_revoked_tokens_agent_stops_and_cannot_come_back(server, tmp_path):
    log = FIXTURES / "nano_4gb.log"
    token = create_token("board-r", server.env)
    agent = AgentProcess(tmp_path, server.url, token, "--replay", str(log), "--interval", "0.05", "--loop",
                         name="board-r")
    try:
        assert wait_until(lambda: any(d["id"] == "board-r" and d["connected"] for d in server.get("devices")))
        done = token_cli("revoke", "board-r", env=server.env)
        assert done.returncode == 0, done.stderr
        assert agent.wait(30) == 2, agent.output
    finally:
        agent.stop()
    assert "revoked" in agent.output
    count = len(stored(server, "board-r"))
    again = AgentProcess(tmp_path, server.url, token, "--replay", str(log), name="board-r")
    assert again.wait(30) == 2 and "refused" in again.output, again.output
    assert len(stored(server, "board-r")) == count


def test_two_agents_on_one_buffer_one_refuses_every_sample_stored_once(server, tmp_path):
    log = FIXTURES / "nano_4gb.log"
    lines = sample_lines(log)
    token = create_token("board-twin", server.env)
    args = ("--replay", str(log), "--interval", "0.01", "--buffer", str(tmp_path / "shared.sqlite"))
    agents = [AgentProcess(tmp_path, server.url, token, *args, name="board-twin") for _ in range(2)]
    try:
        codes = sorted(agent.wait(60) for agent in agents)
    finally:
        for agent in agents:
            agent.stop()
    assert codes == [0, 3], [a.output for a in agents]
    refused = next(a for a in agents if a.proc.returncode == 3)
    assert "in use by another agent" in refused.output and "shared.sqlite" in refused.output
    samples = stored(server, "board-twin")
    assert [s["seq"] for s in samples] == list(range(1, len(lines) + 1))
    assert [s["ram"] for s in samples] == [stored_ram(line) for line in lines]


def stored_ram(line):
    import json

    from cnnvis.jetson import parse_line

    return json.loads(json.dumps(parse_line(line)["ram"]))


def test_token_cli_takes_db_before_or_after_the_subcommand(tmp_path, capsys):
    from cnnvis.server.tokens_cli import main

    db = str(tmp_path / "devices.sqlite")
    assert main(["create", "board-db", "--db", db]) == 0
    assert "valid for device 'board-db' only" in capsys.readouterr().err
    for args in (["list", "--db", db], ["--db", db, "list"]):
        assert main(args) == 0
        assert "board-db" in (out := capsys.readouterr().out) and "active" in out
    assert main(["revoke", "board-db", "--db", db]) == 0
    main(["list", "--db", db])
    assert "revoked" in capsys.readouterr().out
