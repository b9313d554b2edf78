"""The CNN Vis sidebar in a real JupyterLab, and the same application as the full page
(`{base_url}cnnvis/`), in Debian Chromium: the demo logdir's charts, a model file's graph and CAM
from the file browser's "Open in CNN Vis", and models living in running torch and Keras kernels."""

from __future__ import annotations

import pytest

from .panel_flows import (
    KERAS_CELL,
    START_KERNEL_JS,
    TIMEOUT_MS,
    TORCH_CELL,
    attach_kernel_model,
    demo_tags,
    open_model_file,
    show_logdir,
    wait_for_graph_and_cam,
)

SIDEBAR = "#cnnvis-sidebar"
PAGE = "#cnnvis-root"

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def lab(lab_server, demo_folder, browser, artifacts):
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    page.goto(lab_server.page_url("lab/workspaces/cnnvis-panel/tree/demo"))
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.commands.hasCommand('cnnvis:open')",
                           timeout=TIMEOUT_MS)
    page.evaluate("async () => { await window.jupyterapp.restored; }")  # every plugin's commands exist
    yield page
    page.screenshot(path=str(artifacts / "lab-panel.png"))
    context.close()


@pytest.fixture(scope="module")
def kernels(lab):
    """Two notebook kernels that defined models in a cell: torch (`net`, `x`) and Keras (`kmodel`, `kx`)."""
    started = {}
    for path, code in (("torch_model.ipynb", TORCH_CELL), ("keras_model.ipynb", KERAS_CELL)):
        reply = lab.evaluate(START_KERNEL_JS, [path, code])
        assert reply["status"] == "ok", reply["error"]
        started[path] = reply["kernel"]
    yield started
    for kernel in started.values():
        lab.evaluate("(id) => window.jupyterapp.serviceManager.kernels.shutdown(id)", kernel)


def test_palette_opens_the_sidebar_which_plots_the_demo_runs(lab, demo_folder, artifacts):
    lab.evaluate("async () => { await window.jupyterapp.restored; }")
    lab.click(".jp-DirListing-content")  # keyboard focus inside the application
    lab.keyboard.press("Control+Shift+C")
    lab.wait_for_selector(".lm-CommandPalette-input", state="visible", timeout=10_000)
    lab.fill(".lm-CommandPalette-input", "Open CNN Vis")
    lab.wait_for_selector('.lm-CommandPalette-item[data-command="cnnvis:open"]', timeout=10_000)
    lab.keyboard.press("Enter")
    lab.wait_for_selector(f"{SIDEBAR} .cv-panel-app", state="visible", timeout=TIMEOUT_MS)
    show_logdir(lab, SIDEBAR, "demo/runs", demo_tags(demo_folder))
    lab.locator(SIDEBAR).screenshot(path=str(artifacts / "lab-sidebar-runs.png"))


def test_launcher_has_an_item(lab):
    assert lab.evaluate("() => window.jupyterapp.commands.label('cnnvis:open')") == "Open CNN Vis"
    lab.evaluate("() => window.jupyterapp.commands.execute('launcher:create')")
    lab.wait_for_selector('.jp-LauncherCard:has-text("Open CNN Vis")', state="attached", timeout=TIMEOUT_MS)


def test_open_in_cnnvis_from_the_file_browser(lab, artifacts):
    lab.evaluate("() => window.jupyterapp.commands.execute('filebrowser:activate')")
    item = lab.locator(".jp-DirListing-item", has=lab.get_by_text("model.pt2", exact=True))
    item.click(button="right")
    lab.click('.lm-Menu-item[data-command="cnnvis:open-file"]')
    wait_for_graph_and_cam(lab, SIDEBAR, "model.pt2")
    # The inputs beside the model were picked up and said so.
    assert lab.input_value(f"{SIDEBAR} .cv-model-inputs") == "demo/samples.npz"
    lab.locator(SIDEBAR).screenshot(path=str(artifacts / "lab-sidebar-model.png"))


def test_open_in_cnnvis_is_offered_only_for_models_and_folders(lab):
    lab.evaluate("() => window.jupyterapp.commands.execute('filebrowser:activate')")
    item = lab.locator(".jp-DirListing-item", has=lab.get_by_text("demo.json", exact=True))
    item.click(button="right")
    lab.wait_for_selector(".lm-Menu", timeout=10_000)
    # Lumino keeps hidden items in the menu, marked lm-mod-hidden.
    assert lab.locator('.lm-Menu-item[data-command="cnnvis:open-file"]:not(.lm-mod-hidden)').count() == 0
    assert lab.locator('.lm-Menu-item[data-command="filebrowser:rename"]:not(.lm-mod-hidden)').count() == 1
    lab.keyboard.press("Escape")


def test_attach_to_a_torch_kernel(lab, kernels, artifacts):
    lab.evaluate("() => window.jupyterapp.shell.activateById('cnnvis-sidebar')")
    attach_kernel_model(lab, SIDEBAR, "torch_model.ipynb", "net", "x")
    wait_for_graph_and_cam(lab, SIDEBAR, "net")
    lab.locator(SIDEBAR).screenshot(path=str(artifacts / "lab-sidebar-kernel-torch.png"))


def test_attach_to_a_keras_kernel(lab, kernels, artifacts):
    attach_kernel_model(lab, SIDEBAR, "keras_model.ipynb", "kmodel", "kx")
    wait_for_graph_and_cam(lab, SIDEBAR, "kmodel")
    lab.locator(SIDEBAR).screenshot(path=str(artifacts / "lab-sidebar-kernel-keras.png"))


@pytest.fixture(scope="module")
def full_page(lab_server, demo_folder, browser, artifacts):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(lab_server.page_url("cnnvis/"))
    page.wait_for_selector(f"{PAGE} .cv-panel-app", timeout=TIMEOUT_MS)
    yield page
    page.screenshot(path=str(artifacts / "full-page.png"), full_page=True)
    context.close()


def test_full_page_plots_the_demo_runs(full_page, demo_folder):
    show_logdir(full_page, PAGE, "demo/runs", demo_tags(demo_folder))


def test_full_page_shows_a_model_file(full_page):
    open_model_file(full_page, PAGE, "demo/model.pt2", "demo/samples.npz")
    wait_for_graph_and_cam(full_page, PAGE, "model.pt2")


def test_full_page_attaches_to_torch_and_keras_kernels(full_page, kernels, artifacts):
    attach_kernel_model(full_page, PAGE, "torch_model.ipynb", "net", "x")
    wait_for_graph_and_cam(full_page, PAGE, "net")
    attach_kernel_model(full_page, PAGE, "keras_model.ipynb", "kmodel", "kx")
    wait_for_graph_and_cam(full_page, PAGE, "kmodel")


def test_a_bad_path_is_reported_in_the_panel(full_page):
    open_model_file(full_page, PAGE, "../outside.pt2")
    full_page.wait_for_selector(f"{PAGE} .cv-panel-status.cv-error", timeout=TIMEOUT_MS)
    assert "outside" in full_page.inner_text(f"{PAGE} .cv-panel-status")
