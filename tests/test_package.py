"""Package-level promises: a light import, the public names, nothing shadowed."""

import subprocess
import sys

import cnnvis

HEAVY = ("torch", "tensorflow", "keras", "onnxruntime", "tensorrt", "jupyter_server")


def test_import_loads_no_framework():
    code = f"import sys, cnnvis; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_public_functions_are_not_shadowed_by_submodules():
    import cnnvis.api  # noqa: F401
    import cnnvis.graph_model  # noqa: F401

    for name in ("explain", "activations", "graph", "load", "read_scalars"):
        assert callable(getattr(cnnvis, name)), name


def test_every_error_is_a_cnnvis_error():
    for name in ("InputShapeError", "NonSpatialLayerError", "UnknownLayerError", "UnsafeFileError",
                 "UnsupportedFileError", "UnsupportedModelError", "TargetError", "CancelledError"):
        assert issubclass(getattr(cnnvis, name), cnnvis.CnnvisError)
