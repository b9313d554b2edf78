"""The cnnvis command line on a real exported model."""

import json

import pytest

from cnnvis.cli import main

torch = pytest.importorskip("torch")


def test_info_lists_methods(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "gradcam++" in out and "cnnvis.adapters.torch" in out


def test_graph_of_exported_model(tmp_path, capsys):
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten()).eval()
    path = tmp_path / "m.pt2"
    torch.export.save(torch.export.export(model, (torch.randn(1, 3, 8, 8),)), path)
    assert main(["graph", str(path), "--json"]) == 0
    graph = json.loads(capsys.readouterr().out)
    assert {n["id"] for n in graph["nodes"]} >= {"0", "1", "2"}


def test_bad_file_is_a_clean_error(tmp_path, capsys):
    path = tmp_path / "junk.pt"
    path.write_bytes(b"\x80\x04junk")
    assert main(["graph", str(path)]) == 2
    assert "never unpickles" in capsys.readouterr().err


def _command(name: str) -> str:
    """The console script installed beside this interpreter (``cnnvis``, ``jupyter-cnnvis``)."""
    import shutil
    import sys
    from pathlib import Path

    found = shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip(f"{name} is not installed in this environment")
    return found


@pytest.mark.parametrize("command, args, says", [
    ("cnnvis", ["bogus"], "invalid choice: 'bogus'"),
    ("cnnvis", ["info", "--bogus"], "unrecognized arguments: --bogus"),
    ("cnnvis", ["--bogus"], "the following arguments are required"),
    ("cnnvis", [], "the following arguments are required"),
    ("cnnvis", ["agent", "--write"], "usage: cnnvis agent --write PATH"),
    ("jupyter-cnnvis", ["bogus"], "unknown command 'bogus'"),
    ("jupyter-cnnvis", ["--bogus"], "unknown option '--bogus'"),
    ("jupyter-cnnvis", ["--bogus=1"], "unknown option '--bogus=1'"),  # traitlets alone would warn and start the server
    ("jupyter-cnnvis", ["--no-browser", "--no-such-flag"], "unknown option '--no-such-flag'"),
    ("jupyter-cnnvis", ["token", "bogus"], "invalid choice: 'bogus'"),
])
def test_unknown_command_or_option_prints_usage(command, args, says):
    import subprocess

    proc = subprocess.run([_command(command), *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    usage = "usage: " + command.replace("-", " ")  # jupyter-cnnvis calls itself "jupyter cnnvis"
    assert usage in proc.stderr and says in proc.stderr
    assert "Traceback" not in proc.stderr


def test_jupyter_cnnvis_accepts_server_options():
    from cnnvis.server.app import _unknown_option

    assert _unknown_option(["--ip", "127.0.0.1", "--port=8890", "--no-browser", "--allow-root",
                            "--ServerApp.base_url=/user/a/", "--log-level", "DEBUG"]) is None
    assert _unknown_option(["--no-browser", "--prot=8890"]) == "--prot=8890"


def test_batch_counts_items_and_methods_apart(tmp_path, capsys):
    from PIL import Image

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 3)).eval()
    path = tmp_path / "m.pt2"
    batch = ({0: torch.export.Dim("batch", min=1, max=64)},)
    torch.export.save(torch.export.export(model, (torch.rand(2, 3, 8, 8),), dynamic_shapes=batch), path)
    images = tmp_path / "images"
    images.mkdir()
    for i in range(3):
        Image.new("RGB", (8, 8), (40 * i, 90, 200)).save(images / f"{i}.png")
    (images / "notes.txt").write_text("not an image")
    argv = ["batch", str(images), "--model", str(path), "--methods", "gradcam,scorecam", "--out", str(tmp_path / "r")]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"4 items x 2 methods (gradcam, scorecam): 8 rows in {tmp_path / 'r'}/results.parquet"
    assert lines[1] == "3 items explained now; 1 item failed", lines  # one bad file, failed once per method
    assert lines[2].startswith("  failed notes.txt [gradcam, scorecam]: ")
    assert main(argv) == 0  # resumed: nothing left to explain
    assert capsys.readouterr().out.splitlines()[1] == "0 items explained now; 1 item failed"
