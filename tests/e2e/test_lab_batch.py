"""The Batch results source in the JupyterLab sidebar, in Debian Chromium: a real `cnnvis.batch`
run under the lab's root opened with the file browser's "Open in CNN Vis", drawn as one gallery
per class, worst deletion AUC first; then the same folder from the source's own form, one class."""

from __future__ import annotations

import pytest

from .panel_flows import TIMEOUT_MS, sidebar_page

SIDEBAR = "#cnnvis-sidebar"
VIEW = f"{SIDEBAR} .cv-batch"

pytestmark = pytest.mark.timeout(300)

# Every tile's AUC per class, and whether its thumbnail has decoded (a drawn gallery, not just markup).
GALLERY_JS = """(view) => [...document.querySelectorAll(`${view} .cv-batch-group`)].map((g) => ({
  cls: g.dataset.class,
  aucs: [...g.querySelectorAll('.cv-batch-tile')].map((t) => Number(t.dataset.metric)),
  drawn: [...g.querySelectorAll('.cv-batch-tile img')].every((i) => i.complete && i.naturalWidth > 0),
}))"""


@pytest.fixture(scope="module")
def batch_folder(lab_server):
    pytest.importorskip("pyarrow")
    from batch_run import make_batch_run

    (lab_server.root / "batchrun").mkdir(exist_ok=True)
    make_batch_run(lab_server.root / "batchrun")
    return "batchrun/results"


def test_open_in_cnnvis_shows_the_gallery_worst_first(lab_server, browser, artifacts, batch_folder):
    with sidebar_page(browser, lab_server.page_url("lab/tree/batchrun")) as page:
        page.evaluate("() => window.jupyterapp.commands.execute('filebrowser:activate')")
        item = page.locator(".jp-DirListing-item", has=page.get_by_text("results", exact=True))
        item.click(button="right")
        page.click('.lm-Menu-item[data-command="cnnvis:open-file"]')
        page.wait_for_selector(f'{VIEW}[data-state="ready"] .cv-batch-tile img', timeout=TIMEOUT_MS)
        page.wait_for_function(f"() => ({GALLERY_JS})('{VIEW}').every((g) => g.drawn)", timeout=TIMEOUT_MS)
        groups = page.evaluate(GALLERY_JS, VIEW)
        assert [g["cls"] for g in groups] == ["0", "1"]
        for group in groups:
            assert group["aucs"] and group["aucs"] == sorted(group["aucs"], reverse=True), group
        assert page.input_value(f"{SIDEBAR} .cv-batch-path") == batch_folder
        assert "highest first" in page.inner_text(f"{VIEW} .cv-batch-order")
        page.locator(SIDEBAR).screenshot(path=str(artifacts / "lab-sidebar-batch.png"))

        # The picker narrows the gallery to one class, still worst first.
        page.select_option(f"{VIEW} .cv-batch-class", "1")
        page.wait_for_function(f"() => document.querySelector('{VIEW}').dataset.groups === '1'", timeout=TIMEOUT_MS)
        (only,) = page.evaluate(GALLERY_JS, VIEW)
        assert only["cls"] == "1" and only["aucs"] == sorted(only["aucs"], reverse=True)


def test_batch_form_reports_a_folder_without_results(lab_server, browser, batch_folder):
    with sidebar_page(browser, lab_server.page_url("lab"), 1400, 900) as page:
        page.click(f'{SIDEBAR} .cv-sources button[data-source="batch"]')
        page.fill(f"{SIDEBAR} .cv-batch-path", "batchrun")
        page.click(f'{SIDEBAR} form[data-source="batch"] button[type=submit]')
        page.wait_for_selector(f"{SIDEBAR} .cv-panel-status.cv-error", timeout=TIMEOUT_MS)
        assert "results.parquet" in page.inner_text(f"{SIDEBAR} .cv-panel-status")
