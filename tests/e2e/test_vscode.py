"""The VS Code extension in a real VS Code (code-server) in Debian Chromium: the CNN Vis view from
the activity bar, connected to a real Jupyter server through the command's input boxes, shows the
demo logdir's charts, model.pt2's graph and CAM, and a torch model living in one of that server's
kernels; a wrong token is reported in the view. (Attaching to a VS Code notebook's own kernel needs
the Jupyter extension, which code-server cannot install here: tests/test_vscode_kernel.py and the
extension's unit tests cover that path.)"""

from __future__ import annotations

import json
import urllib.request

import pytest
from jupyter_client import BlockingKernelClient

from .code_server import missing, start_code_server
from .panel_flows import (
    TIMEOUT_MS,
    TORCH_CELL,
    attach_kernel_model,
    demo_tags,
    open_model_file,
    show_logdir,
    wait_for_graph_and_cam,
)

ROOT = "#cnnvis-root"

pytestmark = [pytest.mark.timeout(600), pytest.mark.skipif(missing() is not None, reason=str(missing()))]


@pytest.fixture(scope="module")
def code_server(tmp_path_factory, artifacts):
    folder = tmp_path_factory.mktemp("vscode-folder")
    server = start_code_server(tmp_path_factory.mktemp("vscode-home"), folder)
    try:
        yield server, folder
    finally:
        server.stop()
        (artifacts / "code-server.log").write_text(server.log.read_text())


@pytest.fixture(scope="module")
def workbench(code_server, browser, artifacts):
    server, folder = code_server
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    page = context.new_page()
    page.goto(f"{server.url}?folder={folder}")
    page.wait_for_selector(".monaco-workbench .part.activitybar", timeout=TIMEOUT_MS)
    yield page
    page.screenshot(path=str(artifacts / "vscode-workbench.png"))
    context.close()


def panel_frame(page):
    """The webview frame that holds the panel (VS Code nests it in two iframes)."""
    deadline = TIMEOUT_MS / 250
    for _ in range(int(deadline)):
        for frame in page.frames:
            try:
                if frame.query_selector(f"{ROOT} .cv-panel-app"):
                    return frame
            except Exception:  # a frame navigating away while looked at
                continue
        page.wait_for_timeout(250)
    raise AssertionError("the CNN Vis webview never showed the panel")


def run_command(page, title: str, answers: list[str]) -> None:
    """Runs a command from the Command Palette and answers its input boxes in turn."""
    page.keyboard.press("F1")
    box = page.locator(".quick-input-widget input")
    box.wait_for(state="visible", timeout=10_000)
    box.fill(f">{title}")
    page.locator(".quick-input-list .monaco-list-row", has_text=title).first.wait_for(timeout=10_000)
    page.keyboard.press("Enter")
    for answer in answers:
        page.wait_for_timeout(300)  # the next input box replaces the previous one
        box.wait_for(state="visible", timeout=10_000)
        box.fill(answer)
        page.keyboard.press("Enter")


def start_torch_kernel(lab_server) -> str:
    """A notebook session on the server whose kernel defined `net` and `x` (TORCH_CELL)."""
    body = json.dumps({"path": "torch_model.ipynb", "name": "torch_model.ipynb", "type": "notebook",
                       "kernel": {"name": "python3"}}).encode()
    request = urllib.request.Request(f"{lab_server.url}api/sessions", data=body, method="POST",
                                     headers={"Authorization": f"token {lab_server.token}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        kernel_id = json.load(response)["kernel"]["id"]
    client = BlockingKernelClient()
    client.load_connection_file(str(lab_server.log.parent / "runtime" / f"kernel-{kernel_id}.json"))
    # No heartbeat channel: a client without a manager would read its first silent tick as a dead kernel.
    client.start_channels(hb=False)
    try:
        client.wait_for_ready(timeout=60)
        reply = client.execute_interactive(TORCH_CELL, timeout=120)
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        client.stop_channels()
    return kernel_id


def test_view_opens_from_the_activity_bar(workbench, artifacts):
    workbench.locator('.part.activitybar [aria-label^="CNN Vis"]').first.click()
    frame = panel_frame(workbench)
    # Before any server: the kernel source is still offered, file sources say how to connect.
    sources = frame.eval_on_selector_all(f"{ROOT} .cv-sources button", "bs => bs.map(b => b.dataset.source)")
    assert {"logdir", "file", "kernel", "devices"} <= set(sources), sources
    workbench.screenshot(path=str(artifacts / "vscode-view.png"))


def test_a_wrong_token_is_reported_in_the_view(workbench, lab_server):
    run_command(workbench, "CNN Vis: Connect to Jupyter Server", [lab_server.url, "not-the-token"])
    frame = panel_frame(workbench)
    frame.wait_for_selector(".cv-vscode-notice.cv-error", timeout=TIMEOUT_MS)
    assert "refused the token" in frame.inner_text(".cv-vscode-notice")
    show_logdir_attempt = frame.locator(f"{ROOT} .cv-panel-status")
    frame.click(f'{ROOT} .cv-sources button[data-source="logdir"]')
    frame.fill(f"{ROOT} .cv-logdir-path", "demo/runs")
    frame.click(f'{ROOT} form[data-source="logdir"] button[type=submit]')
    frame.wait_for_selector(f"{ROOT} .cv-panel-status.cv-error", timeout=TIMEOUT_MS)
    assert "Connect to Jupyter Server" in show_logdir_attempt.inner_text()


def test_connected_view_shows_runs_model_and_kernel(workbench, lab_server, demo_folder, artifacts):
    kernel = start_torch_kernel(lab_server)
    run_command(workbench, "CNN Vis: Connect to Jupyter Server", [lab_server.url, lab_server.token])
    frame = panel_frame(workbench)
    frame.wait_for_function("(url) => document.body.dataset.server === url", arg=lab_server.url, timeout=TIMEOUT_MS)
    frame.wait_for_selector(".cv-vscode-notice:not(.cv-error):has-text('Connected to')", timeout=TIMEOUT_MS)

    show_logdir(frame, ROOT, "demo/runs", demo_tags(demo_folder))
    workbench.screenshot(path=str(artifacts / "vscode-runs.png"))

    open_model_file(frame, ROOT, "demo/model.pt2", "demo/samples.npz")
    wait_for_graph_and_cam(frame, ROOT, "model.pt2")
    workbench.screenshot(path=str(artifacts / "vscode-model.png"))

    attach_kernel_model(frame, ROOT, "torch_model.ipynb", "net", "x")
    wait_for_graph_and_cam(frame, ROOT, "net")
    assert frame.eval_on_selector(f"{ROOT} .cv-kernel", "s => s.value") == f"server:{kernel}"
    workbench.screenshot(path=str(artifacts / "vscode-kernel.png"))
