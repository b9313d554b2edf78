"""Fixtures for real-browser tests: a JupyterLab server started per session and Debian Chromium
driven by Playwright. Skipped, with the reason shown, where Chromium or Playwright is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cnnvis.testing import CHROMIUM, CHROMIUM_ARGS, LabServer, start_lab

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def pytest_collection_modifyitems(config, items):
    reason = None
    if not os.path.exists(CHROMIUM):
        reason = f"{CHROMIUM} is missing: run `make chromium` (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "the playwright Python package is missing (pip install playwright)"
    if reason:
        marker = pytest.mark.skip(reason=reason)
        for item in items:
            if "tests/e2e" in str(item.fspath).replace(os.sep, "/"):
                item.add_marker(marker)


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory) -> LabServer:
    server = start_lab(tmp_path_factory.mktemp("lab-root"), tmp_path_factory.mktemp("lab-home"))
    try:
        yield server
    finally:
        server.stop()
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(server.log, ARTIFACTS / "jupyterlab.log")


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def demo_folder(lab_server) -> Path:
    """The bundled demo prepared once under the lab's root as ``demo/`` (fewer epochs keep it short):
    model.pt2 / .onnx / .keras, samples.npz and the runs/ logdir, as `make demo-data` writes them."""
    folder = lab_server.root / "demo"
    subprocess.run([sys.executable, "-m", "cnnvis.demo", str(folder), "--epochs", "4"], check=True,
                   capture_output=True, timeout=300)
    return folder
