"""The Jetson agent file on its own: Python 3.6 syntax, standard library only, runs without cnnvis,
keeps tokens off the command line, and bounds its disk buffer while no server answers."""

from __future__ import annotations

import ast
import json
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from agent_support import AGENT, FIXTURES, AgentProcess, sample_lines

from cnnvis.cli import main as cnnvis_main


def test_vermin_says_python_3_6_is_enough():
    pytest.importorskip("vermin")
    vermin = str(Path(sys.executable).with_name("vermin"))
    done = subprocess.run([vermin, "--no-tips", "--target=3.6-", "--violations",
                           "--eval-annotations", str(AGENT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_module_level_imports_are_standard_library_only():
    tree = ast.parse(AGENT.read_text())
    names = set()
    for node in tree.body:  # module level only: jtop and tensorrt are imported inside functions, guarded
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "the agent is one file: no relative imports"
            names.add(node.module.split(".")[0])
    assert names and names <= set(sys.stdlib_module_names), names - set(sys.stdlib_module_names)
    optional = {n.names[0].name for n in ast.walk(tree) if isinstance(n, ast.Import) and n not in tree.body}
    optional |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n not in tree.body}
    assert optional <= {"jtop", "tensorrt"}, optional


def test_written_agent_runs_on_a_bare_python(tmp_path, capsys):
    target = tmp_path / "out"
    target.mkdir()
    assert cnnvis_main(["agent", "--write", str(target)]) == 0
    written = target / "cnnvis_agent.py"
    assert written.read_bytes() == AGENT.read_bytes()
    # -I: no user site, no PYTHONPATH, no current folder; -S: no site-packages, so no cnnvis either.
    done = subprocess.run([sys.executable, "-I", "-S", str(written), "--help"], capture_output=True, text=True,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "--replay" in done.stdout and "--token-file" in done.stdout
    probe = subprocess.run([sys.executable, "-I", "-S", "-c", "import cnnvis"], capture_output=True, cwd=tmp_path)
    assert probe.returncode != 0  # the check above really ran without cnnvis


def test_token_is_refused_on_the_command_line(tmp_path):
    done = subprocess.run([sys.executable, str(AGENT), "--server", "http://127.0.0.1:9", "--token", "secret"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2
    assert "CNNVIS_AGENT_TOKEN" in done.stderr and "command line" in done.stderr


def test_token_file_is_read(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("cnvd_from-file\n")
    done = subprocess.run([sys.executable, str(AGENT), "--server", "http://127.0.0.1:9", "--token-file",
                           str(token_file), "--replay", str(tmp_path / "missing.log")],
                          capture_output=True, text=True, cwd=tmp_path, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode != 0 and "missing.log" in done.stderr  # got past the token, stopped at the log


def dead_url() -> str:
    """A loopback port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.mark.skipif(FIXTURES is None, reason="recorded tegrastats fixtures not found")
def test_buffer_keeps_the_newest_samples_and_warns(tmp_path):
    log = FIXTURES / "nano_4gb.log"
    lines = sample_lines(log)
    buffer = tmp_path / "buffer.sqlite"
    agent = AgentProcess(tmp_path, dead_url(), "cnvd_x", "--replay", str(log), "--interval", "0.005",
                         "--buffer", str(buffer), "--buffer-max", "10")
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            if buffer.exists():
                try:
                    with sqlite3.connect(buffer) as db:
                        if db.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()[0] > len(lines):
                            break
                except sqlite3.OperationalError:  # the agent has not created its tables yet
                    pass
            time.sleep(0.1)
    finally:
        agent.stop()
    with sqlite3.connect(buffer) as db:
        rows = db.execute("SELECT seq, body FROM pending ORDER BY seq").fetchall()
    assert [seq for seq, _ in rows] == list(range(len(lines) - 9, len(lines) + 1))
    assert [json.loads(body)["line"] for _, body in rows] == lines[-10:]
    assert "buffer full" in agent.output and "dropped the oldest" in agent.output


def test_agent_url_accepts_server_and_websocket_urls():
    sys.path.insert(0, str(AGENT.parent))
    try:
        import cnnvis_agent
    finally:
        sys.path.pop(0)
    assert cnnvis_agent.agent_url("https://hub.example/user/me/", "nano 1") == \
        "wss://hub.example/user/me/cnnvis/api/agent?name=nano%201"
    assert cnnvis_agent.agent_url("ws://h:8888/cnnvis/api/agent", "x") == "ws://h:8888/cnnvis/api/agent?name=x"
    assert cnnvis_agent.agent_url("127.0.0.1:8888", "x") == "ws://127.0.0.1:8888/cnnvis/api/agent?name=x"
