"""The Explain view as pytorch-grad-cam draws it, in a real JupyterLab sidebar at its default width
in Chromium, on the demo's ``model.pt2``: a layer from the dropdown and an operation node of the
graph each give a CAM at that layer; a JPG picked from disk is explained, with the colour bar drawn
and the input visible under the map at the default opacity; evidence is disabled with its reason."""

from __future__ import annotations

import pytest

from .panel_flows import TIMEOUT_MS, open_model_file, sidebar_page, wait_for_graph_and_cam

SIDEBAR = "#cnnvis-sidebar"
CONTENT = f'{SIDEBAR} .cv-content[data-showing="model.pt2"]'
EXPLAIN = f"{CONTENT} .cv-explain"

pytestmark = pytest.mark.timeout(300)

# Pearson correlation of the luminance of two canvases of the same size.
CORRELATION_JS = """([a, b]) => {
  const lum = (sel) => { const c = document.querySelector(sel);
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; const out = [];
    for (let i = 0; i < d.length; i += 4) out.push(0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2]);
    return out; };
  const x = lum(a), y = lum(b), n = x.length;
  const mx = x.reduce((s, v) => s + v, 0) / n, my = y.reduce((s, v) => s + v, 0) / n;
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i++) { sxy += (x[i] - mx) * (y[i] - my); sxx += (x[i] - mx) ** 2; syy += (y[i] - my) ** 2; }
  return sxy / Math.sqrt(sxx * syy);
}"""

COLORBAR_JS = """(c) => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const seen = new Set(); for (let i = 0; i < d.length; i += 4) seen.add(d[i] << 16 | d[i + 1] << 8 | d[i + 2]);
  return {height: c.getBoundingClientRect().height, distinct: seen.size}; }"""


def wait_for_layer(page, layer: str) -> None:
    page.wait_for_function("""([sel, layer]) => { const e = document.querySelector(sel);
        return e && e.dataset.state === 'ready' && e.querySelector('.cv-layer-info').textContent.endsWith(': ' + layer)
          && e.querySelector('.cv-panel-title').textContent.endsWith(' · ' + layer); }""",
                           arg=[EXPLAIN, layer], timeout=TIMEOUT_MS)


def write_jpg(path) -> None:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (96, 96), "black")
    ImageDraw.Draw(image).ellipse((20, 12, 76, 84), outline="white", width=12)  # a hand-drawn zero
    image.save(path, "JPEG", quality=90)


@pytest.fixture(scope="module")
def page(lab_server, demo_folder, browser, artifacts):
    with sidebar_page(browser, lab_server.page_url("lab/workspaces/cnnvis-explain-view")) as p:
        open_model_file(p, SIDEBAR, "demo/model.pt2", "demo/samples.npz")
        wait_for_graph_and_cam(p, SIDEBAR, "model.pt2")
        yield p
        p.screenshot(path=str(artifacts / "lab-explain-view.png"))


def test_compare_boxes_stay_beside_their_method_at_sidebar_width(page):
    rows = page.eval_on_selector_all(f"{EXPLAIN} .cv-compare label", """ls => ls.map((l) => {
        const box = l.querySelector('input').getBoundingClientRect(), r = l.getBoundingClientRect();
        return {height: r.height, inside: box.top >= r.top - 1 && box.bottom <= r.bottom + 1}; })""")
    assert len(rows) >= 4
    assert all(r["inside"] and r["height"] < 30 for r in rows), rows  # one line each, box with its name


def test_dropdown_lists_every_addressable_layer_and_sets_the_cam_layer(page):
    layers = page.eval_on_selector_all(f"{EXPLAIN} .cv-layer option", "os => os.map(o => o.value)")
    assert {"stem.0", "features.0", "features.4", "features.6", "pool"} <= set(layers)
    assert "classifier" not in layers and "conv2d_2" not in layers  # no 4-D output; an fx op name
    page.select_option(f"{EXPLAIN} .cv-layer", "stem.0")
    wait_for_layer(page, "stem.0")
    assert page.inner_text(f"{EXPLAIN} .cv-device-info") == "· computed on cpu"  # where the maps were made


def test_an_operation_node_gives_a_cam_at_its_module(page, artifacts):
    page.select_option(f"{EXPLAIN} .cv-layer", "stem.0")
    wait_for_layer(page, "stem.0")
    for group in ("features", "features.4"):  # a module click expands it
        page.click(f'{CONTENT} g.node[data-id="{group}"]')
        page.wait_for_selector(f'{CONTENT} g.cluster[data-id="{group}"]', timeout=10_000)
    page.click(f'{CONTENT} g.node[data-id="conv2d_2"]')  # the fx op inside features.4
    wait_for_layer(page, "features.4")
    assert page.input_value(f"{EXPLAIN} .cv-layer") == "features.4"
    assert page.is_hidden(f"{EXPLAIN} .cv-error")
    page.locator(SIDEBAR).screenshot(path=str(artifacts / "lab-explain-pt2-op-layer.png"))


def test_a_jpg_from_disk_is_explained_with_colour_bar_and_visible_input(page, tmp_path, artifacts):
    jpg = tmp_path / "zero.jpg"
    write_jpg(jpg)
    page.click(f"{CONTENT} .cv-tabs button[data-tab=explain]")  # the node click showed its activations
    assert float(page.input_value(f"{EXPLAIN} .cv-alpha")) < 0.5  # the default lets the input through
    page.set_input_files(f"{EXPLAIN} .cv-image-file", str(jpg))
    page.wait_for_function("""(sel) => { const e = document.querySelector(sel);
        return e.dataset.state === 'ready' && e.querySelector('.cv-input').value === 'upload'; }""",
                           arg=EXPLAIN, timeout=TIMEOUT_MS)
    assert "zero.jpg" in page.inner_text(f"{EXPLAIN} .cv-input")
    bar = page.eval_on_selector(f"{EXPLAIN} canvas.cv-colorbar", COLORBAR_JS)
    assert bar["height"] >= 40 and bar["distinct"] >= 32, bar
    figure = f"{EXPLAIN} .cv-panel .cv-figure"
    corr = page.evaluate(CORRELATION_JS, [f"{figure} canvas.cv-input-image", f"{figure} canvas.cv-cam"])
    assert corr > 0.5, corr  # the drawn zero shows through the map
    page.select_option(f"{EXPLAIN} .cv-colormap", "viridis")
    assert page.get_attribute(f"{EXPLAIN} canvas.cv-colorbar", "data-colormap") == "viridis"
    page.locator(f"{EXPLAIN}").screenshot(path=str(artifacts / "lab-explain-jpg.png"))


def test_any_class_typed_by_index_is_explained(page):
    page.fill(f"{EXPLAIN} .cv-target-any", "7")
    page.press(f"{EXPLAIN} .cv-target-any", "Enter")
    page.wait_for_function("""(sel) => { const e = document.querySelector(sel);
        return e.dataset.state === 'ready' && e.querySelector('.cv-target').value === '7'; }""",
                           arg=EXPLAIN, timeout=TIMEOUT_MS)


def test_evidence_is_disabled_with_its_reason(page):
    assert page.is_disabled(f"{EXPLAIN} .cv-evidence-run")
    assert "cannot be copied" in page.inner_text(f"{EXPLAIN} .cv-evidence-reason")



def test_a_class_out_of_range_is_refused_before_asking(page):
    page.fill(f"{EXPLAIN} .cv-target-any", "99")  # the demo model has 10 classes
    page.press(f"{EXPLAIN} .cv-target-any", "Enter")
    page.wait_for_selector(f"{EXPLAIN} .cv-error:not([hidden])", timeout=10_000)
    assert "out of range" in page.inner_text(f"{EXPLAIN} .cv-error")


def test_an_error_clears_the_map_it_replaces(page, tmp_path):
    bogus = tmp_path / "notes.png"
    bogus.write_text("not a picture")
    page.set_input_files(f"{EXPLAIN} .cv-image-file", str(bogus))
    page.wait_for_selector(f"{EXPLAIN}[data-state=error]", timeout=TIMEOUT_MS)
    assert "not an image" in page.inner_text(f"{EXPLAIN} .cv-error")
    assert page.locator(f"{EXPLAIN} canvas.cv-cam").count() == 0
    assert page.inner_text(f"{EXPLAIN} .cv-layer-info") == ""
    page.fill(f"{EXPLAIN} .cv-target-any", "3")  # a good request draws again
    page.press(f"{EXPLAIN} .cv-target-any", "Enter")
    page.wait_for_selector(f"{EXPLAIN}[data-state=ready] canvas.cv-cam", timeout=TIMEOUT_MS)
