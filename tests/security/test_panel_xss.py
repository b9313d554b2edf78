"""Names from a TensorBoard logdir are attacker-controlled (a shared logdir, a downloaded run): in the
panel, in real JupyterLab + Chromium, they must show as inert text. Run and tag names carry
``<img onerror>`` and ``<script>`` payloads; a NaN in each payload run makes the health alerts fire,
so the alert markers (whose tooltips quote the names) are drawn. The mouse sweeps every chart of
the Training, Histograms and Images views; no payload may run and no payload element may exist.
The chart CSV export must not hand a spreadsheet a live formula either."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np
import pytest

from cnnvis.scalars import EventWriter
from cnnvis.testing import CHROMIUM, CHROMIUM_ARGS, start_lab

pytestmark = [pytest.mark.timeout(400), pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing: run `make chromium`")]
playwright = pytest.importorskip("playwright.sync_api")

from e2e.panel_flows import TIMEOUT_MS, sidebar_page  # noqa: E402

RUN_IMG = "<img src=x onerror=window.__pwned=(window.__pwned||0)+1>"
TAG_SCRIPT = "loss<script>window.__pwned=(window.__pwned||0)+100</script>"
TAG_IMG = '"><img src=x onerror="window.__pwned=(window.__pwned||0)+10000">'
RUN_FORMULA = '=HYPERLINK("x.invalid","x")'
ROOT = "#cnnvis-sidebar"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

PWNED_JS = """() => ({pwned: window.__pwned ?? null,
  imgs: document.querySelectorAll('img[src="x"]').length,
  scripts: [...document.querySelectorAll('script')].filter((s) => s.textContent.includes('__pwned')).length})"""

# Points of every visible chart canvas (charts, histogram canvas, image cards) to sweep, page coords
# after scrolling each into view is done by the caller; also each alert marker's pixel position.
MARKERS_JS = """(root) => [...document.querySelectorAll(`${root} .cv-chart`)].filter((el) => !el.hidden)
  .flatMap((el) => {
    const box = el.querySelector('.cv-chart-canvas');
    const chart = box.cnnvisChart;
    const out = [];
    chart.getOption().series.forEach((s, i) => {
      for (const m of (s.markPoint && s.markPoint.data) || []) {
        const p = chart.convertToPixel({seriesIndex: i}, m.coord);
        if (p) out.push({tag: el.dataset.tag, x: p[0], y: p[1]});
      }
    });
    return out;
  })"""


@pytest.fixture
def jp_asyncio_loop():
    """No pytest-jupyter loop here: Playwright's sync API runs its own loop on this thread, and the
    attack suite's autouse loop fixture would try to close it."""
    yield None


@pytest.fixture
def jp_server_cleanup():
    """No in-process Jupyter server to clean up: the lab here is a process of its own."""
    yield


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    server = start_lab(tmp_path_factory.mktemp("xss-root"), tmp_path_factory.mktemp("xss-home"))
    _write_logdir(server.root / "hostile")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _write_logdir(root) -> None:
    rng = np.random.default_rng(0)
    for run in (RUN_IMG, RUN_FORMULA, "plain"):
        with EventWriter(root / run) as w:
            for step in range(30):
                # NaNs over a span: a marker (first step) and a shaded area (the span) per payload tag.
                bad = run != "plain" and 12 <= step <= 15
                for tag in (TAG_SCRIPT, TAG_IMG, "accuracy"):
                    w.add_scalar(tag, float("nan") if bad and tag != "accuracy" else 1 / (1 + step), step)
            for step in range(3):
                w.add_histogram(TAG_IMG, rng.normal(step, 1, 200), step)
                w.add_image(TAG_SCRIPT, np.full((8, 8, 3), 80 * step, np.uint8), step)


def _sweep(page, selector: str, grid: int = 7) -> int:
    """Moves the mouse over a grid of points of every element matching ``selector``."""
    visited = 0
    for handle in page.query_selector_all(selector):
        if not handle.is_visible():
            continue
        handle.scroll_into_view_if_needed()
        box = handle.bounding_box()
        if not box or box["width"] < 2:
            continue
        for i in range(grid):
            for j in range(grid):
                page.mouse.move(box["x"] + box["width"] * (i + 0.5) / grid, box["y"] + box["height"] * (j + 0.5) / grid)
        visited += 1
    return visited


def _assert_inert(page) -> None:
    state = page.evaluate(PWNED_JS)
    assert state == {"pwned": None, "imgs": 0, "scripts": 0}, state


def test_hostile_names_stay_text_in_every_training_view(lab, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    with sidebar_page(browser, lab.page_url("lab"), width=1400) as page:
        page.context.set_default_timeout(TIMEOUT_MS)
        page.click(f'{ROOT} .cv-sources button[data-source="logdir"]')
        page.fill(f"{ROOT} .cv-logdir-path", "hostile")
        page.click(f'{ROOT} form[data-source="logdir"] button[type=submit]')
        page.wait_for_function("""(root) => document.querySelectorAll(`${root} .cv-chart .cv-chart-canvas canvas`).length === 3
            && [...document.querySelectorAll(`${root} .cv-chart`)].filter((c) => Number(c.dataset.alerts) > 0).length === 2""",
                               arg=ROOT)
        # The names are on the page, as text.
        runs = page.eval_on_selector_all(f"{ROOT} .cv-run", "els => els.map((e) => e.dataset.run)")
        assert set(runs) == {RUN_IMG, RUN_FORMULA, "plain"}
        assert TAG_SCRIPT in page.inner_text(f"{ROOT} .cv-training")
        # Alert markers: hover each one so its tooltip (which quotes the tag) shows.
        markers = page.evaluate(MARKERS_JS, ROOT)
        assert len(markers) >= 4, markers
        shown = []
        for m in markers:
            chart = page.locator(f"{ROOT} .cv-chart").filter(has=page.locator(".cv-chart-canvas")).nth(
                page.eval_on_selector_all(f"{ROOT} .cv-chart", "(els, t) => els.findIndex((e) => e.dataset.tag === t)", m["tag"]))
            chart.scroll_into_view_if_needed()
            box = chart.locator(".cv-chart-canvas").bounding_box()
            for dy in (0, -12, -20):
                page.mouse.move(box["x"] + m["x"], box["y"] + m["y"] + dy)
                page.wait_for_timeout(80)
                tip = page.evaluate("""(root) => [...document.querySelectorAll(`${root} .cv-chart-canvas > div`)]
                    .filter((d) => d.style.display !== 'none' && d.style.visibility !== 'hidden' && d.textContent)
                    .map((d) => d.textContent).join('|')""", ROOT)
                if "value(s) from step" in tip:
                    shown.append(tip)
                    break
        # At least one marker tooltip showed the hostile name, as literal text.
        assert any("<script>" in t or "<img src=x" in t for t in shown), shown
        _assert_inert(page)
        assert _sweep(page, f"{ROOT} .cv-chart-canvas") == 3
        _assert_inert(page)
        page.screenshot(path=str(ARTIFACTS / "security-xss-training.png"))

        # CSV export: the formula-shaped run name comes back as text, not a formula.
        chart = page.locator(f"{ROOT} .cv-chart").first
        with page.expect_download() as download:
            chart.locator(".cv-export-csv").click()
        rows = list(csv.reader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
        cells = {row[0] for row in rows[1:]}
        assert "'" + RUN_FORMULA in cells and RUN_FORMULA not in cells
        assert not any(c.startswith(("=", "+", "-", "@")) for row in rows for c in row[:1])

        page.click(f'{ROOT} .cv-training-tabs button[data-tab="histograms"]')
        page.wait_for_selector(f"{ROOT} .cv-histograms[data-state=ready]")
        options = page.eval_on_selector_all(f"{ROOT} .cv-hist-tag option", "els => els.map((o) => o.textContent)")
        assert any(TAG_IMG in o and RUN_IMG in o for o in options), options
        assert _sweep(page, f"{ROOT} .cv-hist-canvas") == 1
        _assert_inert(page)

        page.click(f'{ROOT} .cv-training-tabs button[data-tab="images"]')
        page.wait_for_selector(f"{ROOT} .cv-images[data-state=ready]")
        titles = page.eval_on_selector_all(f"{ROOT} .cv-image-card .cv-panel-title", "els => els.map((e) => e.textContent)")
        assert any(TAG_SCRIPT in t for t in titles), titles
        assert _sweep(page, f"{ROOT} .cv-image-card", grid=4) == 3
        _assert_inert(page)
        page.screenshot(path=str(ARTIFACTS / "security-xss-images.png"))
