"""The whole CAM family in a real JupyterLab sidebar in Chromium, on the demo's ``model.pt2``: every
method in the list draws a map (or, where this model cannot take it, shows the error the Python API
raises); gradient methods are marked and the per-channel ones show their forward passes; the
smoothing switches change the map; each pixel attribution draws beside the CAM; the Concepts view
paints coloured regions with a legend; on the ONNX model gradient methods are disabled with the reason."""

from __future__ import annotations

import numpy as np
import pytest

import cnnvis

from .panel_flows import TIMEOUT_MS, cam_pixels, open_model_file, sidebar_page, wait_for_graph_and_cam

SIDEBAR = "#cnnvis-sidebar"
CONTENT = f'{SIDEBAR} .cv-content[data-showing="model.pt2"]'
EXPLAIN = f"{CONTENT} .cv-explain"

pytestmark = pytest.mark.timeout(900)

# The map canvas's pixels as one string, to tell two maps apart.
MAP_JS = """(c) => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let s = 0; for (let i = 0; i < d.length; i += 7) s = (s * 31 + d[i]) % 1000000007; return s; }"""


def scorecam_forwards(page) -> int:
    label = page.inner_text(f"{EXPLAIN} .cv-method option[value=scorecam]")  # "scorecam (64 forwards)"
    return int(label.split("(")[1].split(" forwards")[0])


def settle(page, method: str | None = None) -> str:
    """Waits for the view to finish (ready or error) with ``method``'s panel; returns the state."""
    page.wait_for_function("""([sel, method]) => { const e = document.querySelector(sel);
        if (!e || !['ready', 'error'].includes(e.dataset.state)) return false;
        return !method || e.dataset.state === 'error' || !!e.querySelector(`.cv-panel[data-method="${method}"]`); }""",
                           arg=[EXPLAIN, method], timeout=TIMEOUT_MS)
    return page.get_attribute(EXPLAIN, "data-state")


@pytest.fixture(scope="module")
def page(lab_server, demo_folder, browser, artifacts):
    with sidebar_page(browser, lab_server.page_url("lab/workspaces/cnnvis-cam-family")) as p:
        open_model_file(p, SIDEBAR, "demo/model.pt2", "demo/samples.npz")
        wait_for_graph_and_cam(p, SIDEBAR, "model.pt2")
        p.wait_for_selector(f"{EXPLAIN} .cv-method option[value=eigengradcam]", state="attached", timeout=TIMEOUT_MS)
        yield p


@pytest.fixture(scope="module")
def demo_api(demo_folder):
    """What the Python API makes of each method on the demo model (None: a map, else the error)."""
    model = cnnvis.load(str(demo_folder / "model.pt2"))
    inputs = np.load(demo_folder / "samples.npz")["inputs"][:2]

    def outcome(method: str) -> str | None:
        try:
            cnnvis.explain(model, inputs, method, progress=False)
        except cnnvis.CnnvisError as exc:
            return str(exc)
        return None

    return outcome


def test_every_method_draws_a_map(page, demo_api, artifacts):
    methods = page.eval_on_selector_all(f"{EXPLAIN} .cv-method option", "os => os.map(o => o.value)")
    assert {"gradcam", "eigengradcam", "gradcamelementwise", "kpca_cam", "fem", "segeigencam", "sobelcam",
            "randomcam", "finercam", "refinecam", "scorecam", "ablationcam"} <= set(methods)
    drawn = []
    for method in methods:
        page.select_option(f"{EXPLAIN} .cv-method", method)
        state = settle(page, method)
        refused = demo_api(method)
        if refused is not None:  # this model cannot take it: the view says what the API says
            assert state == "error" and page.inner_text(f"{EXPLAIN} .cv-error").strip() == refused.strip()
            continue
        assert state == "ready", (method, page.inner_text(f"{EXPLAIN} .cv-error"))
        panel = f'{EXPLAIN} .cv-panel[data-method="{method}"]'
        assert page.inner_text(f"{panel} .cv-panel-title").startswith(method)
        pixels = cam_pixels(page, f"{panel} canvas.cv-cam")
        assert pixels["opaque"] == pixels["width"] * pixels["height"] > 0, (method, pixels)
        drawn.append(method)
        if method in ("kpca_cam", "finercam", "sobelcam"):
            page.locator(EXPLAIN).screenshot(path=str(artifacts / f"lab-cam-family-{method}.png"))
    assert len(drawn) >= len(methods) - 2, drawn  # at most the ones this model cannot take


def test_method_list_marks_gradients_and_forward_passes(page):
    page.select_option(f"{EXPLAIN} .cv-method", "gradcam")
    settle(page, "gradcam")
    label = page.inner_text(f"{EXPLAIN} .cv-method option[value=gradcam]")
    assert "∇" in label and page.get_attribute(f"{EXPLAIN} .cv-method option[value=gradcam]", "data-gradients") == "true"
    assert "∇" not in page.inner_text(f"{EXPLAIN} .cv-method option[value=eigencam]")
    assert scorecam_forwards(page) > 1  # the CAM layer's channel count, from the graph
    assert "forward passes per image" in page.get_attribute(f"{EXPLAIN} .cv-method option[value=scorecam]", "title")


def test_smoothing_switches_change_the_map(page):
    page.select_option(f"{EXPLAIN} .cv-method", "gradcam")
    settle(page, "gradcam")
    plain = page.eval_on_selector(f"{EXPLAIN} canvas.cv-map", MAP_JS)
    forwards = scorecam_forwards(page)
    for box in (".cv-eigen-smooth", ".cv-aug-smooth"):
        page.check(f"{EXPLAIN} {box}")
        assert settle(page, "gradcam") == "ready"
        assert page.eval_on_selector(f"{EXPLAIN} canvas.cv-map", MAP_JS) != plain, box
        if box == ".cv-aug-smooth":  # six augmented copies: six times the passes
            assert scorecam_forwards(page) == 6 * forwards
        page.uncheck(f"{EXPLAIN} {box}")
        assert settle(page, "gradcam") == "ready"


def test_each_pixel_attribution_draws_beside_the_cam(page, artifacts):
    options = page.eval_on_selector_all(f"{EXPLAIN} .cv-attribution option", "os => os.map(o => o.value)")
    assert options == ["", "saliency", "smoothgrad", "integrated_gradients", "guided_backprop", "guided_gradcam"]
    for method in options[1:]:
        page.select_option(f"{EXPLAIN} .cv-attribution", method)
        assert settle(page) == "ready", page.inner_text(f"{EXPLAIN} .cv-error")
        panel = f'{EXPLAIN} .cv-attribution-panel[data-attribution="{method}"]'
        page.wait_for_selector(panel, timeout=TIMEOUT_MS)
        pixels = cam_pixels(page, f"{panel} canvas.cv-attribution-map")
        assert pixels["opaque"] > 0 and pixels["distinct"] > 4, (method, pixels)
        assert page.locator(f"{EXPLAIN} .cv-panel canvas.cv-cam").count() == 1  # the CAM stays beside it
    page.locator(EXPLAIN).screenshot(path=str(artifacts / "lab-pixel-attribution.png"))
    page.select_option(f"{EXPLAIN} .cv-attribution", "")
    settle(page)
    assert page.locator(f"{EXPLAIN} .cv-attribution-panel").count() == 0


def test_concepts_view_paints_regions_with_a_legend(page, artifacts):
    page.click(f"{CONTENT} .cv-tabs button[data-tab=concepts]")
    view = f"{CONTENT} .cv-concepts"
    page.wait_for_selector(f"{view}[data-state=ready]", timeout=TIMEOUT_MS)
    legend = page.eval_on_selector_all(f"{view} .cv-concept-legend li", "ls => ls.map(l => l.textContent)")
    assert len(legend) == 4 and all(text.startswith(f"concept {k + 1}:") for k, text in enumerate(legend)), legend
    assert all(any(ch.isdigit() for ch in text.split(":", 1)[1]) for text in legend)  # classes with scores
    pixels = cam_pixels(page, f"{view} canvas.cv-concepts-canvas")
    assert pixels["opaque"] > 0 and pixels["distinct"] > 8, pixels
    page.select_option(f"{view} .cv-concept-count", "3")
    page.wait_for_function("(sel) => document.querySelectorAll(sel).length === 3",
                           arg=f"{view}[data-state=ready] .cv-concept-legend li", timeout=TIMEOUT_MS)
    page.locator(view).screenshot(path=str(artifacts / "lab-concepts.png"))
    page.click(f"{CONTENT} .cv-tabs button[data-tab=explain]")


def test_onnx_model_disables_gradient_methods_with_the_reason(page, artifacts):
    open_model_file(page, SIDEBAR, "demo/model.onnx", "demo/samples.npz")
    onnx = f'{SIDEBAR} .cv-content[data-showing="model.onnx"] .cv-explain'
    page.wait_for_selector(f"{onnx}[data-state=ready]", timeout=TIMEOUT_MS)
    page.wait_for_selector(f"{onnx} .cv-method option[value=eigengradcam]", state="attached", timeout=TIMEOUT_MS)
    assert page.is_disabled(f"{onnx} .cv-method option[value=gradcam]")
    assert not page.is_disabled(f"{onnx} .cv-method option[value=eigencam]")
    assert "no gradients" in page.get_attribute(f"{onnx} .cv-method option[value=gradcam]", "title")
    assert "no gradients" in page.inner_text(f"{onnx} .cv-method-note")
    assert page.is_disabled(f"{onnx} .cv-attribution option[value=saliency]")
    page.locator(onnx).screenshot(path=str(artifacts / "lab-onnx-gradient-methods.png"))
