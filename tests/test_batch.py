"""cnnvis.batch / cnnvis batch over 2,000 planted-patch images: one worker, two processes, Ray; kill and resume."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pyarrow")

from planted import make_images, trained_model  # noqa: E402

import cnnvis  # noqa: E402

COUNT, CHUNK, LAYER = 2000, 100, "4"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("batch")
    x, y, _ = make_images(COUNT, np.random.default_rng(7))
    np.savez(folder / "images.npz", x=x, y=y)
    model = trained_model()
    path = folder / "planted.pt2"
    batch_dim = torch.export.Dim("batch", min=1, max=4096)
    torch.export.save(torch.export.export(model, (torch.from_numpy(x[:2]),), dynamic_shapes=({0: batch_dim},)), path)
    return folder, model, path


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray cluster for the whole session: its start-up costs more than the runs."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def reference(data):
    folder, model, _ = data
    result = cnnvis.batch(folder / "images.npz", model, out=folder / "one", chunk_size=CHUNK, layer=LAYER, progress=False)
    assert len(result.rows) == COUNT and not result.failed
    return result


def _same(result, reference):
    assert [r["target"] for r in result.rows] == [r["target"] for r in reference.rows]
    ours, theirs = result.maps("gradcam"), reference.maps("gradcam")
    assert ours.keys() == theirs.keys()
    assert max(float(np.abs(ours[k] - theirs[k]).max()) for k in ours) < 1e-5


def test_two_processes_give_the_same_maps(data, reference):
    folder, model, _ = data
    result = cnnvis.batch(folder / "images.npz", model, out=folder / "procs", workers=2, chunk_size=CHUNK, layer=LAYER,
                          progress=False)
    _same(result, reference)


def test_ray_gives_the_same_maps(data, reference, ray_cluster):
    folder, model, _ = data
    result = cnnvis.batch(folder / "images.npz", model, out=folder / "ray", workers=2, ray=True,
                          chunk_size=CHUNK, layer=LAYER, progress=False)
    _same(result, reference)
    assert ray_cluster.is_initialized()  # a cluster the caller started is left running


def test_killed_run_resumes_without_recomputing(data, reference):
    folder, model, path = data
    out = folder / "killed"
    command = [sys.executable, "-m", "cnnvis.cli", "batch", str(folder / "images.npz"), "--model", str(path),
               "--out", str(out), "--chunk-size", str(CHUNK), "--layer", LAYER]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while len(list((out / "parts").glob("*.parquet"))) < 3 and proc.poll() is None:
        assert time.monotonic() < deadline, "the run never finished a chunk"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = len(list((out / "parts").glob("*.parquet"))) * CHUNK
    assert 0 < finished < COUNT, proc.stderr.read().decode()[-2000:]

    seen = []
    handle = model.register_forward_hook(lambda mod, args, output: seen.append(len(args[0])))
    try:
        result = cnnvis.batch(folder / "images.npz", model, out=out, chunk_size=CHUNK, layer=LAYER, progress=False)
    finally:
        handle.remove()
    assert sum(seen) == COUNT - finished  # one GradCAM forward per unfinished image, none for finished ones
    assert result.computed == COUNT - finished and len(result.rows) == COUNT
    _same(result, reference)


def test_bad_items_are_recorded_and_the_run_goes_on(tmp_path, data):
    import cv2

    _, model, _ = data
    images = tmp_path / "images"
    images.mkdir()
    x, _, _ = make_images(3, np.random.default_rng(1))
    for i, img in enumerate(x):
        cv2.imwrite(str(images / f"img{i}.png"), np.clip(img[0] * 60 + 100, 0, 255).astype(np.uint8))
    (images / "notes.txt").write_text("not an image")
    (images / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    result = cnnvis.batch(images, model, out=tmp_path / "out", progress=False)
    reasons = {row["key"]: row["error"] for row in result.failed}
    assert set(reasons) == {"notes.txt", "broken.png"}
    assert "not an image" in reasons["notes.txt"] and "unreadable" in reasons["broken.png"]
    assert sorted(k for k in result.maps("gradcam")) == ["img0.png", "img1.png", "img2.png"]

    items = [x[0], x[1][:, :16], x[2]]  # a dataset item of the wrong shape
    result = cnnvis.batch(items, model, out=tmp_path / "seq", progress=False)
    failed = result.failed
    assert [row["key"] for row in failed] == ["1"] and "wrong shape" in failed[0]["error"]
    assert sorted(result.maps("gradcam")) == ["0", "2"]


def test_cli_batch_on_a_folder(tmp_path, data, capsys):
    from cnnvis.cli import main

    folder, _, path = data
    x, _, _ = make_images(4, np.random.default_rng(2))
    np.savez(tmp_path / "few.npz", x=x)
    assert main(["batch", str(tmp_path / "few.npz"), "--model", str(path), "--out", str(tmp_path / "r"),
                 "--metrics", "deletion", "--layer", "4"]) == 0
    assert "4 rows" in capsys.readouterr().out
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "r" / "results.parquet").to_pylist()
    assert len(table) == 4 and all(0 <= row["deletion"] <= 1 for row in table)
    assert main(["batch", str(tmp_path / "few.npz"), "--model", str(path), "--out", str(tmp_path / "r"),
                 "--methods", "nosuchcam"]) == 2
