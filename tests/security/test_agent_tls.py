"""The agent over TLS to a real Jupyter server with a self-signed certificate: it verifies the
server with ``--ca-file`` and delivers; with another certificate (or none) as its CA it refuses the
server, says why, exits 2 and sends nothing."""

import json
import shutil
import ssl
import subprocess
import time
import urllib.parse
import urllib.request

import pytest
from agent_support import FIXTURES, JUPYTER, AgentProcess, ServerProcess, create_token, sample_lines

pytestmark = [pytest.mark.skipif(FIXTURES is None, reason="recorded tegrastats fixtures not found"),
              pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")]


def self_signed(folder, name):
    """A self-signed certificate for 127.0.0.1 and its key, made by the openssl command."""
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={name}",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
    return cert, key


class TLSServer(ServerProcess):
    def __init__(self, tmp, cert, key):
        super().__init__(tmp)
        self.url = self.url.replace("http://", "https://")
        self.cert, self.key = cert, key
        self.context = ssl.create_default_context(cafile=str(cert))

    def start(self, timeout=60):
        cmd = [JUPYTER, "server", "--allow-root", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
               "--port-retries=0", f"--ServerApp.token={self.TOKEN}", f"--ServerApp.root_dir={self.tmp / 'root'}",
               "--ServerApp.jpserver_extensions=cnnvis=True", f"--ServerApp.certfile={self.cert}",
               f"--ServerApp.keyfile={self.key}"]
        with open(self.tmp / "server-1.log", "wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                return self.get("status")
            except OSError:
                assert self.proc.poll() is None, self.log
                time.sleep(0.1)
        raise AssertionError(f"the server did not start:\n{self.log}")

    def get(self, *parts, **query):
        url = self.url + "cnnvis/api/" + "/".join(parts) + ("?" + urllib.parse.urlencode(query) if query else "")
        request = urllib.request.Request(url, headers={"Authorization": f"token {self.TOKEN}"})
        with urllib.request.urlopen(request, timeout=10, context=self.context) as response:
            return json.loads(response.read())


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tls")
    with TLSServer(tmp, *self_signed(tmp, "cnnvis-server")) as srv:
        yield srv


def test_agent_verifies_a_self_signed_server_with_ca_file(server, tmp_path):
    log = FIXTURES / "agx_orin_jp6.log"
    token = create_token("board-tls", server.env)
    agent = AgentProcess(tmp_path, server.url, token, "--replay", str(log), "--interval", "0.01",
                         "--ca-file", str(server.cert), name="board-tls")
    assert agent.wait() == 0, agent.output
    assert "connected to wss://127.0.0.1" in agent.output
    stored = server.get("devices", "board-tls", "samples", since="0")["samples"]
    assert [s["seq"] for s in stored] == list(range(1, len(sample_lines(log)) + 1))


@pytest.mark.parametrize("ca", ["another certificate", "the system's CAs"])
def test_agent_refuses_a_server_its_ca_file_did_not_sign(server, tmp_path, ca):
    token = create_token("board-mitm" + str(len(ca)), server.env)
    args = ["--replay", str(FIXTURES / "agx_orin_jp6.log"), "--interval", "0.01"]
    if ca == "another certificate":
        args += ["--ca-file", str(self_signed(tmp_path, "impostor")[0])]
    agent = AgentProcess(tmp_path, server.url, token, *args, name="board-mitm" + str(len(ca)))
    assert agent.wait(30) == 2, agent.output
    assert "certificate could not be verified" in agent.output and "--ca-file" in agent.output
    assert "connected to" not in agent.output
    assert all(not d["id"].startswith("board-mitm") for d in server.get("devices"))
