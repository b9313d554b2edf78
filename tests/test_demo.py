"""The bundled demo: training script, its files, and the demo notebook run in a real kernel."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("tensorboard")

import cnnvis  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "demo" / "demo.ipynb"
GENERATOR = ROOT / "examples" / "make_demo_notebook.py"
EPOCHS = 4  # enough for > 95% on the held-out digits, a few seconds on one core


def _run(code: str, *args: str) -> subprocess.CompletedProcess:
    """Run Python in a fresh interpreter of this environment (the demo imports TensorBoard)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, *args] if not code else [sys.executable, "-c", code, *args],
                          capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("demo")
    code = textwrap.dedent("""
        import json, sys
        from cnnvis.demo import prepare_demo
        paths = prepare_demo(sys.argv[1], epochs=int(sys.argv[2]), progress=False)
        print(json.dumps({key: None if value is None else str(value) for key, value in paths.items()}))
    """)
    result = _run(code, str(directory), str(EPOCHS))
    assert result.returncode == 0, result.stderr[-4000:]
    paths = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(paths["directory"]) == directory
    return directory


def test_digits_net_and_dataset_shapes():
    from cnnvis.demo import DigitsNet, load_digits_dataset

    data = load_digits_dataset()
    assert data["x_train"].dtype == np.float32 and data["x_train"].shape[1:] == (1, 16, 16)
    assert len(data["x_train"]) + len(data["x_test"]) == 1797
    assert 0.0 <= data["x_train"].min() and data["x_train"].max() <= 1.0
    model = DigitsNet().eval()
    with torch.no_grad():
        assert model(torch.from_numpy(data["x_test"][:3])).shape == (3, 10)
    acts = cnnvis.activations(model, torch.from_numpy(data["x_test"][:2]), layers="features")
    assert acts["features"].shape == (2, 64, 8, 8)  # the CAM layer keeps room for a heatmap


def test_prepare_demo_writes_its_files(demo_dir):
    for name in ("model.pt2", "samples.npz", "demo.json"):
        assert (demo_dir / name).is_file(), name
    meta = json.loads((demo_dir / "demo.json").read_text())
    assert meta["epochs"] == EPOCHS and meta["test_accuracy"] > 0.9
    if meta["files"].get("onnx"):
        onnx = pytest.importorskip("onnx")
        onnx.checker.check_model(str(demo_dir / "model.onnx"))


def test_pt2_loads_and_classifies_the_samples(demo_dir):
    samples = np.load(demo_dir / "samples.npz", allow_pickle=False)
    inputs, labels = samples["inputs"], samples["labels"]
    assert inputs.dtype == np.float32 and inputs.ndim == 4 and inputs.shape[1] == 1
    assert labels.shape == (len(inputs),)

    handle = cnnvis.load(demo_dir / "model.pt2")
    assert handle.format == "pt2"
    with torch.no_grad():
        predicted = handle.model(torch.from_numpy(inputs)).argmax(1).numpy()
    assert np.mean(predicted == labels) > 0.8

    exp = cnnvis.explain(handle, torch.from_numpy(inputs[:4]), progress=False)
    assert exp.layer == "features" and exp.maps.shape == (4, 16, 16)


def test_logdir_has_train_and_validation_runs(demo_dir):
    logdir = demo_dir / "runs"
    for run in ("train", "validation"):
        assert list((logdir / run).glob("events.out.tfevents.*")), run
    runs = cnnvis.read_scalars(logdir)
    assert {"loss", "accuracy", "learning_rate", "grad_norm"} <= set(runs["train"])
    assert {"loss", "accuracy"} <= set(runs["validation"])
    assert list(runs["validation"]["accuracy"].steps) == list(range(1, EPOCHS + 1))
    histograms = cnnvis.read_histograms(logdir)["train"]
    assert any(tag.startswith("weights/") for tag in histograms)
    assert any(tag.startswith("grads/") for tag in histograms)


def test_keras_twin_matches_the_torch_model(demo_dir):
    pytest.importorskip("keras")
    if not (demo_dir / "model.keras").exists():
        pytest.fail("the demo wrote no model.keras although Keras is installed")
    samples = np.load(demo_dir / "samples.npz", allow_pickle=False)
    x = samples["inputs"][:4]
    twin = cnnvis.load(demo_dir / "model.keras")
    torch_model = cnnvis.load(demo_dir / "model.pt2")
    keras_exp = cnnvis.explain(twin, x.transpose(0, 2, 3, 1), layer="features_6", target=[0, 1, 2, 3])
    torch_exp = cnnvis.explain(torch_model, torch.from_numpy(x), layer="features", target=[0, 1, 2, 3])
    np.testing.assert_allclose(keras_exp.outputs, torch_exp.outputs, atol=1e-4)
    np.testing.assert_allclose(keras_exp.raw, torch_exp.raw, atol=1e-4)


def test_cli_skips_training_when_up_to_date(demo_dir):
    before = (demo_dir / "model.pt2").stat().st_mtime_ns
    result = _run("", "-m", "cnnvis.demo", str(demo_dir), "--epochs", str(EPOCHS))
    assert result.returncode == 0, result.stderr[-4000:]
    assert "up to date" in result.stdout
    assert (demo_dir / "model.pt2").stat().st_mtime_ns == before


def test_committed_notebook_is_generated_and_clean():
    nbformat = pytest.importorskip("nbformat")
    spec = importlib.util.spec_from_file_location("make_demo_notebook", GENERATOR)
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    committed = nbformat.read(NOTEBOOK, as_version=4)
    expected = generator.build()
    assert [(c.cell_type, c.source) for c in committed.cells] == [(c.cell_type, c.source) for c in expected.cells], (
        "examples/demo/demo.ipynb differs from examples/make_demo_notebook.py: run the script"
    )
    for cell in committed.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_demo_notebook_executes(demo_dir, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("matplotlib")

    workdir = tmp_path / "demo"
    shutil.copytree(demo_dir, workdir)
    shutil.copy(NOTEBOOK, workdir / "demo.ipynb")
    notebook = nbformat.read(workdir / "demo.ipynb", as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(workdir)}})
    client.execute()  # raises CellExecutionError if a cell fails

    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    text = "".join(out.get("text", "") for out in outputs if out.output_type == "stream")
    assert f"Prefix: {sys.prefix}\n" in text, f"the kernel ran another Python than {sys.executable}:\n{text[:500]}"
    assert "Accuracy:" in text
    assert any("image/png" in out.get("data", {}) for out in outputs)
    # FP32 against INT8: the graph painted with each layer's damage, the layers kept in float outlined
    painted = [out["data"]["image/svg+xml"] for out in outputs if "image/svg+xml" in out.get("data", {})]
    assert len(painted) == 1 and "cnnvis-compare-graph" in painted[0] and "kept in float" in painted[0]
