"""Load on the cnnvis server extension: scalar queries under concurrency, and status during a job.

    .venv/bin/python benchmarks/bench_server.py [--clients 20] [--queries 50]

Starts a real server process (``jupyter cnnvis``'s entry point) on 127.0.0.1 with a random token,
rooted at benchmarks/.cache/server/ (git-ignored), where a 1,000,000-point run (4 tags x 250,000
steps, written with cnnvis.scalars.EventWriter) and a small CNN (.pt2) are generated once.
Then: N clients x M scalar queries (p50/p95 latency, errors), and ``status`` latencies while a
ScoreCAM job runs (the target is < 200 ms). Only loopback traffic; every loop is bounded.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

from cnnvis.testing import free_port

ROOT = Path(__file__).resolve().parent / ".cache" / "server"
TAGS = ("train/loss", "train/accuracy", "val/loss", "lr")
STEPS = 250_000


def generate_run(logdir: Path) -> None:
    from cnnvis.scalars import EventWriter

    marker = logdir / "COMPLETE"
    if marker.exists():
        return
    print(f"writing {len(TAGS) * STEPS:,} points to {logdir} (once) ...", flush=True)
    logdir.mkdir(parents=True, exist_ok=True)
    for old in logdir.glob("events.out.tfevents.*"):
        old.unlink()
    noise = np.random.default_rng(0).normal(size=(STEPS, len(TAGS)))
    writer = EventWriter(logdir)
    start = 1.7e9
    for step in range(STEPS):
        for j, tag in enumerate(TAGS):  # one event per scalar, as SummaryWriter writes them
            writer.add_scalar(tag, float(noise[step, j]) + 1.0 / (1 + step), step, wall_time=start + step)
    writer.close()
    marker.write_text("ok\n")


def generate_model(root: Path) -> None:
    if (root / "cnn.pt2").exists() and (root / "images.npy").exists():
        return
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 64, 3, padding=1), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)).eval()
    x = torch.randn(32, 3, 64, 64)
    batch = torch.export.Dim("batch", min=1, max=4096)
    torch.export.save(torch.export.export(model, (x[:2],), dynamic_shapes=({0: batch},)), root / "cnn.pt2")
    np.save(root / "images.npy", x.numpy())


class Client:
    """One keep-alive HTTP connection with the token."""

    def __init__(self, port: int, token: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Authorization": f"token {token}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: dict | None = None, **query) -> tuple[int, dict, float]:
        url = "/cnnvis/api/" + path + (("?" + urlencode(query)) if query else "")
        start = time.perf_counter()
        self.conn.request(method, url, body=None if body is None else json.dumps(body), headers=self.headers)
        response = self.conn.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - start
        return response.status, (json.loads(data) if data else {}), elapsed


def start_server(port: int, token: str, extra: list[str]) -> subprocess.Popen:
    code = "import sys; from cnnvis.server.app import main; sys.argv[0] = 'jupyter-cnnvis'; main()"
    args = [sys.executable, "-c", code, "--no-browser", "--ip=127.0.0.1", f"--port={port}",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}", "--ServerApp.allow_root=True",
            "--ServerApp.jpserver_extensions={'cnnvis': True}", *extra]
    log = open(ROOT / "server.log", "w")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            status, _, _ = Client(port, token).call("GET", "status")
            if status == 200:
                return proc
        except OSError:
            time.sleep(0.3)
    proc.terminate()
    raise SystemExit(f"server did not start; see {ROOT / 'server.log'}")


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000


def scalar_load(port: int, token: str, clients: int, queries: int) -> None:
    client = Client(port, token)
    status, _, cold = client.call("GET", "runs", logdir="run_1m")
    print(f"first read of the 1M-point run (cold): {cold * 1000:.0f} ms (status {status})")

    def worker(index: int) -> tuple[list[float], int]:
        rng = np.random.default_rng(index)
        me = Client(port, token)
        times, errors = [], 0
        for q in range(queries):
            # A dashboard-like mix: 4 tags x 4 resolutions x 4 smoothings, and incremental polls.
            query = {"logdir": "run_1m", "run": ".", "tag": TAGS[int(rng.integers(len(TAGS)))],
                     "points": int(rng.choice([500, 1000, 2000, 4000]))}
            smoothing = float(rng.choice([0.0, 0.3, 0.6, 0.9]))
            if smoothing:
                query["smoothing"] = smoothing
            if q % 5 == 4:
                query["since"] = int(rng.integers(0, STEPS))
            try:
                code, reply, elapsed = me.call("GET", "scalars", **query)
                errors += code != 200 or not reply.get("steps")
                times.append(elapsed)
            except OSError:
                errors += 1
        return times, errors

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(worker, range(clients)))
    wall = time.perf_counter() - start
    times = [t for ts, _ in results for t in ts]
    errors = sum(e for _, e in results)
    print(f"scalars: {clients} clients x {queries} queries = {len(times)} requests in {wall:.1f} s "
          f"({len(times) / wall:.0f} req/s)")
    print(f"  latency p50 {percentile(times, 50):.1f} ms, p95 {percentile(times, 95):.1f} ms, "
          f"max {max(times) * 1000:.1f} ms; errors {errors}")


def status_during_job(port: int, token: str, samples: int) -> None:
    client = Client(port, token)
    code, opened, _ = client.call("POST", "models", {"path": "cnn.pt2", "inputs": "images.npy"})
    assert code == 201, opened
    idle = [client.call("GET", "status")[2] for _ in range(10)]
    code, job, _ = client.call("POST", "jobs", {"model": opened["id"], "method": "scorecam"})
    assert code == 202, job
    for _ in range(100):  # wait until it really runs
        snapshot = client.call("GET", f"jobs/{job['id']}")[1]
        if snapshot["state"] == "running" and snapshot["progress"]["done"] > 0:
            break
        time.sleep(0.05)
    busy = []
    for _ in range(samples):
        busy.append(client.call("GET", "status")[2])
        time.sleep(0.05)
    snapshot = client.call("GET", f"jobs/{job['id']}")[1]
    progress = snapshot["progress"]
    client.call("DELETE", f"jobs/{job['id']}")
    print(f"status while idle: p50 {percentile(idle, 50):.1f} ms")
    print(f"status during a ScoreCAM job (state {snapshot['state']}, {progress['done']}/{progress['total']} "
          f"inputs): p50 {percentile(busy, 50):.1f} ms, p95 {percentile(busy, 95):.1f} ms, "
          f"max {max(busy) * 1000:.1f} ms -> {'OK' if max(busy) < 0.2 else 'OVER'} (target < 200 ms)")
    print("  each:", " ".join(f"{t * 1000:.0f}" for t in busy))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--status-samples", type=int, default=20)
    parser.add_argument("--no-reply-cache", action="store_true",
                        help="turn off the server's cache of encoded scalar replies")
    args = parser.parse_args()
    ROOT.mkdir(parents=True, exist_ok=True)
    generate_run(ROOT / "run_1m")
    generate_model(ROOT)
    token, port = secrets.token_hex(16), free_port()
    extra = ["--CnnvisExtension.scalar_cache_bytes=0"] if args.no_reply_cache else []
    print(f"cpu cores: {os.cpu_count()}; scalar reply cache {'off' if extra else 'on'}")
    server = start_server(port, token, extra)
    try:
        scalar_load(port, token, args.clients, args.queries)
        status_during_job(port, token, args.status_samples)
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
