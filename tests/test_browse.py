"""The panel's first view lists what is under the root: a bounded scan of real folders and files."""

import os

import numpy as np
import pytest

from cnnvis.scalars import EventWriter
from cnnvis.services.browse import BrowseService, scan


def _tree(root):
    for run in ("train", "validation"):
        with EventWriter(root / "demo" / "runs" / run) as w:
            w.add_scalar("loss", 1.0, 0)
    with EventWriter(root / "single") as w:  # a lone run at the top is its own logdir
        w.add_scalar("loss", 1.0, 0)
    (root / "demo" / "model.pt2").write_bytes(b"PK")
    (root / "demo" / "model.onnx").write_bytes(b"onnx")
    (root / "engines").mkdir()
    (root / "engines" / "resnet.graph.json").write_text("{}")
    (root / "engines" / "trt.out").write_text("&&&& RUNNING TensorRT.trtexec [TensorRT v100] # trtexec\n")
    (root / "engines" / "notes.txt").write_text("nothing to see")
    (root / "batch").mkdir()
    (root / "batch" / "results.parquet").write_bytes(b"PAR1")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "secret.onnx").write_bytes(b"x")
    np.save(root / "demo" / "samples.npy", np.zeros(2))


def _listing(root, **limits):
    result = scan(root.resolve(), limits.get("depth", 6), limits.get("entries", 10_000), limits.get("items", 500))
    return {(i["kind"], i["path"]) for i in result["items"]}, result


def test_lists_logdirs_models_exports_and_batch_results(tmp_path):
    _tree(tmp_path)
    found, result = _listing(tmp_path)
    assert found == {("logdir", "demo/runs"), ("logdir", "single"), ("model", "demo/model.pt2"),
                     ("model", "demo/model.onnx"), ("tensorrt", "engines/resnet.graph.json"),
                     ("tensorrt", "engines/trt.out"), ("batch", "batch")}
    assert not result["truncated"]
    kinds = [i["kind"] for i in result["items"]]
    assert kinds == sorted(kinds, key=["logdir", "model", "tensorrt", "batch"].index)


def test_symlinks_stay_inside_the_root_and_loops_end(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "stolen.onnx").write_bytes(b"x")
    with EventWriter(outside / "runs" / "a") as w:
        w.add_scalar("loss", 1.0, 0)
    (root / "own.onnx").write_bytes(b"x")
    os.symlink(outside, root / "escape")
    os.symlink(outside / "stolen.onnx", root / "linked.onnx")
    os.symlink(root, root / "loop")
    (root / "inner").mkdir()
    os.symlink(root / "own.onnx", root / "inner" / "alias.onnx")
    found, _ = _listing(root)
    assert found == {("model", "own.onnx"), ("model", "inner/alias.onnx")}


def test_depth_entry_and_item_limits(tmp_path):
    deep = tmp_path.joinpath(*[f"d{i}" for i in range(5)])
    deep.mkdir(parents=True)
    (deep / "deep.onnx").write_bytes(b"x")
    (tmp_path / "top.onnx").write_bytes(b"x")
    assert _listing(tmp_path, depth=5)[0] == {("model", "top.onnx"), ("model", "d0/d1/d2/d3/d4/deep.onnx")}
    assert _listing(tmp_path, depth=4)[0] == {("model", "top.onnx")}
    for i in range(30):
        (tmp_path / f"m{i:02}.onnx").write_bytes(b"x")
    found, result = _listing(tmp_path, items=10)
    assert len(found) == 10 and result["truncated"]
    found, result = _listing(tmp_path, entries=5)
    assert result["truncated"] and found == set()


def test_service_caches_until_refreshed(tmp_path):
    (tmp_path / "a.onnx").write_bytes(b"x")
    service = BrowseService(tmp_path)
    first = service.listing()
    assert [i["path"] for i in first["items"]] == ["a.onnx"] and first["scanning"] is False
    (tmp_path / "b.onnx").write_bytes(b"x")
    assert [i["path"] for i in service.listing()["items"]] == ["a.onnx"]  # cached
    assert [i["path"] for i in service.listing(refresh=True)["items"]] == ["a.onnx", "b.onnx"]


@pytest.mark.parametrize("name", ["model.H5", "net.keras", "x.engine", "layer_info.json", "profile.json"])
def test_known_file_kinds(tmp_path, name):
    (tmp_path / name).write_bytes(b"{}")
    assert len(_listing(tmp_path)[0]) == 1


def test_crowded_folders_are_scanned_last(tmp_path):
    """A dataset folder spends the entry bound last: the logdir in a quiet folder is still found."""
    data = tmp_path / "data"
    for sub in ("a", "b"):
        (data / sub).mkdir(parents=True)
        for i in range(300):
            (data / sub / f"{i}.png").write_bytes(b"")
    for i in range(300):
        (data / f"{i}.png").write_bytes(b"")
    with EventWriter(tmp_path / "exp" / "runs" / "train") as w:
        w.add_scalar("loss", 1.0, 0)
    found, result = _listing(tmp_path, entries=400)
    assert result["truncated"] and ("logdir", "exp/runs") in found
