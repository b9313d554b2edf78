"""The distribution, end to end: `python -m build` on a clean copy of the source tree builds the
frontend itself; the wheel installed into a fresh venv whose PATH has no Node gives the widget, the
sidebar and the server extension, and the sidebar draws a graph in Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from helpers import shared_fixture_dir

from cnnvis.testing import start_lab

from .panel_flows import TIMEOUT_MS, open_model_file, sidebar_page

REPO = Path(__file__).resolve().parents[2]
ENGINE = "a100_resnet_fp16"

pytestmark = [pytest.mark.timeout(1200), pytest.mark.slow]


def _clean_copy(dest: Path) -> Path:
    """The files a fresh clone has (tracked, plus new files git does not ignore): no node_modules,
    no built frontend, no venv."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                            capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """sdist, then the wheel from it, both made by the build backend (once per test session)."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs a git checkout to copy the source tree from")
    source = _clean_copy(tmp_path_factory.mktemp("clean-clone"))
    assert not (source / "cnnvis" / "static" / "widget.js").exists()
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(source)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (path,) = out.glob("cnnvis-*.whl")
    return path


@pytest.fixture(scope="session")
def nodeless_venv(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel (plus JupyterLab to host the sidebar) and nothing else of ours."""
    venv = tmp_path_factory.mktemp("wheel-venv")
    subprocess.run([sys._base_executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = _nodeless_env(venv)
    done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                           str(wheel), "jupyterlab>=4"], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return venv


def _nodeless_env(venv: Path) -> dict:
    env = {**os.environ, "PATH": str(venv / "bin"), "VIRTUAL_ENV": str(venv)}
    env.pop("PYTHONPATH", None)
    assert shutil.which("node", path=env["PATH"]) is None
    return env


def _plain(text: str) -> str:
    """Without the terminal colour codes the jupyter commands print."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_wheel_carries_the_built_frontend(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    data = next(n.split("/")[0] for n in names if n.endswith(".data/data/share/jupyter/labextensions/cnnvis/package.json"))
    share = f"{data}/data/share/jupyter/labextensions/cnnvis"
    assert {"cnnvis/static/widget.js", "cnnvis/static/page.js", f"{share}/package.json", f"{share}/install.json",
            f"{share}/static/style.js", f"{data}/data/etc/jupyter/jupyter_server_config.d/cnnvis.json"} <= names
    assert any(n.startswith(f"{share}/static/remoteEntry.") for n in names)


def test_extensions_are_enabled_without_node(nodeless_venv):
    env = _nodeless_env(nodeless_venv)
    jupyter = str(nodeless_venv / "bin" / "jupyter")
    labext = subprocess.run([jupyter, "labextension", "list"], env=env, capture_output=True, text=True, timeout=120)
    server = subprocess.run([jupyter, "server", "extension", "list"], env=env, capture_output=True, text=True,
                            timeout=120)
    lab_text = _plain(labext.stdout + labext.stderr)
    lab_lines = [line for line in lab_text.splitlines() if line.strip().startswith("cnnvis ")]
    assert lab_lines and "enabled" in lab_lines[0] and "OK" in lab_lines[0], lab_text
    text = _plain(server.stdout + server.stderr)
    assert "cnnvis enabled" in text and "cnnvis 0.1.0 OK" in text, text
    # The widget's bundle is in the wheel (without it the widget shows a "bundle missing" message).
    widget = subprocess.run([str(nodeless_venv / "bin" / "python"), "-c", "import cnnvis.notebook.widget as w; "
                             "print((w.STATIC / 'widget.js').stat().st_size)"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert widget.returncode == 0 and int(widget.stdout) > 100_000, widget.stderr


def test_sidebar_draws_a_graph_from_the_wheel(nodeless_venv, browser, tmp_path_factory, artifacts):
    fixtures = shared_fixture_dir("tensorrt")
    if fixtures is None:
        pytest.skip("the recorded TensorRT exports (shared/fixtures/tensorrt) are not here")
    root = tmp_path_factory.mktemp("wheel-root")
    shutil.copytree(fixtures / ENGINE, root / ENGINE)
    server = start_lab(root, tmp_path_factory.mktemp("wheel-home"), jupyter=str(nodeless_venv / "bin" / "jupyter"),
                       extra_env=_nodeless_env(nodeless_venv))
    try:
        with sidebar_page(browser, server.page_url("lab"), 1400) as page:
            graph = next((root / ENGINE).glob("*.graph.json"))
            open_model_file(page, "#cnnvis-sidebar", f"{ENGINE}/{graph.name}")
            page.wait_for_selector(f'#cnnvis-sidebar .cv-content[data-showing="{graph.name}"] g.node',
                                   timeout=TIMEOUT_MS)
            page.locator("#cnnvis-sidebar").screenshot(path=str(artifacts / "wheel-sidebar-graph.png"))
    finally:
        server.stop()
