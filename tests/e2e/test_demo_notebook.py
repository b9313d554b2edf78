"""The bundled demo notebook, run in a real JupyterLab: every cell succeeds and the panel works."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .test_widget_lab import TIMEOUT_MS, WIDGET, canvas_pixels, run_all

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo" / "demo.ipynb"

pytestmark = pytest.mark.timeout(420)


@pytest.fixture(scope="module")
def demo_page(lab_server, demo_folder, browser, artifacts):
    shutil.copy(DEMO, demo_folder / "demo.ipynb")
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(lab_server.page_url("lab/workspaces/demo/tree/demo/demo.ipynb"))
    run_all(page)
    page.wait_for_selector(f"{WIDGET} g.node", timeout=TIMEOUT_MS)
    yield page
    page.screenshot(path=str(artifacts / "demo-notebook.png"), full_page=True)
    context.close()


NOTEBOOK_OUTPUTS = """() => {
  const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
  let code = 0, ran = 0, errors = 0, images = 0;
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    if (cell.type !== 'code') continue;
    code++;
    if (cell.executionCount) ran++;
    for (let j = 0; j < cell.outputs.length; j++) {
      const out = cell.outputs.get(j);
      if (out.type === 'error') errors++;
      if (out.data && out.data['image/png']) images++;
    }
  }
  return {code, ran, errors, images};
}"""


def test_every_demo_cell_runs(demo_page):
    # Read the notebook model, not the DOM: JupyterLab only renders the cells in view.
    demo_page.wait_for_function(f"() => {{ const o = ({NOTEBOOK_OUTPUTS})(); return o.ran === o.code; }}",
                                timeout=TIMEOUT_MS)
    outputs = demo_page.evaluate(NOTEBOOK_OUTPUTS)
    assert outputs["errors"] == 0, outputs
    assert outputs["images"] >= 4, outputs  # CAMs, activations, curves, the panel's snapshot


def test_demo_panel_shows_graph_and_cam(demo_page, artifacts):
    ids = set(demo_page.eval_on_selector_all(f"{WIDGET} g.node", "els => els.map(e => e.dataset.id)"))
    assert {"stem", "features", "classifier"} <= ids
    explain = f"{WIDGET} .cv-explain"
    demo_page.wait_for_selector(f"{explain}[data-state=ready]", timeout=TIMEOUT_MS)
    pixels = canvas_pixels(demo_page, f"{explain} canvas.cv-cam")
    assert pixels["opaque"] > 0 and pixels["distinct"] > 8
    demo_page.locator(WIDGET).first.screenshot(path=str(artifacts / "demo-panel.png"))
