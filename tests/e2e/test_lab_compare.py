"""The Compare models source in the JupyterLab sidebar, in Debian Chromium: a small CNN against a
copy whose second convolution's weights were tripled. Both graphs are drawn, the planted fault is
ranked first and painted in the strongest colour, a node picked in one graph selects its partner
in the other, and both models' ScoreCAM overlays are shown per image."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from .panel_flows import TIMEOUT_MS, sidebar_page

SIDEBAR = "#cnnvis-sidebar"
VIEW = f"{SIDEBAR} .cv-compare-models"
FAULTY = "/conv2/Conv"

pytestmark = pytest.mark.timeout(300)

# The fill a painted node is drawn with, as the browser computes it.
FILL_JS = """(sel) => { const r = document.querySelector(sel); return r ? getComputedStyle(r).fill : null; }"""
STRONGEST_JS = """() => { const probe = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
  probe.style.fill = 'hsl(0, 90%, 58%)'; document.body.appendChild(probe);
  const fill = getComputedStyle(probe).fill; probe.remove(); return fill; }"""


@pytest.fixture(scope="module")
def model_pair(lab_server):
    torch = pytest.importorskip("torch")
    onnx = pytest.importorskip("onnx")
    from torch import nn

    class Small(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1)
            self.conv3, self.fc = nn.Conv2d(8, 8, 3, padding=1), nn.Linear(8, 4)

        def forward(self, x):
            x = torch.relu(self.conv3(torch.relu(self.conv2(torch.relu(self.conv1(x))))))
            return self.fc(x.mean((2, 3)))

    torch.manual_seed(0)
    folder = lab_server.root / "compare"
    folder.mkdir(exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Small().eval(), torch.zeros(1, 3, 16, 16), str(folder / "small.onnx"), dynamo=False,
                          input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "n"}})
    proto = onnx.load(str(folder / "small.onnx"))
    node = next(n for n in proto.graph.node if n.name == FAULTY)
    weight = next(t for t in proto.graph.initializer if t.name == node.input[1])
    weight.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(weight) * 3, weight.name))
    onnx.save(proto, str(folder / "faulty.onnx"))
    np.save(folder / "inputs.npy", np.random.default_rng(0).random((4, 3, 16, 16), dtype=np.float32))
    return "compare"


def test_compare_view_paints_the_fault_and_syncs_selection(lab_server, browser, artifacts, model_pair):
    with sidebar_page(browser, lab_server.page_url("lab"), 1600, 1000) as page:
        page.click(f'{SIDEBAR} .cv-sources button[data-source="compare"]')
        page.fill(f"{VIEW} .cv-compare-path-a", f"{model_pair}/small.onnx")
        page.fill(f"{VIEW} .cv-compare-path-b", f"{model_pair}/faulty.onnx")
        page.fill(f"{VIEW} .cv-compare-inputs", f"{model_pair}/inputs.npy")
        page.select_option(f"{VIEW} .cv-compare-method", "scorecam")
        page.click(f"{VIEW} .cv-compare-form button[type=submit]")
        page.wait_for_selector(f'{VIEW}[data-state="ready"]', timeout=TIMEOUT_MS)
        for side in ("a", "b"):  # both graphs drawn
            page.wait_for_selector(f"{VIEW} .cv-compare-{side} g.node", timeout=TIMEOUT_MS)
        assert "aligned by names" in page.inner_text(f"{VIEW} .cv-compare-summary")
        # Both models' maps of the least alike images, side by side, drawn from the job's artifacts.
        page.wait_for_selector(f'{VIEW} .cv-compare-cams[data-loaded="true"]', timeout=TIMEOUT_MS)
        drawn = page.eval_on_selector_all(f"{VIEW} .cv-compare-cams figure", """tiles => tiles.map((t) =>
            [...t.querySelectorAll('img')].filter((i) => i.complete && i.naturalWidth > 0).length)""")
        assert drawn == [2, 2, 2, 2]
        first = page.locator(f"{VIEW} .cv-compare-table tr[data-layer]").first
        assert first.get_attribute("data-layer") == FAULTY  # the planted fault ranks first

        first.click()  # reveals and selects the fault in both graphs
        fault = f'g.node[data-id="{FAULTY}"] rect'
        page.wait_for_selector(f"{VIEW} .cv-compare-b {fault}", timeout=TIMEOUT_MS)
        strongest = page.evaluate(STRONGEST_JS)
        assert page.evaluate(FILL_JS, f"{VIEW} .cv-compare-b {fault}") == strongest
        assert page.evaluate(FILL_JS, f"{VIEW} .cv-compare-a {fault}") == strongest
        others = page.eval_on_selector_all(f'{VIEW} .cv-compare-b g.node:not([data-id="{FAULTY}"]) rect',
                                           "els => els.map((e) => getComputedStyle(e).fill)")
        assert others and strongest not in others
        page.screenshot(path=str(artifacts / "lab-sidebar-compare.png"))

        # Another row moves both selections; a node clicked in graph a brings graph b's partner along.
        page.click(f'{VIEW} .cv-compare-table tr[data-layer="/conv3/Conv"]')
        page.wait_for_function(f"""() => document.querySelector('{VIEW} .cv-compare-b').dataset.selected
            === '/conv3/Conv'""", timeout=TIMEOUT_MS)
        page.click(f"{VIEW} .cv-compare-a {fault}")
        page.wait_for_function(f"""() => document.querySelector('{VIEW} .cv-compare-b').dataset.selected
            === '{FAULTY}'""", timeout=TIMEOUT_MS)
        selected = page.eval_on_selector_all(f"{VIEW} .cv-compare-b g.node.selected", "els => els.map(e => e.dataset.id)")
        assert selected == [FAULTY]


@pytest.fixture(scope="module")
def engine_pair(lab_server):
    """A resnet18 named as the recorded A100 engines' source export, and those engines' exports."""
    import io
    import shutil
    from pathlib import Path

    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    onnx = pytest.importorskip("onnx")
    folder = lab_server.root / "engines"
    folder.mkdir(exist_ok=True)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(torchvision.models.resnet18().eval(), (torch.zeros(1, 3, 224, 224),), buffer, dynamo=False,
                          input_names=["input"], dynamic_axes={"input": {0: "n"}})
    proto = onnx.load_from_string(buffer.getvalue())
    for i, node in enumerate(n for n in proto.graph.node if n.op_type != "Identity"):
        node.name = f"{node.op_type}_{i}"
    onnx.save(proto, str(folder / "resnet.onnx"))
    np.save(folder / "inputs.npy", np.random.default_rng(0).random((2, 3, 224, 224), dtype=np.float32))
    recorded = Path(__file__).resolve().parents[2] / "examples" / "tensorrt"
    for precision in ("fp32", "fp16"):
        shutil.copytree(recorded / f"a100_resnet_{precision}", folder / precision, dirs_exist_ok=True)
    return "engines"


def test_compare_view_shows_each_sides_engine_latency(lab_server, browser, artifacts, engine_pair):
    with sidebar_page(browser, lab_server.page_url("lab"), 1600, 1000) as page:
        page.click(f'{SIDEBAR} .cv-sources button[data-source="compare"]')
        for side in ("a", "b"):
            page.fill(f"{VIEW} .cv-compare-path-{side}", f"{engine_pair}/resnet.onnx")
        page.fill(f"{VIEW} .cv-compare-inputs", f"{engine_pair}/inputs.npy")
        page.fill(f"{VIEW} .cv-compare-engine-a", f"{engine_pair}/fp32/resnet.onnx.engine.graph.json")
        page.fill(f"{VIEW} .cv-compare-engine-b", f"{engine_pair}/fp16/resnet.onnx.engine.graph.json")
        page.click(f"{VIEW} .cv-compare-form button[type=submit]")
        page.wait_for_selector(f'{VIEW}[data-state="ready"]', timeout=TIMEOUT_MS)
        assert "NVIDIA A100" in page.inner_text(f"{VIEW} .cv-compare-summary")
        heads = page.eval_on_selector_all(f"{VIEW} .cv-compare-table th", "hs => hs.map((h) => h.textContent)")
        assert heads[-2:] == ["ms (a)", "ms (b)"]
        conv = page.eval_on_selector(f'{VIEW} .cv-compare-table tr[data-layer="Conv_0"]',
                                     "tr => [...tr.children].slice(-2).map((td) => Number(td.textContent))")
        assert conv[0] > conv[1] > 0  # the first convolution: FP32 slower than FP16 on the A100
        page.screenshot(path=str(artifacts / "lab-compare-latency.png"))
