"""The JupyterLab sidebar's two first impressions, timed in a real JupyterLab in Debian Chromium:

- sidebar opened -> the demo logdir's charts (one per tag) drawn (goal < 1 s);
- kernel attach -> the graph of a torch model living in a notebook's kernel drawn (goal < 1.5 s):
  connect to the kernel, register cnnvis there (a silent execute), list its models, attach, draw.

    .venv/bin/python benchmarks/bench_lab_panel.py [--repeats 5]

Times are taken in the page with performance.now(), from the command to the drawn result. The
first kernel attach also imports cnnvis inside that kernel; it is reported on its own ("cold").
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from cnnvis.testing import CHROMIUM, CHROMIUM_ARGS, start_lab

CACHE = Path(__file__).resolve().parent / ".cache" / "demo"

TORCH_CELL = """
import torch, torch.nn as nn
net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
                    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10)).eval()
x = torch.rand(2, 3, 32, 32)
"""

LOGDIR_JS = """async (logdir) => {
  const app = window.jupyterapp;
  document.querySelectorAll('#cnnvis-sidebar .cv-training').forEach((e) => e.dataset.old = '1');
  const t0 = performance.now();
  await app.commands.execute('cnnvis:open');
  const panel = document.getElementById('cnnvis-sidebar').cnnvisPanel;
  window.__cnnvisT0 = t0;
  await panel.openLogdir(logdir);
}"""

LOGDIR_DRAWN_JS = """() => {
  const el = [...document.querySelectorAll('#cnnvis-sidebar .cv-training')].find((e) => !e.dataset.old);
  return el && el.dataset.drawnAt
    ? {ms: Number(el.dataset.drawnAt) - window.__cnnvisT0, charts: el.querySelectorAll('.cv-chart').length} : null;
}"""

ATTACH_JS = """async ([kernelId, model, inputs]) => {
  const panel = document.getElementById('cnnvis-sidebar').cnnvisPanel;
  const t0 = performance.now();
  panel.showSource('kernel');
  await panel.listKernels();
  panel.el.querySelector('.cv-kernel').value = kernelId;
  await panel.connectKernel();
  window.__cnnvisT0 = t0;
  await panel.inspectKernelModel(model, inputs);
}"""

GRAPH_DRAWN_JS = """(model) => document.querySelector(`#cnnvis-sidebar .cv-content[data-showing="${model}"] g.node`)
  ? performance.now() - window.__cnnvisT0 : null"""

START_KERNEL_JS = """async ([path, code]) => {
  const s = await window.jupyterapp.serviceManager.sessions.startNew({path, name: path, type: 'notebook', kernel: {name: 'python3'}});
  const reply = await s.kernel.requestExecute({code}).done;
  return reply.content.status === 'ok' ? s.kernel.id : null;
}"""


def prepare_demo() -> Path:
    if not (CACHE / "runs").exists():
        subprocess.run([sys.executable, "-m", "cnnvis.demo", str(CACHE), "--epochs", "4"], check=True)
    return CACHE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    demo = prepare_demo()
    root, home = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp())
    shutil.copytree(demo, root / "demo")  # a symlink out of the root would be refused, as it should
    server = start_lab(root, home)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(server.page_url("lab"))
            page.wait_for_function("() => window.jupyterapp && window.jupyterapp.commands.hasCommand('cnnvis:open')",
                                   timeout=120_000)
            page.evaluate("async () => { await window.jupyterapp.restored; }")
            charts = []
            for _ in range(args.repeats):
                page.evaluate(LOGDIR_JS, "demo/runs")
                charts.append(page.wait_for_function(LOGDIR_DRAWN_JS, timeout=60_000).json_value())
            kernel = page.evaluate(START_KERNEL_JS, ["bench.ipynb", TORCH_CELL])
            attach = []
            for _ in range(args.repeats + 1):
                page.evaluate(ATTACH_JS, [kernel, "net", "x"])
                attach.append(page.wait_for_function(GRAPH_DRAWN_JS, arg="net", polling="raf", timeout=60_000)
                              .json_value())
            browser.close()
    finally:
        server.stop()
    logdir_ms = [c["ms"] for c in charts]
    print(f"sidebar opened -> {charts[0]['charts']} charts drawn: median {statistics.median(logdir_ms):.0f} ms "
          f"(min {min(logdir_ms):.0f}, max {max(logdir_ms):.0f}; goal < 1000 ms) -> "
          f"{statistics.median(logdir_ms) / 1000:.2f}x of the goal")
    warm = attach[1:]
    print(f"kernel attach -> graph drawn: cold {attach[0]:.0f} ms (imports cnnvis in the kernel); warm median "
          f"{statistics.median(warm):.0f} ms (min {min(warm):.0f}, max {max(warm):.0f}; goal < 1500 ms) -> "
          f"{statistics.median(warm) / 1500:.2f}x of the goal")


if __name__ == "__main__":
    main()
