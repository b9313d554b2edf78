"""TensorRT engines in the CNN Vis sidebar of a real JupyterLab, in Debian Chromium: the A100 FP16
export's graph coloured by latency share with its latency bars and per-iteration distribution, and
the A100 FP32 / FP16 / INT8 (QAT) trio compared side by side."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from helpers import legacy_resnet18_onnx, shared_fixture_dir, tiny_onnx

from .panel_flows import TIMEOUT_MS, cam_pixels, open_model_file, open_sidebar

SIDEBAR = "#cnnvis-sidebar"
FIXTURES = shared_fixture_dir("tensorrt")
TRIO = ["trt/a100_resnet_fp32/resnet.onnx.engine.graph.json", "trt/a100_resnet_qat/resnet-qat.onnx.engine.graph.json",
        "trt/a100_resnet_fp16/resnet.onnx.engine.graph.json"]

pytestmark = [pytest.mark.timeout(600),
              pytest.mark.skipif(FIXTURES is None, reason="recorded TensorRT fixtures not found")]

# Pixels an ECharts canvas actually painted (a chart that failed to draw stays transparent).
PAINTED_JS = """(c) => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n;
}"""


def write_onnx(folder) -> None:
    """resnet18 named as the A100 engines' exporter did (``Conv_0``, ..., ``Gemm_48``), the source
    those engines map onto, and a tiny CNN with inputs to time and explain."""
    pytest.importorskip("torch")
    onnx = pytest.importorskip("onnx")
    onnx.save(legacy_resnet18_onnx(), folder / "resnet18.onnx")
    (folder / "tiny").mkdir(exist_ok=True)
    tiny_onnx(folder / "tiny" / "tiny.onnx", channels=8, size=16)
    np.save(folder / "tiny" / "inputs.npy", np.random.default_rng(0).random((2, 3, 16, 16), dtype=np.float32))


@pytest.fixture(scope="module")
def lab(lab_server, browser, artifacts):
    for name in ("a100_resnet_fp32", "a100_resnet_fp16", "a100_resnet_qat", "orin_trtexec"):
        shutil.copytree(FIXTURES / name, lab_server.root / "trt" / name, dirs_exist_ok=True)
    write_onnx(lab_server.root / "trt")
    context = browser.new_context(viewport={"width": 1600, "height": 1200})
    page = context.new_page()
    page.goto(lab_server.page_url("lab/workspaces/cnnvis-engine"))
    open_sidebar(page)
    yield page
    page.screenshot(path=str(artifacts / "lab-engine.png"))
    context.close()


def open_engine(page, path: str) -> str:
    open_model_file(page, SIDEBAR, path)
    content = f'{SIDEBAR} .cv-content[data-showing="{path.rsplit("/", 1)[1]}"]'
    page.wait_for_selector(f"{content} .cv-graph[data-latency=true] g.node", timeout=TIMEOUT_MS)
    page.wait_for_function("""(p) => document.querySelector('#cnnvis-sidebar .cv-model-path').value === p""",
                           arg=path, timeout=TIMEOUT_MS)
    return content


def test_engine_graph_is_coloured_by_latency_with_bars_and_distribution(lab, artifacts):
    content = open_engine(lab, "trt/a100_resnet_fp16/resnet.onnx.engine.graph.json")
    fills = lab.eval_on_selector_all(f"{content} g.node rect", "rs => rs.map((r) => r.style.fill)")
    coloured = [f for f in fills if f]
    assert len(coloured) >= 10 and len(set(coloured)) >= 5, fills[:10]
    assert "latency_pct" in lab.inner_text(f"{content} .cv-latency-legend")

    engine = f"{content} .cv-engine"
    lab.wait_for_selector(f"{engine}[data-state=ready] .cv-engine-bars canvas", timeout=TIMEOUT_MS)
    assert lab.eval_on_selector(f"{engine} .cv-engine-bars canvas", PAINTED_JS) > 1000
    assert lab.eval_on_selector(f"{engine} .cv-engine-hist canvas", PAINTED_JS) > 500
    assert "3698 iterations" in lab.inner_text(f"{engine} .cv-engine-timing-title")
    assert lab.locator(f"{engine} .cv-engine-table tr").count() == 37  # header + 36 layers
    first = lab.text_content(f"{engine} .cv-engine-table tr:nth-child(2)")  # inside a closed <details>
    assert "FP16" in first or "FP32" in first  # precision and formats per layer
    lab.select_option(f"{engine} .cv-engine-sort", "slowest")
    times = lab.eval_on_selector_all(f"{engine} .cv-engine-table tr td:nth-child(2)",
                                     "tds => tds.map((t) => Number(t.textContent))")
    assert times == sorted(times, reverse=True)
    # No weights: no Explain or Activations tab is offered, and a note says why.
    assert "no weights" in lab.text_content(f"{content} .cv-no-actions")
    tabs = lab.eval_on_selector_all(f"{content} .cv-tabs button", "bs => bs.map((b) => b.dataset.tab)")
    assert tabs == ["engine"], tabs
    assert lab.locator(f"{content} .cv-app-error").count() == 0
    lab.locator(SIDEBAR).screenshot(path=str(artifacts / "lab-sidebar-engine.png"))


def test_comparison_of_the_a100_trio_draws(lab, artifacts):
    for path in TRIO:
        open_engine(lab, path)
    lab.click(f"{SIDEBAR} .cv-compare-open")
    lab.wait_for_selector(f"{SIDEBAR} .cv-compare-picker .cv-compare-run", timeout=TIMEOUT_MS)
    assert lab.locator(f"{SIDEBAR} .cv-compare-picker input:checked").count() == 3
    lab.click(f"{SIDEBAR} .cv-compare-run")
    view = f"{SIDEBAR} .cv-compare-engines[data-state=ready]"
    lab.wait_for_selector(f"{view} .cv-compare-bars canvas", timeout=TIMEOUT_MS)
    assert lab.eval_on_selector(f"{view} .cv-compare-bars canvas", PAINTED_JS) > 1000
    title = lab.inner_text(f"{view} .cv-compare-title")
    assert "a100_resnet_fp32" in title and "a100_resnet_qat" in title and "compute order" in title
    totals = lab.inner_text(f"{view} .cv-compare-totals")
    assert "sum of per-layer average" in totals and "end-to-end latency" in totals and "no timing export" in totals
    assert lab.locator(f"{view} .cv-compare-totals tr").count() == 4
    lab.locator(SIDEBAR).screenshot(path=str(artifacts / "lab-sidebar-engine-compare.png"))


def test_onnx_graph_painted_with_the_engine_latency(lab, artifacts):
    content = open_engine(lab, "trt/a100_resnet_fp16/resnet.onnx.engine.graph.json")
    engine = f"{content} .cv-engine"
    lab.fill(f"{engine} .cv-engine-source-path", "trt/resnet18.onnx")
    lab.click(f"{engine} .cv-engine-paint")
    painted = f"{engine} .cv-engine-source .cv-graph[data-latency=true]"
    lab.wait_for_selector(f"{painted} g.node", timeout=TIMEOUT_MS)
    assert "latency_share_ms" in lab.inner_text(f"{painted} .cv-latency-legend")
    assert "engine-only layers" in lab.inner_text(f"{engine} .cv-engine-source-note")
    fills = lab.eval_on_selector_all(f"{painted} g.node rect", "rs => rs.map((r) => r.style.fill)")
    assert len({f for f in fills if f}) >= 3
    lab.locator(f"{engine} .cv-engine-source").screenshot(path=str(artifacts / "lab-engine-painted-onnx.png"))
    lab.fill(f"{engine} .cv-engine-source-path", "trt/missing.onnx")  # a later error clears that painting
    lab.click(f"{engine} .cv-engine-paint")
    lab.wait_for_selector(f"{engine} > .cv-error:not([hidden])", timeout=TIMEOUT_MS)
    assert lab.locator(f"{engine} .cv-engine-source g.node").count() == 0


def test_onnx_model_is_explained_with_eigencam_and_timed_on_its_inputs(lab, artifacts):
    open_model_file(lab, SIDEBAR, "trt/tiny/tiny.onnx", "trt/tiny/inputs.npy")
    content = f'{SIDEBAR} .cv-content[data-showing="tiny.onnx"]'
    lab.wait_for_selector(f"{content} .cv-explain[data-state=ready]", timeout=TIMEOUT_MS)
    assert lab.input_value(f"{content} .cv-explain .cv-method") == "eigencam"  # no gradients in ONNX Runtime
    assert cam_pixels(lab, f"{content} .cv-explain canvas.cv-cam")["opaque"] > 0
    lab.click(f'{content} .cv-tabs button[data-tab="engine"]')
    engine = f"{content} .cv-engine"
    lab.wait_for_selector(f"{engine} .cv-engine-run:not([hidden])", timeout=TIMEOUT_MS)
    lab.click(f"{engine} .cv-engine-run")
    lab.wait_for_selector(f"{engine}[data-state=ready] .cv-engine-hist canvas", timeout=TIMEOUT_MS)
    assert lab.eval_on_selector(f"{engine} .cv-engine-bars canvas", PAINTED_JS) > 500
    assert "10 runs" in lab.inner_text(f"{engine} .cv-engine-timing-title")


# Where, inside the latency chart, the row ``index`` lies (grid: 8 px top, 28 px bottom, 50 px right).
BAR_ROW_JS = """(el, index) => {
  const rows = JSON.parse(el.dataset.labels).length; const r = el.getBoundingClientRect();
  return {x: r.width - 70, y: 8 + (index + 0.5) * (r.height - 36) / rows};
}"""


def test_fused_engine_is_fitted_with_unique_bar_labels_properties_and_export(lab, artifacts, tmp_path):
    """trtexec's log of an Orin engine: 86 fused layers, many sharing a long name prefix."""
    content = open_engine(lab, "trt/orin_trtexec/trt.out")
    graph = f"{content} .cv-graph"
    # Fitted on open at the panel's width: nodes readable, none wider than the panel.
    canvas = lab.eval_on_selector(f"{graph} .cv-canvas", "e => e.getBoundingClientRect().width")
    widths = lab.eval_on_selector_all(f"{graph} g.node rect", "rs => rs.map((r) => r.getBoundingClientRect().width)")
    assert widths and max(widths) <= canvas and min(widths) > 40, (canvas, widths[:5])  # readable, not slivers
    labels = lab.eval_on_selector_all(f"{graph} g.node", "gs => gs.map((g) => [g.querySelector('text').textContent, g.querySelector('title').textContent])")
    assert any("…" in text and len(full) > len(text) for text, full in labels)  # elided, full name on hover

    engine = f"{content} .cv-engine"
    lab.wait_for_selector(f"{engine}[data-state=ready] .cv-engine-bars canvas", timeout=TIMEOUT_MS)
    bars = f"{engine} .cv-engine-bars"
    short = lab.eval_on_selector(bars, "e => JSON.parse(e.dataset.labels)")
    rows = lab.eval_on_selector_all(f"{engine} .cv-engine-table tr td:first-child", "tds => tds.map((t) => t.textContent)")
    assert len(short) == len(rows) == 86 and len(set(short)) == 86  # told apart
    same_prefix = [i for i, name in enumerate(rows) if name.startswith("backbone.layer2.0.downsample")]
    assert len(same_prefix) >= 2 and len({short[i] for i in same_prefix}) == len(same_prefix)
    lab.click(f'{content} .cv-tabs button[data-tab="engine"]')
    at = lab.eval_on_selector(bars, BAR_ROW_JS, same_prefix[0])
    lab.locator(bars).hover(position=at)
    lab.wait_for_function("""([host, name]) => [...document.querySelectorAll(host + ' div')]
        .some((d) => d.style.display !== 'none' && d.textContent.includes(name))""", arg=[bars, rows[same_prefix[0]]],
                          timeout=10_000)

    lab.eval_on_selector(f"{graph} .cv-canvas", "e => e.scrollIntoView()")
    first = lab.eval_on_selector(f"{graph} .cv-canvas", """(c) => { const box = c.getBoundingClientRect();
        return [...c.querySelectorAll('g.node')].find((g) => { const r = g.getBoundingClientRect();
          return r.left >= box.left && r.right <= box.right && r.top >= box.top && r.bottom <= box.bottom; }).dataset.id; }""")
    lab.click(f'{graph} g.node[data-id="{first}"]')
    props = lab.inner_text(f"{graph} .cv-node-props")
    assert "type" in props and "output" in props
    with lab.expect_download() as svg_download:
        lab.click(f"{graph} .cv-export-svg")
    svg = (tmp_path / "graph.svg")
    svg_download.value.save_as(svg)
    markup = svg.read_text()
    assert markup.startswith("<svg") and markup.count('<g class="node">') == 88
    with lab.expect_download() as png_download:
        lab.click(f"{graph} .cv-export-png")
    png = tmp_path / "graph.png"
    png_download.value.save_as(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 2000
    lab.locator(SIDEBAR).screenshot(path=str(artifacts / "lab-engine-fused-bars.png"))


def test_conv_layer_properties_show_kernel_stride_padding_and_tactic(lab):
    content = open_engine(lab, "trt/a100_resnet_fp16/resnet.onnx.engine.graph.json")
    graph = f"{content} .cv-graph"
    node = lab.eval_on_selector_all(f"{graph} g.node", "gs => gs.map((g) => g.dataset.id)")
    conv = next(i for i in node if i.startswith("Conv_0"))
    lab.click(f'{graph} g.node[data-id="{conv}"]')
    props = lab.inner_text(f"{graph} .cv-node-props")
    for expected in ("Kernel", "(7, 7)", "Stride", "PrePadding", "tactic", "Weights shape", "Conv_0 + Relu_1"):
        assert expected in props, (expected, props)
