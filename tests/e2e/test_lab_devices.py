"""The Devices view in the JupyterLab sidebar: a device token made in the panel, a real agent
replaying a recorded Jetson log to the lab's server, and live charts that advance as samples arrive."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import shared_fixture_dir

from .panel_flows import TIMEOUT_MS, open_sidebar

SIDEBAR = "#cnnvis-sidebar"

pytestmark = pytest.mark.timeout(300)


def test_devices_view_follows_a_live_agent(lab_server, browser, artifacts, tmp_path):
    logs = shared_fixture_dir("tegrastats")
    if logs is None:
        pytest.skip("the recorded tegrastats logs (shared/fixtures/tegrastats) are not here")
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    agent = None
    try:
        page.goto(lab_server.page_url("lab"))
        open_sidebar(page)
        page.click(f'{SIDEBAR} .cv-sources button[data-source="devices"]')
        page.fill(f"{SIDEBAR} .cv-token-name", "orin-bench")
        page.click(f'{SIDEBAR} form[data-source="devices"] button[type=submit]')
        page.wait_for_selector(f"{SIDEBAR} .cv-token:not([hidden])", timeout=TIMEOUT_MS)
        token = re.search(r"CNNVIS_AGENT_TOKEN=(\S+)", page.inner_text(f"{SIDEBAR} .cv-token")).group(1)

        cnnvis = Path(sys.executable).with_name("cnnvis")
        agent = subprocess.Popen(
            [str(cnnvis), "agent", "--server", lab_server.url, "--name", "orin-bench",
             "--replay", str(logs / "agx_orin_jp6.log"), "--interval", "0.2", "--loop"],
            env={**os.environ, "CNNVIS_AGENT_TOKEN": token}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        view = f"{SIDEBAR} .cv-devices"
        page.wait_for_function(f"""() => Number(document.querySelector('{view}')?.dataset.lastSeq ?? 0) >= 3""",
                               timeout=TIMEOUT_MS)
        first = int(page.get_attribute(view, "data-last-seq"))
        page.wait_for_function(f"""(n) => Number(document.querySelector('{view}').dataset.lastSeq) > n""",
                               arg=first + 2, timeout=TIMEOUT_MS)
        assert page.locator(f"{view} .cv-device-charts canvas").count() >= 3
        # Titled charts on the samples' own timestamps; per-core CPU load as one heat strip.
        titles = page.eval_on_selector_all(f"{view} .cv-device-chart-title", "els => els.map((e) => e.textContent)")
        assert len(titles) >= 3 and any(t.startswith("CPU load per core") for t in titles), titles
        axis = page.eval_on_selector(f'{view} .cv-device-chart[data-chart="temps"]', """(el) => {
            const o = el.cnnvisChart.getOption();
            return {type: o.xAxis[0].type, xs: o.series[0].data.map((d) => d[0]), lines: o.series.length}; }""")
        assert axis["type"] == "time" and len(axis["xs"]) >= 3, axis
        assert all(b > a for a, b in zip(axis["xs"], axis["xs"][1:], strict=False)), axis["xs"]  # one tick per sample
        strip = page.eval_on_selector(f"{view} .cv-cpu:not([hidden]) canvas.cv-cpu-strip", """(c) => {
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let opaque = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) opaque++;
            return {rows: c.height / 6, opaque}; }""")
        assert strip["rows"] >= 4 and strip["opaque"] > 0, strip
        assert page.locator(f'{view} .cv-device-chart[data-chart="cpu"]').count() == 0  # no twelve-line chart
        assert "orin-bench" in page.inner_text(f"{view} .cv-device")
        page.locator(SIDEBAR).screenshot(path=str(artifacts / "lab-sidebar-devices.png"))
    finally:
        page.screenshot(path=str(artifacts / "lab-devices.png"))
        context.close()
        if agent is not None:
            agent.terminate()
            output = agent.communicate(timeout=15)[0].decode(errors="replace")
            (artifacts / "agent.log").write_text(output)
