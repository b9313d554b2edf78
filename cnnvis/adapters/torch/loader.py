"""Opening PyTorch files without unpickling anything: ``.pt2`` (torch.export) and TorchScript.

A whole-model ``torch.save`` pickle is refused; a state_dict loads with ``weights_only=True`` into
a module the caller passes as ``model=``.
"""

from __future__ import annotations

import io
import json
import posixpath
import warnings
import zipfile
from pathlib import Path
from typing import Any

from ...errors import CnnvisError, UnsafeFileError, UnsupportedFileError
from ...handles import LoadedModel
from ...hookspecs import hookimpl

TORCH_SUFFIXES = {".pt2", ".pt", ".pth", ".ts", ".torchscript", ".bin", ".ckpt"}
PICKLE_PROTOCOL_BYTE = 0x80
MAX_CONFIG_BYTES = 64 * 2**20  # an archive's JSON payload configs are kilobytes


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
            return _load_exported(file)
        if any("/code/" in n or n.endswith("constants.pkl") for n in names):
            return _load_torchscript(file)
    return _load_state_dict(file, options)


def _load_exported(file: Path) -> LoadedModel:
    """A torch.export archive, read once into memory so that what is checked is what loads.

    Every pickled member must be a plain tensor (read with ``weights_only=True``); sample inputs
    that are not are dropped from the archive (they only serve as examples) and said so.
    """
    import torch

    data = file.read_bytes()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as checked:
            dropped = _check_exported_archive(checked)
            if dropped:
                data = _without_members(checked, dropped)
    except CnnvisError:
        raise
    except (ValueError, KeyError, StopIteration, TypeError, AttributeError, zipfile.BadZipFile) as exc:
        raise UnsupportedFileError(f"{file.name} is not a readable torch.export archive: {exc!r}") from None
    try:
        # The bytes checked above: every pickled member torch reads next passed the weights-only reader,
        # so torch's own fallback to a full unpickler is never reached.
        program = torch.export.load(io.BytesIO(data))
    except Exception as exc:
        raise UnsupportedFileError(f"{file.name} is not a readable torch.export archive: {exc}") from None
    info: dict[str, Any] = {"exported_program": program}
    if dropped:
        info["ignored"] = dropped
        warnings.warn(f"{file.name}: ignored its sample inputs ({', '.join(dropped)}): they are not plain "
                      "tensors, and cnnvis does not unpickle files. The model itself loaded.", stacklevel=3)
    try:
        # Unflattened, the submodules really run, so layers can be hooked by their qualified names.
        module = torch.export.unflatten(program)
    except Exception:
        module = program.module()
    return LoadedModel(module, str(file), "pt2", "torch", info)


def _check_exported_archive(archive: zipfile.ZipFile) -> list[str]:
    """Refuse archives that torch would unpickle beyond plain tensors or that carry compiled code;
    return the sample-input members that are not plain tensors (to be dropped).

    Every member torch.export.load may unpickle is read here first with the weights-only reader: the
    payloads a config marks as pickled, legacy constants, sample inputs.
    """
    from torch.export.pt2_archive import constants

    names = archive.namelist()
    if len(names) != len(set(names)):  # which copy a reader takes differs between zip readers
        raise UnsafeFileError("The archive lists a member twice; cnnvis does not open ambiguous archives.")
    unsafe_prefixes = (constants.CUSTOM_OBJ_FILENAME_PREFIX, constants.OPAQUE_OBJ_FILENAME_PREFIX)
    for name in names:
        if constants.AOTINDUCTOR_DIR.rstrip("/") in name:
            raise UnsafeFileError(f"The archive holds compiled code ({name}, AOTInductor); loading it would run "
                                  "that code. Save the exported program alone with torch.export.save.")
        if constants.CONSTANTS_DIR in name and posixpath.basename(name).startswith(unsafe_prefixes):
            raise UnsafeFileError(
                f"The archive holds a pickled Python object ({name}); cnnvis does not unpickle files."
            )
        if constants.CONSTANTS_DIR in name and name.endswith(".pt") and not _plain(archive, name, "container"):
            raise UnsafeFileError(f"The archive's constants {name} are not plain tensors; cnnvis does not "
                                  "unpickle files.")
    for name in names:
        if not name.endswith(".json") or "config" not in posixpath.basename(name):
            continue
        config = json.loads(_member(archive, name, MAX_CONFIG_BYTES)).get("config", {})
        for meta in config.values():
            if isinstance(meta, dict) and meta.get("use_pickle"):
                blobs = [n for n in names if n.endswith("/" + str(meta.get("path_name")))]
                if not blobs or not all(_plain(archive, blob, "tensor") for blob in blobs):
                    raise UnsafeFileError(f"The archive's payload {meta.get('path_name')!r} is not a plain "
                                          "tensor; cnnvis does not unpickle files.")
    samples = [n for n in names if constants.SAMPLE_INPUTS_DIR in n]
    return [n for n in samples if archive.getinfo(n).file_size and not _plain(archive, n, "inputs")]


def _member(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """A member's bytes, refused before reading when its declared size is over ``limit``."""
    size = archive.getinfo(name).file_size
    if size > limit:
        raise UnsupportedFileError(f"The archive's {name} declares {size} bytes, more than the "
                                   f"{limit} cnnvis reads for it.")
    with archive.open(name) as fh:
        return fh.read(limit + 1)[:limit]


def _plain(archive: zipfile.ZipFile, name: str, expect: str) -> bool:
    """True when the member unpickles with the weights-only reader into what torch expects there:
    a ``tensor``, sample ``inputs`` (an ``(args, kwargs)`` pair) or a ``container`` (tuple or dict)."""
    import torch

    try:
        value = torch.load(io.BytesIO(archive.read(name)), weights_only=True, map_location="cpu")
    except Exception:
        return False
    if expect == "tensor":
        return isinstance(value, torch.Tensor)
    if expect == "inputs":
        return isinstance(value, tuple) and len(value) == 2
    return isinstance(value, (tuple, dict))


def _without_members(archive: zipfile.ZipFile, dropped: list[str]) -> bytes:
    """The archive again, with ``dropped`` members emptied (an empty member means "none" to torch)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as copy:
        for info in archive.infolist():
            copy.writestr(info.filename, b"" if info.filename in dropped else archive.read(info.filename))
    return out.getvalue()


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
