"""The Explain view's extras in a real JupyterLab and Chromium, on models living in a kernel and
attached from the sidebar: picking a detected box of a Faster R-CNN as the target changes the map,
and the evidence (sanity verdict, deletion/insertion AUC) is computed on demand for a small CNN."""

from __future__ import annotations

import pytest

from .panel_flows import START_KERNEL_JS, TIMEOUT_MS, TORCH_CELL, attach_kernel_model

SIDEBAR = "#cnnvis-sidebar"
EXPLAIN = f"{SIDEBAR} .cv-explain"


def explain_of(model: str) -> str:
    """The Explain view of ``model`` once it is mounted (until then the previous model's is on screen)."""
    return f'{SIDEBAR} .cv-content[data-showing="{model}"] .cv-explain'
DETECTOR_CELL = """
import torch
from torchvision.models import detection
torch.manual_seed(0)
det = detection.fasterrcnn_mobilenet_v3_large_fpn(weights=None, weights_backbone=None, box_score_thresh=0,
                                                  min_size=224, max_size=224).eval()
dx = torch.rand(1, 3, 224, 224)
"""

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def lab(lab_server, browser, artifacts):
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    page.goto(lab_server.page_url("lab/workspaces/cnnvis-extras"))
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.commands.hasCommand('cnnvis:open')",
                           timeout=TIMEOUT_MS)
    page.evaluate("async () => { await window.jupyterapp.restored; await window.jupyterapp.commands.execute('cnnvis:open'); }")
    page.wait_for_selector(f"{SIDEBAR} .cv-panel-app", state="visible", timeout=TIMEOUT_MS)
    started = []
    for path, code in (("detector.ipynb", DETECTOR_CELL), ("small.ipynb", TORCH_CELL)):
        reply = page.evaluate(START_KERNEL_JS, [path, code])
        assert reply["status"] == "ok", reply["error"]
        started.append(reply["kernel"])
    yield page
    page.screenshot(path=str(artifacts / "lab-explain-extras.png"))
    for kernel in started:
        page.evaluate("(id) => window.jupyterapp.serviceManager.kernels.shutdown(id)", kernel)
    context.close()


def cam_data(page) -> str:
    return page.eval_on_selector(f"{EXPLAIN} canvas.cv-cam", "(c) => c.toDataURL()")


def test_picking_a_detected_box_changes_the_map(lab, artifacts):
    attach_kernel_model(lab, SIDEBAR, "detector.ipynb", "det", "dx")
    lab.wait_for_selector(f"{explain_of('det')}[data-state=ready]", timeout=TIMEOUT_MS)
    options = lab.eval_on_selector_all(f"{EXPLAIN} .cv-target option", "os => os.map(o => o.value)")
    assert options[0] == "" and options[1:4] == ["box:0", "box:1", "box:2"], options
    assert "Explaining box 0" in lab.inner_text(f"{EXPLAIN} .cv-topk")
    lab.uncheck(f"{EXPLAIN} .cv-boxes")  # compare the maps alone, without the drawn boxes
    before = cam_data(lab)
    lab.select_option(f"{EXPLAIN} .cv-target", "box:5")
    lab.wait_for_function(f"""() => document.querySelector('{EXPLAIN}').dataset.state === 'ready'
        && document.querySelector('{EXPLAIN} .cv-topk').textContent.includes('box 5')""", timeout=TIMEOUT_MS)
    assert cam_data(lab) != before
    lab.check(f"{EXPLAIN} .cv-boxes")
    lab.locator(EXPLAIN).screenshot(path=str(artifacts / "lab-explain-detection.png"))


def test_evidence_on_demand(lab, artifacts):
    attach_kernel_model(lab, SIDEBAR, "small.ipynb", "net", "x")
    lab.wait_for_selector(f"{explain_of('net')}[data-state=ready]", timeout=TIMEOUT_MS)
    lab.click(f"{EXPLAIN} .cv-evidence-run")
    lab.wait_for_selector(f"{EXPLAIN} .cv-evidence:is([data-state=ready], [data-state=error])", timeout=TIMEOUT_MS)
    assert lab.get_attribute(f"{EXPLAIN} .cv-evidence", "data-state") == "ready", lab.inner_text(f"{EXPLAIN} .cv-evidence")
    assert lab.get_attribute(f"{EXPLAIN} .cv-sanity", "data-passed") in ("true", "false")
    assert lab.locator(f"{EXPLAIN} .cv-sanity-stages tbody tr").count() == 4  # original + 3 layers
    auc = lab.inner_text(f"{EXPLAIN} .cv-auc")
    assert "deletion AUC" in auc and "insertion AUC" in auc
    assert lab.locator(f"{EXPLAIN} svg.cv-curves path[data-metric]").count() == 2
    lab.locator(EXPLAIN).screenshot(path=str(artifacts / "lab-explain-evidence.png"))
