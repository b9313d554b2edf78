"""Graph rendering in headless Chromium, cnnvis vs Netron on the same ONNX files.

    .venv/bin/python benchmarks/bench_graph_render.py [--no-netron] [--repeats 3]

For each graph from /work/shared/bench/make_cnn_onnx.py (or benchmarks/make_cnn_onnx.py if
copied there): cnnvis reads the ONNX with ``cnnvis.adapters.onnx`` into a graph dict, and the
bundled graph view (frontend/bench/graph.html, an in-page transport) renders it fully expanded.
Timed from the view's request until the graph is laid out, drawn and painted. Netron is timed by
netron_render_time.py (from the model request to its laid-out graph page). A hierarchical variant
of the 10,000-node chain measures the collapsed default view. Needs Debian chromium, playwright,
netron (pip, into .venv) and the built bundle (make frontend).
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import statistics
import subprocess
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cnnvis.testing import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache"
SHARED = ROOT.parent / "shared" / "bench"  # the anchors' scripts, beside the repository
GRAPHS = [("chain", 5000), ("branchy", 5000), ("chain", 10000)]
NETRON_REFERENCE = {"chain5000": 2.8, "branchy5000": 3.8, "chain10000": 7.4}  # measured elsewhere


def bench_script(name: str) -> Path:
    for folder in (SHARED, ROOT / "benchmarks"):
        if (folder / name).exists():
            return folder / name
    raise SystemExit(f"{name} not found in {SHARED}")


def make_onnx(kind: str, n: int) -> Path:
    path = CACHE / f"{kind}{n}.onnx"
    if not path.exists():
        subprocess.run([sys.executable, str(bench_script("make_cnn_onnx.py")), kind, str(n), str(path)], check=True)
    return path


def to_json(onnx_path: Path, out: Path, hierarchical: bool = False) -> float:
    """Converts with cnnvis's ONNX adapter; returns the conversion seconds."""
    import onnx

    from cnnvis.adapters.onnx import onnx_to_graph

    start = time.perf_counter()
    model = onnx.load(str(onnx_path), load_external_data=False)
    if hierarchical:  # torch-export-like names: /stage3/block12/Conv_123
        for i, node in enumerate(model.graph.node):
            node.name = f"/stage{i // 1000}/block{(i // 50) % 20}/{node.name}"
    graph = onnx_to_graph(model, name=out.stem)
    seconds = time.perf_counter() - start
    out.write_text(json.dumps(graph.to_dict()))
    return seconds


def serve(root: Path) -> ThreadingHTTPServer:
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def render(page, url: str, expand_all: bool, repeats: int, screenshot: Path) -> dict:
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = page.evaluate("([u, e]) => window.renderGraph(u, e)", [url, expand_all])
        result["wall"] = time.perf_counter() - start
        runs.append(result)
    best = sorted(runs, key=lambda r: r["total"])[len(runs) // 2]  # median run
    page.screenshot(path=str(screenshot))
    best["zoom_ms"] = zoom_latency(page)
    best["fit_ms"] = fit_all(page)
    return best


def zoom_latency(page) -> float:
    """A wheel zoom until the next painted frame: does the drawn graph stay interactive?"""
    return page.evaluate("""() => new Promise((resolve) => {
        const svg = document.querySelector('.cnnvis svg'); const t0 = performance.now();
        svg.dispatchEvent(new WheelEvent('wheel', {deltaY: -200, clientX: 400, clientY: 300, bubbles: true}));
        requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now() - t0)));
    })""")


def fit_all(page) -> float:
    """Zoom out to the whole graph (every node and edge drawn) until painted: the worst case."""
    return page.evaluate("""() => new Promise((resolve) => {
        const t0 = performance.now(); document.querySelector('.cnnvis .cv-fit').click();
        requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now() - t0)));
    })""")


def run_netron(paths: list[Path]) -> dict[str, float]:
    proc = subprocess.run([sys.executable, str(bench_script("netron_render_time.py")), *map(str, paths)],
                          capture_output=True, text=True, timeout=900)
    times = {}
    for line in proc.stdout.splitlines():
        m = re.match(r"netron (.+): (\d+) nodes laid out in ([\d.na]+) s", line)
        if m:
            times[Path(m.group(1)).stem] = float(m.group(3))
    if not times:
        print(f"netron run failed:\n{proc.stdout}\n{proc.stderr[-2000:]}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-netron", action="store_true", help="use Netron's reference times instead")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not (ROOT / "cnnvis/static/widget.js").exists():
        raise SystemExit("cnnvis/static/widget.js is missing: run `make frontend` first")
    CACHE.mkdir(parents=True, exist_ok=True)
    onnx_files = [make_onnx(kind, n) for kind, n in GRAPHS]
    convert = {p.stem: to_json(p, CACHE / f"{p.stem}.json") for p in onnx_files}
    convert["grouped10000"] = to_json(onnx_files[-1], CACHE / "grouped10000.json", hierarchical=True)
    netron = {} if args.no_netron else run_netron(onnx_files)

    from playwright.sync_api import sync_playwright

    server = serve(ROOT)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    results = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{base}/frontend/bench/graph.html")
        page.wait_for_function("() => window.benchReady === true")
        for name in [*convert]:
            url = f"/benchmarks/.cache/{name}.json"
            results[name, "expanded"] = render(page, url, True, args.repeats, CACHE / f"{name}-expanded.png")
            if name == "grouped10000":
                results[name, "collapsed"] = render(page, url, False, args.repeats, CACHE / f"{name}-collapsed.png")
        browser.close()
    server.shutdown()
    report(results, convert, netron)


def report(results: dict, convert: dict, netron: dict) -> None:
    print("\nGraph render in headless Chromium (seconds, median of runs; request -> laid out, drawn, painted)")
    print(f"{'graph':<14}{'view':<10}{'shown':>7}{'cnnvis':>9}{'+convert':>10}{'zoom ms':>9}{'fit ms':>8}"
          f"{'netron':>9}{'ratio':>7}{'goal':>6}")
    for (name, view), r in results.items():
        ours = r["total"] / 1000
        same = "chain10000" if name == "grouped10000" and view == "expanded" else name  # same graph, renamed
        ref = netron.get(same)
        source = "" if ref is not None else "*"
        ref = ref if ref is not None else NETRON_REFERENCE.get(same)
        ratio = f"{ours / ref:.2f}{source}" if ref else "-"
        goal = ("ok" if ours <= ref / 2 else "MISS") if ref else ("ok" if ours < 0.3 else "MISS")
        print(f"{name:<14}{view:<10}{r['shown']:>7}{ours:>9.3f}{ours + convert[name]:>10.3f}{r['zoom_ms']:>9.1f}{r['fit_ms']:>8.0f}"
              f"{(f'{ref:.2f}' if ref else '-'):>9}{ratio:>7}{goal:>6}")
    print("ratio = cnnvis / netron (goal <= 0.5; * = Netron's reference time, not measured here); "
          "collapsed default view goal < 0.3 s; +convert adds the Python ONNX -> graph conversion;\n"
          "zoom ms = a wheel zoom until painted; fit ms = zoom out to the whole graph (all nodes and edges drawn).")
    print("layout details:", {f"{k[0]}/{k[1]}": r["info"] for k, r in results.items()})
    print("median:", statistics.median(r["total"] for r in results.values()) / 1000, "s")


if __name__ == "__main__":
    main()
