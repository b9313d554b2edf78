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
