"""Training charts in the sidebar as people read them (real JupyterLab + Chromium, default width):
grouped by tag prefix with loss/accuracy first and groups collapsible, a run list that switches runs
off, tooltips listing each run once with at most 5 significant digits, tiny values not cut to their
trailing digits, and the mouse wheel scrolling the panel until a chart is clicked."""

from __future__ import annotations

import re

import pytest

from cnnvis.scalars import EventWriter

from .panel_flows import TIMEOUT_MS, sidebar_page, wait_for_charts

pytestmark = pytest.mark.timeout(300)

SIDEBAR = "#cnnvis-sidebar"
GRAD_TAGS = [f"grad_norm/layer{i:02}" for i in range(6)]
TAGS = {"loss", "accuracy", "tiny", *GRAD_TAGS}

OPTION_JS = """(tag) => {
  const box = [...document.querySelectorAll('#cnnvis-sidebar .cv-chart')].find((e) => e.dataset.tag === tag);
  const o = box.querySelector('.cv-chart-canvas').cnnvisChart.getOption();
  return {series: o.series.map((s) => s.id), zoom: [o.dataZoom[0].start, o.dataZoom[0].end],
          tinyLabel: o.yAxis[0].axisLabel.formatter(4.5e-7), bigLabel: o.yAxis[0].axisLabel.formatter(1234567)};
}"""

SCROLL_JS = """() => { const s = document.querySelector('#cnnvis-sidebar'); const a = s.querySelector('.cv-panel-app');
  return s.scrollTop + a.scrollTop; }"""


@pytest.fixture(scope="module")
def logdir(lab_server):
    root = lab_server.root / "layout_runs"
    for run, scale in (("train", 1.0), ("validation", 1.3)):
        with EventWriter(root / run) as w:
            for step in range(40):
                w.add_scalar("loss", scale / (3 + step) + 1e-9 * step, step)
                w.add_scalar("accuracy", 1 - scale / (3 + step), step)
                w.add_scalar("tiny", 4.5e-7 * scale * (1 + step / 40), step)
                for tag in GRAD_TAGS:
                    w.add_scalar(tag, 0.1 * scale, step)
    return "layout_runs"


def _open(page, logdir):
    page.click(f'{SIDEBAR} .cv-sources button[data-source="logdir"]')
    page.fill(f"{SIDEBAR} .cv-logdir-path", logdir)
    page.click(f'{SIDEBAR} form[data-source="logdir"] button[type=submit]')
    wait_for_charts(page, SIDEBAR, TAGS)


def test_groups_run_list_tooltips_and_numbers(lab_server, browser, logdir, artifacts):
    with sidebar_page(browser, lab_server.page_url("lab")) as page:
        _open(page, logdir)
        order = page.eval_on_selector_all(f"{SIDEBAR} .cv-chart", "els => els.map((e) => e.dataset.tag)")
        assert order[:2] == ["accuracy", "loss"] and order[2] == "tiny" and order[3:] == GRAD_TAGS, order
        groups = page.eval_on_selector_all(f"{SIDEBAR} .cv-chart-group", "els => els.map((e) => e.dataset.group)")
        assert groups == ["", "grad_norm"]

        # Numbers by magnitude: a tiny value keeps its leading digits.
        option = page.evaluate(OPTION_JS, "tiny")
        assert option["tinyLabel"] == "4.5e-7" and option["bigLabel"] == "1.23M"

        # One tooltip line per run, values to at most 5 significant digits.
        chart = page.locator(f'{SIDEBAR} .cv-chart[data-tag="loss"] .cv-chart-canvas')
        chart.scroll_into_view_if_needed()
        box = chart.bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.5)
        page.wait_for_selector(f'{SIDEBAR} .cv-chart[data-tag="loss"] .cv-tip-row', timeout=10_000)
        rows = page.eval_on_selector_all(f'{SIDEBAR} .cv-chart[data-tag="loss"] .cv-tip-row', "els => els.map((e) => e.textContent)")
        assert sorted(r.split(" ")[0] for r in rows) == ["train", "validation"], rows
        for number in re.findall(r"\d[\d.e+-]*", " ".join(rows)):
            digits = re.sub(r"e.*$", "", number).replace(".", "").lstrip("0")
            assert len(digits) <= 5, (number, rows)

        # A run switched off in the run list leaves every chart.
        page.click(f'{SIDEBAR} .cv-run[data-run="validation"] input')
        page.wait_for_function("""() => !document.querySelector('#cnnvis-sidebar .cv-chart[data-tag="loss"] .cv-chart-canvas')
            .cnnvisChart.getOption().series.some((s) => String(s.id).includes('validation'))""", timeout=TIMEOUT_MS)
        assert page.is_visible(f'{SIDEBAR} .cv-run[data-run="validation"] .cv-swatch')

        # A group collapses and opens again.
        head = f'{SIDEBAR} .cv-chart-group[data-group="grad_norm"] .cv-group-head'
        page.click(head)
        assert not page.is_visible(f'{SIDEBAR} .cv-chart[data-tag="{GRAD_TAGS[0]}"]')
        page.locator(SIDEBAR).screenshot(path=str(artifacts / "lab-training-groups.png"))
        page.click(head)
        assert page.is_visible(f'{SIDEBAR} .cv-chart[data-tag="{GRAD_TAGS[0]}"]')


def test_wheel_scrolls_the_panel_until_a_chart_has_focus(lab_server, browser, logdir):
    with sidebar_page(browser, lab_server.page_url("lab")) as page:
        _open(page, logdir)
        chart = page.locator(f'{SIDEBAR} .cv-chart[data-tag="loss"] .cv-chart-canvas')
        chart.scroll_into_view_if_needed()
        box = chart.bounding_box()
        before = page.evaluate(SCROLL_JS)
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.wheel(0, 200)
        page.wait_for_function(f"(n) => ({SCROLL_JS})() > n", arg=before, timeout=10_000)
        assert page.evaluate(OPTION_JS, "loss")["zoom"] == [0, 100]

        box = chart.bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        assert page.evaluate("() => document.activeElement.classList.contains('cv-chart-canvas')")
        scrolled = page.evaluate(SCROLL_JS)
        page.mouse.wheel(0, -300)
        page.wait_for_function("""() => { const o = [...document.querySelectorAll('#cnnvis-sidebar .cv-chart')]
            .find((e) => e.dataset.tag === 'loss').querySelector('.cv-chart-canvas').cnnvisChart.getOption().dataZoom[0];
            return o.start > 0 || o.end < 100; }""", timeout=10_000)
        assert page.evaluate(SCROLL_JS) == scrolled
