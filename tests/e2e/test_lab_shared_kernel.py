"""One kernel, several clients, in a real JupyterLab and Chromium: the sidebar attaches to a
notebook's kernel, then a ``%cnnvis`` cell runs in that same kernel. Both draw a graph and a CAM,
and the sidebar's comm still answers after the widget opened its own."""

from __future__ import annotations

import pytest

from .notebooks import MAGIC_CELL, MODEL_CELL, write_notebook
from .panel_flows import TIMEOUT_MS, attach_kernel_model, cam_pixels, sidebar_page, wait_for_graph_and_cam

SIDEBAR = "#cnnvis-sidebar"
WIDGET = ".jp-OutputArea-output .cnnvis"

pytestmark = pytest.mark.timeout(300)

# Runs code through the open notebook's own kernel connection (the one its widgets live on).
EXECUTE_IN_NOTEBOOK_JS = """async (code) => {
  const w = window.jupyterapp.shell.currentWidget;
  const reply = await w.sessionContext.session.kernel.requestExecute({code}).done;
  return {status: reply.content.status, error: reply.content.evalue || ''};
}"""


def wait_for_notebook_kernel(page) -> None:
    page.wait_for_selector(".jp-Notebook", timeout=TIMEOUT_MS)
    page.wait_for_function(
        "() => { const w = window.jupyterapp.shell.currentWidget; const k = w && w.sessionContext"
        " && w.sessionContext.session && w.sessionContext.session.kernel; return k && k.status === 'idle'; }",
        timeout=TIMEOUT_MS)


def test_sidebar_and_magic_share_a_kernel(lab_server, browser, artifacts):
    path = write_notebook(lab_server.root / "shared_kernel.ipynb")
    with sidebar_page(browser, lab_server.page_url(f"lab/workspaces/cnnvis-shared/tree/{path.name}")) as page:
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        wait_for_notebook_kernel(page)
        reply = page.evaluate(EXECUTE_IN_NOTEBOOK_JS, MODEL_CELL)
        assert reply["status"] == "ok", reply["error"]

        attach_kernel_model(page, SIDEBAR, path.name, "model", "x")
        wait_for_graph_and_cam(page, SIDEBAR, "model")

        # The magic's cell, run by the notebook after the sidebar attached.
        page.evaluate("""async () => {
            const nb = window.jupyterapp.shell.currentWidget.content;
            nb.activeCellIndex = 1;
            await window.jupyterapp.commands.execute('notebook:run-cell');
        }""")
        page.wait_for_selector(f"{WIDGET} g.node", timeout=TIMEOUT_MS)
        assert page.locator(f"{WIDGET} g.node").count() >= 3
        page.wait_for_selector(f"{WIDGET} .cv-explain[data-state=ready]", timeout=TIMEOUT_MS)
        pixels = cam_pixels(page, f"{WIDGET} .cv-explain canvas.cv-cam")
        assert pixels["opaque"] > 0 and pixels["distinct"] > 4, pixels
        assert MAGIC_CELL.splitlines()[-1] in page.inner_text(".jp-Notebook")

        # The sidebar's comm still answers: a new target is explained there.
        explain = f'{SIDEBAR} .cv-content[data-showing="model"] .cv-explain'
        options = page.eval_on_selector_all(f"{explain} .cv-target option", "os => os.map(o => o.value)")
        page.select_option(f"{explain} .cv-target", options[-1])
        page.wait_for_selector(f"{explain}[data-state=ready]", timeout=TIMEOUT_MS)
        assert page.locator(f"{SIDEBAR} .cv-content g.node").count() >= 3
        page.screenshot(path=str(artifacts / "lab-shared-kernel.png"))
        page.locator(f"{WIDGET} .cv-explain").screenshot(path=str(artifacts / "lab-shared-kernel-widget-cam.png"))
        page.locator(explain).screenshot(path=str(artifacts / "lab-shared-kernel-sidebar-cam.png"))
        assert not [e for e in errors if "opening new comm" in e or "subshell" in e.lower()], errors
