"""Opening PyTorch files without unpickling anything: ``.pt2`` (torch.export) and TorchScript.

A whole-model ``torch.save`` pickle is refused; a state_dict loads with ``weights_only=True`` into
a module the caller passes as ``model=``.
"""

from __future__ import annotations

import io
import json
import posixpath
import zipfile
from pathlib import Path
from typing import Any

from ...errors import CnnvisError, UnsafeFileError, UnsupportedFileError
from ...handles import LoadedModel
from ...hookspecs import hookimpl

TORCH_SUFFIXES = {".pt2", ".pt", ".pth", ".ts", ".torchscript", ".bin", ".ckpt"}
PICKLE_PROTOCOL_BYTE = 0x80


@hookimpl(trylast=True)
def cnnvis_load(path: str, options: dict) -> Any:
    file = Path(path)
    if file.suffix.lower() not in TORCH_SUFFIXES:
        return None
    with open(file, "rb") as fh:
        head = fh.read(4)
    if head[:1] == bytes([PICKLE_PROTOCOL_BYTE]):
        raise UnsafeFileError(
            f"{file.name} is a raw pickle, not a weights-only checkpoint; cnnvis never unpickles files. "
            "Export the model with torch.export.save (.pt2) or TorchScript, or save model.state_dict() "
            "with torch.save and load it with cnnvis.load(path, model=YourModel())."
        )
    if not zipfile.is_zipfile(file):
        raise UnsupportedFileError(
            f"{file.name} is not a PyTorch archive (torch.export, TorchScript or torch.save files are zips)."
        )
    with zipfile.ZipFile(file) as archive:
        names = archive.namelist()
        if file.suffix.lower() == ".pt2" or any(n.endswith("archive_format") for n in names):
            return _load_exported(file, archive)
        if any("/code/" in n or n.endswith("constants.pkl") for n in names):
            return _load_torchscript(file)
    return _load_state_dict(file, options)


def _load_exported(file: Path, archive: zipfile.ZipFile) -> LoadedModel:
    import torch

    try:
        _check_exported_archive(archive)
    except CnnvisError:
        raise
    except (ValueError, KeyError, StopIteration, TypeError, AttributeError) as exc:
        raise UnsupportedFileError(f"{file.name} is not a readable torch.export archive: {exc!r}") from None
    try:
        program = torch.export.load(str(file))
    except Exception as exc:
        raise UnsupportedFileError(f"{file.name} is not a readable torch.export archive: {exc}") from None
    try:
        # Unflattened, the submodules really run, so layers can be hooked by their qualified names.
        module = torch.export.unflatten(program)
    except Exception:
        module = program.module()
    return LoadedModel(module, str(file), "pt2", "torch", {"exported_program": program})


def _check_exported_archive(archive: zipfile.ZipFile) -> None:
    """Refuse archives whose payload would be unpickled beyond plain tensors."""
    import torch
    from torch.export.pt2_archive import constants

    names = archive.namelist()
    unsafe_prefixes = (constants.CUSTOM_OBJ_FILENAME_PREFIX, constants.OPAQUE_OBJ_FILENAME_PREFIX)
    for name in names:
        if constants.CONSTANTS_DIR in name and posixpath.basename(name).startswith(unsafe_prefixes):
            raise UnsafeFileError(
                f"The archive holds a pickled Python object ({name}); cnnvis does not unpickle files."
            )
    for name in names:
        if not name.endswith(".json") or "config" not in posixpath.basename(name):
            continue
        config = json.loads(archive.read(name)).get("config", {})
        for meta in config.values():
            if isinstance(meta, dict) and meta.get("use_pickle"):
                blob = next(n for n in names if n.endswith("/" + meta["path_name"]))
                try:
                    torch.load(io.BytesIO(archive.read(blob)), weights_only=True)
                except Exception:
                    raise UnsafeFileError(
                        f"The archive's payload {blob} is not a plain tensor; cnnvis does not unpickle files."
                    ) from None


def _load_torchscript(file: Path) -> LoadedModel:
    import torch

    try:
        module = torch.jit.load(str(file), map_location="cpu")
    except Exception as exc:
        raise UnsupportedFileError(f"{file.name} is not a readable TorchScript archive: {exc}") from None
    return LoadedModel(module, str(file), "torchscript", "torch")


def _load_state_dict(file: Path, options: dict) -> LoadedModel:
    import pickle

    import torch

    try:
        state = torch.load(str(file), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise UnsafeFileError(
            f"{file.name} holds pickled Python objects (a whole model saved with torch.save(model)); "
            "cnnvis never unpickles files. Save model.state_dict() instead and load it with "
            "cnnvis.load(path, model=YourModel()), or export with torch.export.save."
        ) from None
    except Exception as exc:
        raise UnsupportedFileError(f"{file.name} is not a PyTorch checkpoint cnnvis can read: {exc}") from None
    model = options.get("model")
    if model is None:
        raise CnnvisError(
            f"{file.name} is a weights-only checkpoint (a state_dict): it has no architecture. "
            "Pass the module to fill: cnnvis.load(path, model=YourModel())."
        )
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    try:
        model.load_state_dict(state)
    except Exception as exc:
        raise CnnvisError(f"{file.name} does not fit the given model: {exc}") from None
    return LoadedModel(model, str(file), "state_dict", "torch")
