"""Behind a prefix, as JupyterHub serves single-user servers (`--ServerApp.base_url=/user/alice/`):
the sidebar and the full page reach the API, the kernels and their assets under the prefix."""

from __future__ import annotations

import pytest

from cnnvis.testing import start_lab

from .panel_flows import (
    TIMEOUT_MS,
    demo_tags,
    open_model_file,
    show_logdir,
    sidebar_page,
    wait_for_charts,
    wait_for_graph_and_cam,
)

PREFIX = "/user/alice/"

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def prefixed(lab_server, demo_folder, tmp_path_factory):
    server = start_lab(lab_server.root, tmp_path_factory.mktemp("prefixed-home"), base_url=PREFIX)
    yield server
    server.stop()


def test_sidebar_behind_a_prefix(prefixed, demo_folder, browser, artifacts):
    assert prefixed.url.endswith(PREFIX)
    with sidebar_page(browser, prefixed.page_url("lab")) as page:
        show_logdir(page, "#cnnvis-sidebar", "demo/runs", demo_tags(demo_folder))
        open_model_file(page, "#cnnvis-sidebar", "demo/model.pt2", "demo/samples.npz")
        wait_for_graph_and_cam(page, "#cnnvis-sidebar", "model.pt2")
        page.locator("#cnnvis-sidebar").screenshot(path=str(artifacts / "prefix-sidebar.png"))


def test_full_page_behind_a_prefix(prefixed, demo_folder, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        page.goto(prefixed.page_url("cnnvis/") + "&logdir=demo/runs")
        page.wait_for_selector("#cnnvis-root .cv-panel-app", timeout=TIMEOUT_MS)
        assert page.evaluate("() => document.body.dataset.baseUrl") == PREFIX
        wait_for_charts(page, "#cnnvis-root", demo_tags(demo_folder))
    finally:
        context.close()
