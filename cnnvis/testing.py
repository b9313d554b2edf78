"""Helpers for cnnvis's own browser tests and benchmarks: a JupyterLab process and Chromium flags.

Standard library only; nothing here is imported by cnnvis itself.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
# Debian's Chromium as root on a closed network: no sandbox, and none of its background traffic.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LabServer:
    url: str
    token: str
    root: Path
    process: subprocess.Popen
    log: Path

    def page_url(self, path: str) -> str:
        return f"{self.url}{path}?token={self.token}"

    def stop(self) -> None:
        stop_process(self.process)


def stop_process(process: subprocess.Popen, timeout: float = 15) -> None:
    """Terminate, then kill what does not exit within ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()


def start_lab(root: Path, home: Path, timeout: float = 90, base_url: str = "/",
              jupyter: str | None = None, extra_env: dict | None = None) -> LabServer:
    """JupyterLab on a free loopback port with a random token; settings and workspaces under ``home``
    so nothing a test changes (a theme, an open notebook) sticks. ``base_url`` puts it behind a
    prefix as JupyterHub does; ``jupyter`` is the command of another environment."""
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
           "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "CNNVIS_DEVICES_DB": str(home / "devices.sqlite"),
           "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    log = home / "lab.log"
    if jupyter is None:
        own = Path(sys.executable).with_name("jupyter")
        jupyter = str(own) if own.exists() else "jupyter"
    cmd = [jupyter, "lab", "--no-browser", "--allow-root", f"--ServerApp.base_url={base_url}",
           f"--port={port}", "--ip=127.0.0.1", f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}",
           "--LabApp.expose_app_in_browser=True", "--JupyterNotebookApp.expose_app_in_browser=True",
           "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    with open(log, "w") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**env, **(extra_env or {})},
                                   cwd=root)
    server = LabServer(f"http://127.0.0.1:{port}/{base_url.strip('/')}/".replace("//", "/").replace(":/", "://"),
                       token, root, process, log)
    try:
        _wait_until_up(server, timeout)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_until_up(server: LabServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited early:\n{server.log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{server.url}api/status?token={server.token}", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"jupyter lab did not answer in {timeout} s:\n{server.log.read_text()[-3000:]}")
