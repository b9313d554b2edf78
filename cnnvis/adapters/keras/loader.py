"""Opening Keras files (``.keras``, ``.h5``) with Keras's safe mode on.

Safe mode refuses layers that carry Python bytecode (``Lambda``); a user who trusts the file opts
in with ``cnnvis.load(path, safe_mode=False)``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from ...errors import UnsafeFileError, UnsupportedFileError
from ...handles import LoadedModel
from ...hookspecs import hookimpl

KERAS_SUFFIXES = {".keras", ".h5", ".hdf5"}

# Phrases Keras uses when safe mode blocks deserialising code (Lambda layers, pickled functions).
_UNSAFE_MARKERS = ("safe_mode", "unsafe", "arbitrary code", "lambda")


@hookimpl(trylast=True)
def cnnvis_load(path: str, options: dict) -> Any:
    file = Path(path)
    if file.suffix.lower() not in KERAS_SUFFIXES:
        return None
    safe_mode = bool(options.get("safe_mode", True))
    model = _load(file, safe_mode)
    fmt = "keras" if file.suffix.lower() == ".keras" else "h5"
    return LoadedModel(model, str(file), fmt, "keras", {"safe_mode": safe_mode})


def _load(file: Path, safe_mode: bool) -> Any:
    import_triton_before_tensorflow()
    try:
        import keras
    except ImportError:
        raise UnsupportedFileError(
            f"{file.name} is a Keras file, but Keras is not installed. Install tensorflow-cpu and keras>=3."
        ) from None
    try:
        return keras.saving.load_model(str(file), safe_mode=safe_mode, compile=False)
    except Exception as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if safe_mode and _is_unsafe(exc):
            raise UnsafeFileError(
                f"{file.name} contains a layer that stores Python code (such as a Lambda layer); loading it "
                "would run that code, so cnnvis opens Keras files with safe_mode=True and refused it. "
                "If you trust where the file comes from, opt in explicitly with "
                f"cnnvis.load({str(file)!r}, safe_mode=False). (Keras said: {message})"
            ) from None
        raise UnsupportedFileError(f"Keras could not open {file.name}: {message}") from None


def _is_unsafe(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(marker in text for marker in _UNSAFE_MARKERS)


def import_triton_before_tensorflow() -> None:
    """Load Triton (shipped with CUDA builds of PyTorch) first if present.

    Triton imported after TensorFlow crashes the process, and PyTorch loads it on demand
    (optimizers, torch.export); importing it first is safe in both orders of later use.
    """
    if "tensorflow" in sys.modules or importlib.util.find_spec("triton") is None:
        return
    try:
        import triton  # noqa: F401
    except Exception:  # a broken Triton only matters to PyTorch's compiler, not to cnnvis
        pass
