"""The training view and the layer stack in a real JupyterLab in Debian Chromium.

A logdir (runs `train` and `validation`, tags `loss` and `accuracy`) is written before the
notebook runs; a background writer then appends points while the page is watched, and every
appended point must reach the chart exactly once, in order. A planted NaN must become a marker.
"""

from __future__ import annotations

import threading
import time

import nbformat
import numpy as np
import pytest

from cnnvis.scalars import EventWriter

from .notebooks import MODEL_CELL
from .test_widget_lab import TIMEOUT_MS, canvas_pixels, run_all

pytestmark = pytest.mark.timeout(300)

TRAIN = ".jp-OutputArea-output .cnnvis .cv-training"
NAN_STEP = 25
FIRST, LAST = 10, 40  # steps already written / written while the page watches

# The chart's raw series (one per run) read back from ECharts' own option: what is drawn.
SERIES_JS = """(tag) => {
  const box = document.querySelector(`.cv-chart[data-tag="${tag}"] .cv-chart-canvas`);
  if (!box || !box.cnnvisChart) return null;
  const out = {};
  for (const s of box.cnnvisChart.getOption().series) {
    if (String(s.id).startsWith('raw:')) out[String(s.id).slice(4)] = {
      steps: s.data.map((d) => d[0]),
      marks: ((s.markPoint && s.markPoint.data) || []).map((m) => ({name: m.name, message: m.message, x: m.coord[0]})),
    };
  }
  return out;
}"""


def _notebook(path, cells):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def _open(browser, lab_server, name):
    context = browser.new_context(viewport={"width": 1400, "height": 1200}, accept_downloads=True)
    page = context.new_page()
    # A workspace of its own: the default one would also restore the other tests' notebooks.
    page.goto(lab_server.page_url(f"lab/workspaces/{name.split('.')[0]}/tree/{name}"))
    run_all(page)
    return context, page


@pytest.fixture(scope="module")
def logdir(lab_server):
    root = lab_server.root / "runs_live"
    rng = np.random.default_rng(0)
    for run, scale in (("train", 1.0), ("validation", 1.2)):
        with EventWriter(root / run) as w:
            for step in range(FIRST):
                w.add_scalar("loss", scale / (1 + step), step)
                w.add_scalar("accuracy", 1 - scale / (2 + step), step)
            if run == "train":
                for step in range(3):
                    w.add_histogram("weights/fc", rng.normal(step, 1, 400), step)
                    w.add_image("snapshot", np.full((8, 8, 3), 60 * step, np.uint8), step)
    return root


@pytest.fixture(scope="module")
def training_page(lab_server, browser, logdir, artifacts):
    path = _notebook(lab_server.root / "training_view.ipynb", ["%load_ext cnnvis\n%cnnvis --logdir runs_live"])
    context, page = _open(browser, lab_server, path.name)
    page.wait_for_selector(f"{TRAIN}[data-state=ready]", timeout=TIMEOUT_MS)
    yield page
    page.screenshot(path=str(artifacts / "lab-training.png"))
    context.close()


def _wait_series(page, tag, predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        series = page.evaluate(SERIES_JS, tag)
        if series and predicate(series):
            return series
        time.sleep(0.2)
    raise AssertionError(f"{tag}: condition not met; last {page.evaluate(SERIES_JS, tag)}")


def test_one_chart_per_tag_one_series_per_run(training_page):
    tags = training_page.eval_on_selector_all(".cv-chart", "els => els.map(e => e.dataset.tag)")
    assert tags == ["accuracy", "loss"]
    for tag in tags:
        series = _wait_series(training_page, tag, lambda s: set(s) == {"train", "validation"})
        assert series["train"]["steps"] == list(range(FIRST))
        assert series["validation"]["steps"] == list(range(FIRST))
    assert training_page.locator(".cv-chart[data-finished]").count() == 2


def test_live_points_arrive_once_in_order_and_nan_is_marked(training_page, logdir, artifacts):
    def write():
        with EventWriter(logdir / "train", filename_suffix=".live") as w:
            for step in range(FIRST, LAST):
                w.add_scalar("loss", float("nan") if step == NAN_STEP else 1 / (1 + step), step)
                w.flush()  # one point at a time: the view must see it grow
                time.sleep(0.06)

    writer = threading.Thread(target=write)
    lengths = set()
    writer.start()
    while writer.is_alive():
        series = training_page.evaluate(SERIES_JS, "loss")
        lengths.add(len(series["train"]["steps"]))
        time.sleep(0.25)
    writer.join()
    series = _wait_series(training_page, "loss", lambda s: len(s["train"]["steps"]) >= LAST)
    time.sleep(1.5)  # another poll or two: nothing may arrive twice
    series = training_page.evaluate(SERIES_JS, "loss")
    assert series["train"]["steps"] == list(range(LAST))
    assert series["validation"]["steps"] == list(range(FIRST))
    assert len(lengths | {LAST}) >= 3, f"the chart did not grow while training ran: {sorted(lengths)}"
    series = _wait_series(training_page, "loss", lambda s: any(m["name"] == "nan" for m in s["train"]["marks"]))
    (mark,) = [m for m in series["train"]["marks"] if m["name"] == "nan"]
    assert mark["x"] == NAN_STEP and "nan" in mark["message"].lower()
    # Hovering the marker shows the alert's message.
    x, y = training_page.evaluate("""() => {
      const box = document.querySelector('.cv-chart[data-tag="loss"] .cv-chart-canvas');
      const chart = box.cnnvisChart, s = chart.getOption().series.find((s) => s.id === 'raw:train');
      const m = s.markPoint.data.find((m) => m.name === 'nan');
      const [px, py] = chart.convertToPixel({seriesId: 'raw:train'}, m.coord), r = box.getBoundingClientRect();
      return [r.left + px, r.top + py];
    }""")
    training_page.mouse.move(x, y - 22)
    training_page.wait_for_function("""() => [...document.querySelectorAll('.cv-chart[data-tag="loss"] .cv-chart-canvas div')]
      .some((d) => d.style.display !== 'none' && /NaN value/.test(d.textContent))""", timeout=10_000)
    alert = training_page.locator('.cv-chart[data-tag="loss"] .cv-alert[data-kind="nan"]')
    assert alert.count() == 1 and "train" in alert.inner_text()
    training_page.locator('.cv-chart[data-tag="loss"]').screenshot(path=str(artifacts / "lab-training-nan.png"))


def test_filters_smoothing_axes_and_export(training_page):
    chart = '.cv-chart[data-tag="loss"]'
    training_page.fill(f"{TRAIN} .cv-run-filter", "^val")
    series = _wait_series(training_page, "loss", lambda s: set(s) == {"validation"})
    assert series["validation"]["steps"] == list(range(FIRST))
    training_page.fill(f"{TRAIN} .cv-run-filter", "")
    training_page.fill(f"{TRAIN} .cv-tag-filter", "acc")
    training_page.wait_for_selector(f"{chart}[hidden]", state="attached", timeout=10_000)
    training_page.fill(f"{TRAIN} .cv-tag-filter", "")
    training_page.select_option(f"{TRAIN} .cv-xaxis", "relative")
    series = _wait_series(training_page, "loss", lambda s: s["train"]["steps"][0] == 0 and s["train"]["steps"][1] != 1)
    training_page.select_option(f"{TRAIN} .cv-xaxis", "step")
    training_page.check(f"{TRAIN} .cv-logy")
    with training_page.expect_download() as csv:
        training_page.click(f"{chart} .cv-export-csv")
    text = open(csv.value.path()).read()
    assert text.splitlines()[0].startswith("run,step,wall_time,value")
    assert sum(line.startswith("train,") for line in text.splitlines()) == LAST
    with training_page.expect_download() as png:
        training_page.click(f"{chart} .cv-export-png")
    assert open(png.value.path(), "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    training_page.uncheck(f"{TRAIN} .cv-logy")


def test_histograms_and_images_tabs(training_page):
    training_page.click(".cv-training-tabs button[data-tab=histograms]")
    training_page.wait_for_selector(".cv-histograms[data-state=ready]", timeout=TIMEOUT_MS)
    assert training_page.get_attribute(".cv-histograms", "data-steps") == "3"
    assert canvas_pixels(training_page, ".cv-hist-canvas")["opaque"] > 1000
    training_page.click(".cv-training-tabs button[data-tab=images]")
    training_page.wait_for_selector(".cv-images[data-state=ready]", timeout=TIMEOUT_MS)
    card = training_page.locator('.cv-image-card[data-tag="snapshot"]')
    assert card.get_attribute("data-step") == "2"
    card.locator("input[type=range]").fill("0")
    assert card.get_attribute("data-step") == "0"
    training_page.click(".cv-training-tabs button[data-tab=scalars]")


@pytest.fixture(scope="module")
def model_page(lab_server, browser, artifacts):
    path = _notebook(lab_server.root / "stack_view.ipynb", [MODEL_CELL, "%load_ext cnnvis\n%cnnvis model --input x"])
    context, page = _open(browser, lab_server, path.name)
    try:
        page.wait_for_selector(".jp-OutputArea-output .cnnvis g.node", timeout=TIMEOUT_MS)
    except Exception:
        page.screenshot(path=str(artifacts / "lab-stack3d-failed.png"))
        raise
    yield page
    page.screenshot(path=str(artifacts / "lab-stack3d.png"))
    context.close()


def test_layer_stack_rotates_and_links_channels(model_page):
    page = model_page
    page.click('.cnnvis g.node[data-id="features"]')
    page.wait_for_selector('.cnnvis g.node[data-id="features.2"]', timeout=10_000)
    page.click('.cnnvis g.node[data-id="features.2"]')
    page.wait_for_selector(".cv-activations[data-state=ready]", timeout=TIMEOUT_MS)
    page.wait_for_selector(".cv-stack3d[data-state=ready]", timeout=TIMEOUT_MS)
    layers = page.get_attribute(".cv-stack3d", "data-layers").split(",")
    assert {"features.0", "features.1", "features.2", "features.3"} <= set(layers)
    canvas = ".cv-stack3d canvas"
    page.locator(canvas).scroll_into_view_if_needed()
    before = canvas_pixels(page, canvas)
    assert before["opaque"] > 1000 and before["distinct"] > 8
    box = page.locator(canvas).bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 60, cy + 20, steps=5)
    page.mouse.move(cx + 120, cy + 30, steps=5)
    page.mouse.up()
    after = canvas_pixels(page, canvas)
    assert after["checksum"] != before["checksum"]

    # A channel picked in the stack is outlined in the activations grid (its layer is loaded).
    page.mouse.click(cx, cy)
    page.wait_for_function("() => document.querySelector('.cv-stack3d').dataset.picked", timeout=10_000)
    layer, channel = page.get_attribute(".cv-stack3d", "data-picked").rsplit(":", 1)
    page.wait_for_function(f"() => document.querySelector('.cv-activations').dataset.highlight === '{channel}'",
                           timeout=TIMEOUT_MS)
    assert page.inner_text(".cv-activations .cv-layer").startswith(layer)

    # And the other way: a channel clicked in the grid is picked in the stack.
    grid = page.locator(".cv-activations canvas.cv-grid")
    grid.click(position={"x": 5, "y": 5})  # the first tile (channel order is "channel")
    page.wait_for_function(f"() => document.querySelector('.cv-stack3d').dataset.picked === '{layer}:0'",
                           timeout=10_000)
    assert page.get_attribute(".cv-activations", "data-highlight") == "0"
