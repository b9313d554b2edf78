"""Every trust check on every model file a user can open: the demo's ``model.pt2`` (unflattened),
``model.onnx`` (no gradients: initializers randomised in a copy, gradient-free method) and
``model.keras``; the user's model is left as it was, and the model session says whether the checks
can run."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import cnnvis

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("keras")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict:
    """``python -m cnnvis.demo``'s files, trained one epoch (the checks need weights, not accuracy)."""
    directory = tmp_path_factory.mktemp("demo")
    code = textwrap.dedent("""
        import json, sys
        from cnnvis.demo import prepare_demo
        paths = prepare_demo(sys.argv[1], epochs=1, progress=False)
        print(json.dumps({key: None if value is None else str(value) for key, value in paths.items()}))
    """)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, "-c", code, str(directory)], capture_output=True, text=True,
                            timeout=600, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-4000:]
    paths = json.loads(result.stdout.strip().splitlines()[-1])
    images = np.load(paths["samples"])["inputs"][:2].astype(np.float32)
    return {**paths, "images": images}


def images_for(kind, demo):
    return demo["images"].transpose(0, 2, 3, 1) if kind == "keras" else demo["images"]


@pytest.mark.parametrize("kind", ["pt2", "onnx", "keras"])
def test_sanity_check_and_faithfulness_on_the_demo_files(demo, kind):
    assert demo[kind] is not None, f"the demo wrote no {kind} model"
    handle = cnnvis.load(demo[kind])
    x = images_for(kind, demo)
    before = cnnvis.explain(handle, x)
    report = cnnvis.sanity_check(handle, x, progress=False)
    assert report.layers and report.spearman.shape == (len(report.layers) + 1, len(x))
    np.testing.assert_allclose(report.spearman[0], 1.0, atol=1e-6)  # the original against itself
    assert report.final_spearman < 0.999  # destroying the weights changed the maps
    after = cnnvis.explain(handle, x)
    np.testing.assert_array_equal(before.maps, after.maps)  # the user's model was not touched
    curve = cnnvis.faithfulness(handle, x, before, progress=False, steps=8)
    assert curve.curves.shape == (len(x), 9) and np.isfinite(curve.auc).all()


def test_onnx_sanity_check_uses_a_gradient_free_method(demo):
    report = cnnvis.sanity_check(cnnvis.load(demo["onnx"]), demo["images"], progress=False)
    assert report.method == "eigencam"


@pytest.mark.parametrize("kind", ["pt2", "onnx", "keras"])
def test_model_session_says_the_checks_can_run(demo, kind):
    from cnnvis.services.models import ModelSession

    summary = ModelSession(cnnvis.load(demo[kind]), images_for(kind, demo)).summary()
    assert summary["can_check"] is True and summary["why"] == ""


def test_model_session_says_why_checks_cannot_run():
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    from cnnvis.adapters.onnx import OnnxModel
    from cnnvis.trust.capability import trust_capability

    graph = helper.make_graph([helper.make_node("Relu", ["tokens"], ["y"])], "g",
                              [helper.make_tensor_value_info("tokens", TensorProto.FLOAT, ["n", 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 8])])
    model = OnnxModel(helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)]))
    capability = trust_capability(cnnvis.adapters.base.resolve_adapter(model))
    assert capability["can_check"] is False and "not a batch of images" in capability["why"]
