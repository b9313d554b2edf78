"""What the panel tests do in a page, shared by the JupyterLab sidebar, the full page and the
prefixed server: each step takes the CSS selector of the panel's root."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from cnnvis.scalars import read_scalars

TIMEOUT_MS = 90_000

TORCH_CELL = """
import torch, torch.nn as nn
torch.manual_seed(0)
net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4)).eval()
x = torch.rand(2, 3, 32, 32)
"""

KERAS_CELL = """
import numpy as np, keras
inp = keras.Input((32, 32, 3))
h = keras.layers.Conv2D(8, 3, activation="relu", name="conv_a")(inp)
h = keras.layers.Conv2D(8, 3, activation="relu", name="conv_b")(h)
out = keras.layers.Dense(4)(keras.layers.GlobalAveragePooling2D()(h))
kmodel = keras.Model(inp, out)
kx = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
"""

# Starts a notebook session in the page's Jupyter server and runs one cell's code in its kernel.
START_KERNEL_JS = """async ([path, code]) => {
  const app = window.jupyterapp;
  const s = await app.serviceManager.sessions.startNew({path, name: path, type: 'notebook', kernel: {name: 'python3'}});
  const reply = await s.kernel.requestExecute({code}).done;
  return {status: reply.content.status, kernel: s.kernel.id, error: reply.content.evalue || ''};
}"""


def open_sidebar(page) -> None:
    """Loads-then-opens the sidebar with its command (after the layout is restored, which may
    otherwise collapse it again)."""
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.commands.hasCommand('cnnvis:open')",
                           timeout=TIMEOUT_MS)
    page.evaluate("async () => { await window.jupyterapp.restored; await window.jupyterapp.commands.execute('cnnvis:open'); }")
    page.wait_for_selector("#cnnvis-sidebar .cv-panel-app", state="visible", timeout=TIMEOUT_MS)


@contextmanager
def sidebar_page(browser, url: str, width: int = 1600, height: int = 1000) -> Iterator:
    """A page of its own at the JupyterLab ``url``, the sidebar open; closed afterwards."""
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        page = context.new_page()
        page.goto(url)
        open_sidebar(page)
        yield page
    finally:
        context.close()


def demo_tags(folder) -> set[str]:
    return {tag for tags in read_scalars(folder / "runs").values() for tag in tags}


def show_logdir(page, root: str, logdir: str, tags: set[str]) -> None:
    """Opens ``logdir`` from the Logdir source and waits until every tag has a drawn chart."""
    page.click(f'{root} .cv-sources button[data-source="logdir"]')
    page.fill(f"{root} .cv-logdir-path", logdir)
    page.click(f'{root} form[data-source="logdir"] button[type=submit]')
    wait_for_charts(page, root, tags)


def wait_for_charts(page, root: str, tags: set[str]) -> None:
    page.wait_for_function("""([root, tags]) => tags.every((t) =>
        document.querySelector(`${root} .cv-chart[data-tag="${t}"] .cv-chart-canvas canvas`))""",
                           arg=[root, sorted(tags)], timeout=TIMEOUT_MS)
    drawn = page.eval_on_selector_all(f"{root} .cv-chart", "els => els.map(e => e.dataset.tag)")
    assert set(drawn) == tags


def wait_for_graph_and_cam(page, root: str, showing: str, min_nodes: int = 3) -> dict:
    """The panel shows ``showing``: its graph's nodes are drawn and the Explain view painted a CAM.
    Returns the CAM's pixel summary."""
    content = f'{root} .cv-content[data-showing="{showing}"]'
    page.wait_for_selector(f"{content} g.node", timeout=TIMEOUT_MS)
    assert page.locator(f"{content} g.node").count() >= min_nodes
    page.wait_for_selector(f"{content} .cv-explain[data-state=ready]", timeout=TIMEOUT_MS)
    pixels = cam_pixels(page, f"{content} .cv-explain canvas.cv-cam")
    assert pixels["opaque"] > 0 and pixels["distinct"] > 4, pixels
    return pixels


def cam_pixels(page, selector: str) -> dict:
    return page.eval_on_selector(selector, """(c) => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let opaque = 0; const seen = new Set();
        for (let i = 0; i < d.length; i += 4) {
          if (d[i + 3] > 0) opaque++;
          if (seen.size < 64) seen.add(d[i] << 16 | d[i + 1] << 8 | d[i + 2]);
        }
        return {width: c.width, height: c.height, opaque, distinct: seen.size};
    }""")


def open_model_file(page, root: str, path: str, inputs: str = "") -> None:
    page.click(f'{root} .cv-sources button[data-source="file"]')
    page.fill(f"{root} .cv-model-path", path)
    page.fill(f"{root} .cv-model-inputs", inputs)
    page.click(f'{root} form[data-source="file"] button[type=submit]')


def attach_kernel_model(page, root: str, notebook: str, model: str, inputs: str) -> None:
    """Kernel source: pick the kernel of ``notebook``, connect, pick ``model`` and ``inputs``, inspect."""
    page.click(f'{root} .cv-sources button[data-source="kernel"]')
    page.click(f"{root} .cv-kernel-refresh")
    page.wait_for_function("""([root, nb]) => [...document.querySelectorAll(`${root} .cv-kernel option`)]
        .some((o) => o.textContent.includes(nb))""", arg=[root, notebook], timeout=TIMEOUT_MS)
    value = page.eval_on_selector(f"{root} .cv-kernel", """(s, nb) =>
        [...s.options].find((o) => o.textContent.includes(nb)).value""", notebook)
    page.select_option(f"{root} .cv-kernel", value)
    page.click(f"{root} .cv-kernel-connect")
    page.wait_for_selector(f'{root} .cv-kernel-model option[value="{model}"]', state="attached", timeout=TIMEOUT_MS)
    page.select_option(f"{root} .cv-kernel-model", model)
    page.select_option(f"{root} .cv-kernel-inputs", inputs)
    page.click(f"{root} .cv-kernel-inspect")
