"""Data files: arrays that declare more than they hold or inflate from a small zip, TensorBoard event
files linked from outside the readable root, batch results that point elsewhere or inflate."""

import os
import zipfile

import numpy as np
import pytest

from cnnvis.services.codec import read_inputs_file
from cnnvis.services.errors import BadRequest, PayloadTooLarge, ServiceError

BOMB_SHAPE = (512, 1024, 1024)  # 512 MiB of uint8 zeros


def npz_bomb(path, name="inputs", shape=BOMB_SHAPE):
    """A .npz whose one array inflates to 512 MiB, written in chunks (never held in memory)."""
    header = {"descr": "|u1", "fortran_order": False, "shape": shape}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, header)
            chunk = bytes(2**22)
            for _ in range(int(np.prod(shape)) // len(chunk)):
                member.write(chunk)
    return path


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    return npz_bomb(tmp_path_factory.mktemp("bomb") / "bomb.npz")


def test_npz_bomb_is_small_on_disk_and_refused_before_inflating(bomb, peak_rss):
    assert bomb.stat().st_size < 2 * 2**20
    with peak_rss() as rss:
        with pytest.raises(PayloadTooLarge, match="declares"):
            read_inputs_file(bomb, max_bytes=64 * 2**20)
    assert rss.growth_mb < 100, rss.growth_mb


def test_npz_bomb_with_a_limit_reads_only_the_first_entries(bomb, peak_rss):
    with peak_rss() as rss:
        first = read_inputs_file(bomb, limit=1, max_bytes=64 * 2**20)
    assert first.shape == (1, 1024, 1024) and not first.any()
    assert rss.growth_mb < 100, rss.growth_mb


def test_npy_declaring_more_than_it_holds_is_refused(tmp_path):
    path = tmp_path / "short.npy"
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False, "shape": (1000, 1000)})
        fh.write(b"\0" * 100)
    with pytest.raises(BadRequest, match="truncated"):
        read_inputs_file(path)
    huge = tmp_path / "huge.npy"
    with open(huge, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f8", "fortran_order": False, "shape": (2**40,)})
    with pytest.raises(PayloadTooLarge):
        read_inputs_file(huge)


def test_symlinked_event_file_outside_the_root_is_not_read(tmp_path):
    from cnnvis.scalars import EventWriter, read_scalars

    root, outside = tmp_path / "root", tmp_path / "outside"
    with EventWriter(root / "runs" / "mine") as writer:
        writer.add_scalar("loss", 1.0, 0)
    with EventWriter(outside / "secret") as writer:
        writer.add_scalar("secret_metric", 42.0, 0)
    (root / "runs" / "stolen").mkdir()
    target = next((outside / "secret").iterdir())
    os.symlink(target, root / "runs" / "stolen" / target.name)
    os.symlink(outside / "secret", root / "runs" / "linked-dir")
    assert "stolen" in read_scalars(root / "runs")  # a user's own reading follows links
    with pytest.warns(UserWarning, match="outside"):
        confined = read_scalars(root / "runs", roots=[str(root)])
    assert set(confined) == {"mine"}


def batch_folder(folder, map_file, method="gradcam"):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    rows = {"key": ["a"], "index": [0], "method": [method], "status": ["ok"], "target": [1], "label": [1],
            "score": [0.5], "map_file": [map_file], "map_row": [0], "deletion": [0.1]}
    pq.write_table(pa.table(rows), folder / "results.parquet")
    return folder


@pytest.mark.parametrize("case", ["bomb", "traversal", "pickle", "linked-table", "linked-maps"])
def test_batch_results_read_only_bounded_maps_inside_their_folder(tmp_path, case, marker, payload_pickle):
    from cnnvis.services import Dispatcher

    folder = tmp_path / "run"
    if case == "bomb":
        batch_folder(folder, "maps/chunk0.npz")
        (folder / "maps").mkdir()
        npz_bomb(folder / "maps" / "chunk0.npz", "gradcam", (2, 16384, 16384))
        expected = PayloadTooLarge
    elif case == "traversal":
        batch_folder(folder, "../elsewhere.npz")
        np.savez(tmp_path / "elsewhere.npz", gradcam=np.ones((1, 4, 4), np.float32))
        expected = BadRequest
    elif case == "pickle":
        batch_folder(folder, "maps.npz")
        with zipfile.ZipFile(folder / "maps.npz", "w") as archive:
            archive.writestr("gradcam.npy", payload_pickle)
        expected = BadRequest
    elif case == "linked-table":
        batch_folder(tmp_path / "elsewhere", "maps.npz")
        folder.mkdir()
        os.symlink(tmp_path / "elsewhere" / "results.parquet", folder / "results.parquet")
        expected = BadRequest
    else:
        batch_folder(folder, "maps/chunk0.npz")
        (tmp_path / "elsewhere").mkdir()
        np.savez(tmp_path / "elsewhere" / "chunk0.npz", gradcam=np.ones((1, 4, 4), np.float32))
        os.symlink(tmp_path / "elsewhere", folder / "maps")
        expected = BadRequest
    with pytest.raises(expected):
        Dispatcher().handle("batch_results", {"dir": str(folder)})
    assert issubclass(expected, ServiceError)


def test_tensorrt_companion_files_linked_from_outside_are_not_read(tmp_path):
    import json

    import cnnvis

    folder, outside = tmp_path / "export", tmp_path / "outside"
    folder.mkdir()
    outside.mkdir()
    layer = {"Name": "conv1", "LayerType": "CaskConvolution", "TacticValue": "0x1",
             "Inputs": [{"Name": "x", "Dimensions": [1, 3, 8, 8], "Format/Datatype": "Row major linear FP32"}],
             "Outputs": [{"Name": "y", "Dimensions": [1, 4, 8, 8], "Format/Datatype": "Row major linear FP32"}]}
    (folder / "m.engine.graph.json").write_text(json.dumps({"Layers": [layer], "Bindings": ["x", "y"]}))
    (outside / "secret.json").write_text(json.dumps([{"count": 10}, {"name": "conv1", "averageMs": 4.2}]))
    os.symlink(outside / "secret.json", folder / "m.engine.profile.json")
    with pytest.warns(UserWarning, match="links outside its folder"):
        export = cnnvis.load(folder / "m.engine.graph.json").model
    assert export.profile_path is None and export.latency is None
    os.remove(folder / "m.engine.profile.json")
    os.symlink(folder / "real-profile.json", folder / "m.engine.profile.json")  # a link inside the folder is fine
    (folder / "real-profile.json").write_text((outside / "secret.json").read_text())
    assert cnnvis.load(folder / "m.engine.graph.json").model.latency["conv1"]["average_ms"] == 4.2


def _record(data, declared=None):
    import struct

    from cnnvis.scalars.crc import crc32c, mask

    head = struct.pack("<Q", len(data) if declared is None else declared)
    crc = lambda b: struct.pack("<I", mask(crc32c(np.frombuffer(b, np.uint8))))  # noqa: E731
    return head + crc(head) + data + crc(data)


def test_event_file_with_huge_declared_lengths_keeps_its_good_points(tmp_path, peak_rss):
    from cnnvis.scalars import EventWriter, read_histograms, read_images, read_scalars

    with EventWriter(tmp_path / "run") as writer:
        writer.add_scalar("loss", 1.0, 0)
    event_file = next((tmp_path / "run").iterdir())
    with open(event_file, "ab") as fh:
        fh.write(_record(b"\x2a\xff\xff\xff\xff\x0f" + b"x" * 10))  # a summary declaring 4 GiB
        fh.write(_record(b"\x0a" * 100, declared=2**40))  # a record declaring a terabyte
    with peak_rss() as rss, pytest.warns(UserWarning):
        scalars = read_scalars(tmp_path)
        assert read_images(tmp_path) == {} and read_histograms(tmp_path) == {}
    assert list(scalars["run"]) == ["loss"] and scalars["run"]["loss"].values.tolist() == [1.0]
    assert rss.growth_mb < 100, rss.growth_mb
