"""Jetson agents under load: N agents at 20 Hz into one server, and how fast a panel sees their samples.

    .venv/bin/python benchmarks/bench_jetson.py [--agents 10] [--hz 20] [--seconds 60]

Starts ``jupyter server`` with the cnnvis extension on 127.0.0.1 (temporary data dir and
CNNVIS_DEVICES_DB), one device token per agent, then N real agent processes
(``cnnvis_agent.py --replay LOG --interval 1/HZ --loop``) on a recorded tegrastats log, and a
``devices/{id}/live`` WebSocket subscriber per device in this process. Over the measured window it
prints:

- lost / duplicated samples: the server's stored seqs (``devices/{id}/samples``) against the seqs
  each agent numbered (its buffer file, read after the agents are stopped); a seq still in the
  agent's unacknowledged buffer at the stop is "unsent", not lost;
- sample time -> stored: the stored ``received - t``. ``t`` is the agent's clock when it read the
  line (the sender is woken at once, so it is also the send time); ``received`` is the server's clock
  as it starts the batch's transaction (before the commit). Same machine, same clock;
- sample time -> panel: the subscriber's clock when a sample arrives minus its ``t`` (target: p95 <
  250 ms);
- the server process's CPU (psutil, 100% = one core) and the whole machine's, for context.

Only loopback traffic; every wait is bounded. Numbers depend on how busy the machine is.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
from tornado.httpclient import HTTPClient, HTTPRequest
from tornado.websocket import websocket_connect

from cnnvis.services.device_store import DeviceStore
from cnnvis.testing import free_port

ROOT = Path(__file__).resolve().parents[1]
AGENT = ROOT / "cnnvis" / "jetson" / "cnnvis_agent.py"
JUPYTER = str(Path(sys.executable).with_name("jupyter"))
TOKEN = "bench-token"


def fixture_dir(kind: str) -> Path | None:
    """``$CNNVIS_FIXTURES/<kind>`` or ``../shared/fixtures/<kind>`` (as the tests find them)."""
    for base in (os.environ.get("CNNVIS_FIXTURES", ""), ROOT / "shared" / "fixtures",
                 ROOT.parent / "shared" / "fixtures"):
        if base and (Path(base) / kind).is_dir():
            return Path(base) / kind
    return None


def ms(values: list[float], q: float) -> str:
    return f"{np.percentile(values, q) * 1000:.1f}" if values else "n/a"


class Server:
    def __init__(self, tmp: Path):
        self.port, self.tmp = free_port(), tmp
        self.url = f"http://127.0.0.1:{self.port}/"
        self.env = {**os.environ, "JUPYTER_DATA_DIR": str(tmp / "data"), "JUPYTER_CONFIG_DIR": str(tmp / "config"),
                    "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"), "CNNVIS_DEVICES_DB": str(tmp / "devices.sqlite")}
        (tmp / "root").mkdir()
        cmd = [JUPYTER, "server", "--allow-root", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
               "--port-retries=0", f"--ServerApp.token={TOKEN}", f"--ServerApp.root_dir={tmp / 'root'}",
               "--ServerApp.jpserver_extensions=cnnvis=True"]
        with open(tmp / "server.log", "wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=self.env)
        self.http = HTTPClient()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                self.get("status")
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.2)
        raise SystemExit("the server did not start:\n" + (tmp / "server.log").read_text(errors="replace")[-3000:])

    def get(self, path: str) -> dict | list:
        reply = self.http.fetch(self.url + "cnnvis/api/" + path, headers={"Authorization": f"token {TOKEN}"},
                                request_timeout=30)
        return json.loads(reply.body)

    def samples(self, device: str) -> list[dict]:
        out, since = [], 0
        while True:
            page = self.get(f"devices/{device}/samples?since={since}&limit=100000")
            out += page["samples"]
            if not page["more"]:
                return out
            since = page["cursor"]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def agent_seqs(buffer: Path) -> tuple[int, set[int]]:
    """(how many samples the agent numbered, the seqs it still held unacknowledged)."""
    db = sqlite3.connect(str(buffer))
    try:
        numbered = db.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()[0] - 1
        return numbered, {r[0] for r in db.execute("SELECT seq FROM pending")}
    finally:
        db.close()


async def subscribe(url: str, device: str, delays: list[tuple], since_t: list[float], stop: asyncio.Event) -> None:
    """A panel: the device's live stream; each sample's arrival minus its ``t``, for t in the window."""
    ws_url = url.replace("http", "ws", 1) + f"cnnvis/api/devices/{device}/live"
    conn = await websocket_connect(HTTPRequest(ws_url, headers={"Authorization": f"token {TOKEN}"}))
    read = asyncio.ensure_future(conn.read_message())
    while not stop.is_set():
        done, _ = await asyncio.wait({read}, timeout=0.5)
        if not done:
            continue
        raw = read.result()
        now = time.time()
        if raw is None:
            break
        message = json.loads(raw)
        if message.get("type") == "samples" and since_t:
            delays += [(s["t"], now - s["t"]) for s in message["samples"] if s.get("t") and s["t"] >= since_t[0]]
        read = asyncio.ensure_future(conn.read_message())
    read.cancel()
    conn.close()


async def measure(args: argparse.Namespace, server: Server, devices: list[str]) -> dict:
    delays: list[tuple] = []
    window: list[float] = []
    stop = asyncio.Event()
    tasks = [asyncio.ensure_future(subscribe(server.url, d, delays, window, stop)) for d in devices]
    await asyncio.sleep(1.0)  # subscribers connected, agents past their first batch
    proc = psutil.Process(server.proc.pid)
    proc.cpu_percent(None)
    psutil.cpu_percent(None)
    window.append(time.time())
    per_second = []
    for _ in range(int(args.seconds)):
        await asyncio.sleep(1.0)
        per_second.append(proc.cpu_percent(None))
    window.append(time.time())
    machine = psutil.cpu_percent(None)
    stop.set()
    await asyncio.gather(*tasks)
    return {"delays": delays, "window": window, "cpu": per_second, "machine": machine}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--hz", type=float, default=20.0, help="samples per second per agent")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the measured window")
    parser.add_argument("--log", default="nano_4gb.log", help="tegrastats fixture to replay")
    args = parser.parse_args()
    fixtures = fixture_dir("tegrastats")
    if fixtures is None:
        raise SystemExit("recorded tegrastats fixtures not found (../shared/fixtures/tegrastats or $CNNVIS_FIXTURES)")
    print(f"cpu cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}; other work on this machine "
          "(e.g. a test suite) makes every number below noisy")
    print(f"{args.agents} agents x {args.hz:g} Hz for {args.seconds:g} s, replaying {args.log}")
    with tempfile.TemporaryDirectory(prefix="cnnvis-bench-jetson-") as tmp_name:
        tmp = Path(tmp_name)
        server = Server(tmp)
        store = DeviceStore(tmp / "devices.sqlite")
        devices = [f"jetson-{i:02d}" for i in range(args.agents)]
        agents = []
        try:
            for device in devices:
                env = {**os.environ, "CNNVIS_AGENT_TOKEN": store.create_token(device)}
                cmd = [sys.executable, str(AGENT), "--server", server.url, "--name", device, "--replay",
                       str(fixtures / args.log), "--interval", str(1 / args.hz), "--loop",
                       "--buffer", str(tmp / f"{device}.sqlite"), "--reconnect-max", "0.5"]
                with open(tmp / f"{device}.log", "wb") as out:
                    agents.append(subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env))
            deadline = time.monotonic() + 60
            while {d["id"] for d in server.get("devices") if d["connected"]} != set(devices):
                if time.monotonic() > deadline:
                    raise SystemExit("not every agent connected within 60 s")
                time.sleep(0.2)
            result = asyncio.run(measure(args, server, devices))
            for agent in agents:
                agent.terminate()
            for agent in agents:
                agent.wait(15)
            time.sleep(0.5)
            report(args, server, tmp, devices, result)
        finally:
            for agent in agents:
                if agent.poll() is None:
                    agent.kill()
            server.stop()


def report(args: argparse.Namespace, server: Server, tmp: Path, devices: list[str], result: dict) -> None:
    start, end = result["window"]
    lost = duplicated = unsent = stored_total = in_window = 0
    stored_delays = []
    for device in devices:
        stored = server.samples(device)
        seqs = [s["seq"] for s in stored]
        numbered, pending = agent_seqs(tmp / f"{device}.sqlite")
        duplicated += len(seqs) - len(set(seqs))
        lost += len(set(range(1, numbered + 1)) - set(seqs) - pending)
        unsent += len(pending - set(seqs))
        stored_total += len(set(seqs))
        window = [s for s in stored if s["t"] is not None and start <= s["t"] < end]
        in_window += len(window)
        stored_delays += [s["received"] - s["t"] for s in window]
    seconds = end - start
    cpu = result["cpu"]
    print(f"\nstored {stored_total} samples ({in_window} in the {seconds:.1f} s window = "
          f"{in_window / seconds / len(devices):.1f} Hz per device; target {args.hz:g})")
    print(f"  lost {lost}, duplicated {duplicated} (unacknowledged when the agents stopped: {unsent})")
    print(f"sample time -> stored (server 'received' - agent 't'): p50 {ms(stored_delays, 50)} ms, "
          f"p95 {ms(stored_delays, 95)} ms, max {ms(stored_delays, 100)} ms")
    delays = [d for t, d in result["delays"] if t < end]
    p95 = np.percentile(delays, 95) if delays else float("inf")
    print(f"sample time -> panel (live WebSocket arrival - agent 't', {len(delays)} samples on "
          f"{len(devices)} subscribers): p50 {ms(delays, 50)} ms, p95 {ms(delays, 95)} ms, max {ms(delays, 100)} ms "
          f"-> {'OK' if p95 < 0.25 else 'OVER'} (target p95 < 250 ms)")
    print(f"server CPU over the window: mean {np.mean(cpu):.0f}%, max 1-s {np.max(cpu):.0f}% of one core; "
          f"whole machine {result['machine']:.0f}% of {os.cpu_count()} cores (agents, this script, anything else)")


if __name__ == "__main__":
    main()
