"""The %cnnvis widget in a real JupyterLab (and Notebook 7) in Debian Chromium.

One notebook is run once in JupyterLab; the tests then drive that page in order: graph, expand,
activations, explanation, saving and converting to HTML.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .notebooks import model_roots, write_notebook

# The widget in a cell output (the CNN Vis sidebar is a .cnnvis too).
WIDGET = ".jp-OutputArea-output .cnnvis"
TIMEOUT_MS = 90_000

pytestmark = pytest.mark.timeout(300)


def run_all(page, app_name: str = "jupyterapp") -> None:
    page.wait_for_function(f"() => window.{app_name} && window.{app_name}.commands.hasCommand('notebook:run-all-cells')",
                           timeout=TIMEOUT_MS)
    # The kernel must be up before running, or the first cell may be dropped.
    page.wait_for_selector(".jp-Notebook", timeout=TIMEOUT_MS)
    page.wait_for_function(
        f"() => {{ const w = window.{app_name}.shell.currentWidget; const k = w && w.sessionContext && w.sessionContext.session"
        " && w.sessionContext.session.kernel; return k && k.status === 'idle'; }", timeout=TIMEOUT_MS)
    page.evaluate(f"window.{app_name}.commands.execute('notebook:run-all-cells')")


def canvas_pixels(page, selector: str) -> dict:
    """Summary of a canvas's pixels: how many are non-transparent, distinct values, and a checksum."""
    return page.eval_on_selector(selector, """(c) => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let opaque = 0, sum = 0; const seen = new Set();
        for (let i = 0; i < d.length; i += 4) {
          if (d[i + 3] > 0) opaque++;
          sum = (sum * 31 + d[i] + 7 * d[i + 1] + 13 * d[i + 2]) % 1000000007;
          if (seen.size < 64) seen.add(d[i] << 16 | d[i + 1] << 8 | d[i + 2]);
        }
        return {width: c.width, height: c.height, opaque, distinct: seen.size, checksum: sum};
    }""")


@pytest.fixture(scope="module")
def lab_page(lab_server, browser, artifacts):
    path = write_notebook(lab_server.root / "widget_lab.ipynb")
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(lab_server.page_url(f"lab/tree/{path.name}"))
    run_all(page)
    page.wait_for_selector(f"{WIDGET} g.node", timeout=TIMEOUT_MS)
    page.screenshot(path=str(artifacts / "lab-graph.png"))
    yield page
    context.close()


def test_graph_shows_top_level_nodes(lab_page):
    ids = set(lab_page.eval_on_selector_all(f"{WIDGET} g.node", "els => els.map(e => e.dataset.id)"))
    assert ids == model_roots()
    assert lab_page.locator(f'{WIDGET} g.node.group[data-id="features"]').count() == 1


def test_expanding_a_group_adds_its_children(lab_page, artifacts):
    before = lab_page.locator(f"{WIDGET} g.node").count()
    lab_page.click(f'{WIDGET} g.node[data-id="features"]')
    lab_page.wait_for_selector(f'{WIDGET} g.node[data-id="features.0"]', timeout=10_000)
    ids = set(lab_page.eval_on_selector_all(f"{WIDGET} g.node", "els => els.map(e => e.dataset.id)"))
    assert {"features.0", "features.1", "features.2", "features.3"} <= ids and "features" not in ids
    assert len(ids) == before + 3
    assert lab_page.locator(f'{WIDGET} g.cluster[data-id="features"]').count() == 1
    lab_page.hover(f'{WIDGET} g.node[data-id="features.2"]')
    tooltip = lab_page.locator(f"{WIDGET} .cv-tooltip")
    assert "(1, 16, 32, 32)" in tooltip.inner_text() and "1,168" in tooltip.inner_text()
    lab_page.screenshot(path=str(artifacts / "lab-expanded.png"))


def test_search_highlights_and_reveals(lab_page):
    lab_page.click(f'{WIDGET} g.cluster[data-id="features"]')  # collapse again
    lab_page.wait_for_selector(f'{WIDGET} g.node.group[data-id="features"]', timeout=10_000)
    lab_page.fill(f"{WIDGET} .cv-search", "classifier.1")
    lab_page.wait_for_selector(f'{WIDGET} g.node.match[data-id="classifier"]', timeout=10_000)
    lab_page.press(f"{WIDGET} .cv-search", "Enter")
    lab_page.wait_for_selector(f'{WIDGET} g.node.match[data-id="classifier.1"]', timeout=10_000)
    lab_page.fill(f"{WIDGET} .cv-search", "")
    lab_page.click(f"{WIDGET} .cv-fit")  # the reveal centred on classifier.1
    lab_page.click(f'{WIDGET} g.node[data-id="features"]')
    lab_page.wait_for_selector(f'{WIDGET} g.node[data-id="features.2"]', timeout=10_000)


def test_clicking_a_conv_layer_draws_its_activations(lab_page, artifacts):
    lab_page.click(f'{WIDGET} g.node[data-id="features.2"]')
    lab_page.wait_for_selector(f"{WIDGET} .cv-activations[data-state=ready]", timeout=TIMEOUT_MS)
    pixels = canvas_pixels(lab_page, f"{WIDGET} .cv-activations canvas.cv-grid")
    assert pixels["width"] > 0 and pixels["opaque"] > 0 and pixels["distinct"] > 8
    assert "16×32×32" in lab_page.inner_text(f"{WIDGET} .cv-activations .cv-layer")
    assert "dead" in lab_page.inner_text(f"{WIDGET} .cv-activations .cv-stats")
    lab_page.select_option(f"{WIDGET} .cv-sort", "variance")
    lab_page.locator(WIDGET).screenshot(path=str(artifacts / "lab-activations.png"))


def test_cam_overlay_changes_with_target(lab_page, artifacts):
    lab_page.click(f"{WIDGET} .cv-tabs button[data-tab=explain]")
    explain = f"{WIDGET} .cv-explain"
    lab_page.wait_for_selector(f"{explain}[data-state=ready]", timeout=TIMEOUT_MS)
    assert "features.2" in lab_page.inner_text(f"{explain} .cv-layer-info")  # the clicked layer is the CAM layer
    before = canvas_pixels(lab_page, f"{explain} canvas.cv-cam")
    assert before["opaque"] == before["width"] * before["height"] > 0 and before["distinct"] > 8
    options = lab_page.eval_on_selector_all(f"{explain} .cv-target option", "os => os.map(o => o.value)")
    assert len(options) == 5  # "top class" + the 4 classes
    lab_page.select_option(f"{explain} .cv-target", options[-1])  # the least likely class
    lab_page.wait_for_selector(f"{explain}[data-state=ready]", timeout=TIMEOUT_MS)
    after = canvas_pixels(lab_page, f"{explain} canvas.cv-cam")
    assert after["checksum"] != before["checksum"]
    lab_page.locator(WIDGET).screenshot(path=str(artifacts / "lab-explain.png"))


def test_opacity_slider_reblends_without_a_request(lab_page):
    explain = f"{WIDGET} .cv-explain"
    before = canvas_pixels(lab_page, f"{explain} canvas.cv-cam")
    lab_page.fill(f"{explain} .cv-alpha", "0.9")
    lab_page.dispatch_event(f"{explain} .cv-alpha", "input")
    assert canvas_pixels(lab_page, f"{explain} canvas.cv-cam")["checksum"] != before["checksum"]


def test_theme_follows_jupyterlab(lab_page):
    def colours():
        return lab_page.evaluate("""() => [getComputedStyle(document.querySelector('.cnnvis')).backgroundColor,
            getComputedStyle(document.querySelector('.cnnvis g.node.layer rect')).fill]""")

    light = colours()
    lab_page.evaluate("window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
    lab_page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'", timeout=30_000)
    lab_page.wait_for_function(f"() => getComputedStyle(document.querySelector('.cnnvis')).backgroundColor !== '{light[0]}'",
                               timeout=30_000)
    dark = colours()
    assert dark[0] != light[0] and dark[1] != light[1]
    lab_page.evaluate("window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})")


def test_saved_notebook_converts_to_html_with_snapshot(lab_page, lab_server, artifacts):
    lab_page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
    path = lab_server.root / "widget_lab.ipynb"
    lab_page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30_000)
    outputs = json.loads(path.read_text())["cells"][1]["outputs"]
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
    jupyter = Path(sys.executable).with_name("jupyter")
    subprocess.run([str(jupyter), "nbconvert", "--to", "html", str(path), "--output-dir", str(artifacts)],
                   check=True, capture_output=True, timeout=120)
    html = (artifacts / "widget_lab.html").read_text()
    images = re.findall(r'<img[^>]*cnnvis-snapshot-img[^>]*>', html)
    assert len(images) == 2 and all('src="data:image/png;base64,' in i for i in images)  # overlay + graph


def test_notebook7_renders_the_widget(lab_server, browser, artifacts):
    path = write_notebook(lab_server.root / "widget_nb7.ipynb")
    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    page = context.new_page()
    try:
        page.goto(lab_server.page_url(f"notebooks/{path.name}"))
        run_all(page)
        page.wait_for_selector(f"{WIDGET} g.node", timeout=TIMEOUT_MS)
        page.wait_for_selector(f"{WIDGET} .cv-explain[data-state=ready]", timeout=TIMEOUT_MS)
        assert page.locator(f"{WIDGET} g.node").count() == len(model_roots())
        page.screenshot(path=str(artifacts / "notebook7.png"))
    finally:
        context.close()
