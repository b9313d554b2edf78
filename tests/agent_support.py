"""Running the Jetson agent as a real process: tokens from the real CLI, stand-in tools on the PATH."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

from helpers import shared_fixture_dir

import cnnvis.jetson

AGENT = Path(cnnvis.jetson.__file__).with_name("cnnvis_agent.py")
FIXTURES = shared_fixture_dir("tegrastats")
JUPYTER = str(Path(sys.executable).with_name("jupyter"))


def sample_lines(path) -> list[str]:
    """The lines the agent sends from a log: as it reads them (undecodable bytes replaced)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return [line.rstrip("\r\n") for line in f if "RAM " in line]


def token_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``jupyter cnnvis token ...`` in its own process (it finds the store through JUPYTER_DATA_DIR)."""
    return subprocess.run([JUPYTER, "cnnvis", "token", *args], capture_output=True, text=True, timeout=60,
                          env=env)


def create_token(name: str, env: dict | None = None) -> str:
    done = token_cli("create", name, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


class AgentProcess:
    """``python cnnvis_agent.py ...`` with its output in a file (a pipe could fill and block it)."""

    def __init__(self, tmp: Path, url: str, token: str | None, *args: str, env: dict | None = None,
                 name: str = "jetson-1"):
        self.log = tmp / f"agent-{time.monotonic_ns()}.log"
        full_env = {**os.environ, **(env or {})}
        full_env.pop("CNNVIS_AGENT_TOKEN", None)
        if token is not None:
            full_env["CNNVIS_AGENT_TOKEN"] = token
        if "--buffer" not in args:
            args = (*args, "--buffer", str(tmp / f"buffer-{name}.sqlite"))
        cmd = [sys.executable, str(AGENT), "--server", url, "--name", name, "--reconnect-max", "0.3", *args]
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=full_env)

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"the agent did not finish in {timeout} s:\n{self.output[-3000:]}") from None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def listening_ports(pid: int) -> list:
    """Sockets the process listens on (TCP and UDP bound ports), read from psutil."""
    import psutil

    conns = psutil.Process(pid).net_connections(kind="inet")
    return [c.laddr for c in conns if c.status == psutil.CONN_LISTEN or (c.type == 2 and not c.raddr)]


def write_executable(folder: Path, name: str, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"#!{sys.executable}\n{source}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def stand_in_tegrastats(folder: Path, log: Path) -> Path:
    """A ``tegrastats`` that prints a recorded log's lines at the requested ``--interval`` (ms), forever."""
    return write_executable(folder, "tegrastats", f"""
import sys, time
ms = int(sys.argv[sys.argv.index("--interval") + 1]) if "--interval" in sys.argv else 1000
lines = open({str(log)!r}).read().splitlines()
while True:
    for line in lines:
        print(line, flush=True)
        time.sleep(ms / 1000)
""")


def stand_in_trtexec(folder: Path, profile: Path) -> Path:
    """A ``trtexec`` that writes a recorded per-layer profile to ``--exportProfile=``."""
    return write_executable(folder, "trtexec", f"""
import shutil, sys
out = [a.split("=", 1)[1] for a in sys.argv if a.startswith("--exportProfile=")][0]
assert any(a.startswith("--loadEngine=") for a in sys.argv)
shutil.copyfile({str(profile)!r}, out)
print("&&&& PASSED TensorRT.trtexec")
""")


class ServerProcess:
    """``jupyter server`` with the cnnvis extension as its own process, so a test can kill it (-9)."""

    TOKEN = "test-token"

    def __init__(self, tmp: Path):
        import socket

        self.tmp = tmp
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self.env = {**os.environ, "JUPYTER_DATA_DIR": str(tmp / "data"),
                    "JUPYTER_CONFIG_DIR": str(tmp / "config"), "JUPYTER_RUNTIME_DIR": str(tmp / "runtime")}
        (tmp / "root").mkdir(exist_ok=True)
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self, timeout: float = 60) -> None:
        self.starts += 1
        cmd = [JUPYTER, "server", "--allow-root", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
               "--port-retries=0", f"--ServerApp.token={self.TOKEN}",
               f"--ServerApp.root_dir={self.tmp / 'root'}", "--ServerApp.jpserver_extensions=cnnvis=True"]
        with open(self.tmp / f"server-{self.starts}.log", "wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.get("status")
                return
            except OSError:
                assert self.proc.poll() is None, self.log
                time.sleep(0.1)
        raise AssertionError(f"the server did not start:\n{self.log}")

    @property
    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.tmp.glob("server-*.log")))

    def get(self, *parts: str, **query: str):
        import json
        import urllib.parse
        import urllib.request

        url = self.url + "cnnvis/api/" + "/".join(parts)
        if query:
            url += "?" + urllib.parse.urlencode(query)
        request = urllib.request.Request(url, headers={"Authorization": f"token {self.TOKEN}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # SIGKILL: no shutdown hooks, no flush, like a crash
            self.proc.wait(10)
