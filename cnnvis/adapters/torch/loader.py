"""Opening PyTorch files without unpickling anything: ``.pt2`` (torch.export) and TorchScript.

A whole-model ``torch.save`` pickle is refused; a state_dict loads with ``weights_only=True`` into
a module the caller passes as ``model=``.
"""

from __future__ import annotations

import functools
import io
import json
import posixpath
import re
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
MAX_MODEL_JSON_BYTES = 1 << 30  # a program's graph: megabytes for large models
MAX_INFLATION = 8  # declared content per byte of file (torch stores members uncompressed: about 1)


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
        _check_inflation(archive, file)
        if file.suffix.lower() == ".pt2" or any(n.endswith("archive_format") for n in names):
            return _load_exported(file)
        if any("/code/" in n or n.endswith("constants.pkl") for n in names):
            return _load_torchscript(file)
    return _load_state_dict(file, options)


def _check_inflation(archive: zipfile.ZipFile, file: Path) -> None:
    """torch writes its archives uncompressed: members declaring far more than the file holds are a
    zip bomb, refused before any reader inflates them."""
    declared = sum(info.file_size for info in archive.infolist())
    if declared > MAX_INFLATION * file.stat().st_size + MAX_CONFIG_BYTES:
        raise UnsafeFileError(f"{file.name} declares {declared} bytes of content in a {file.stat().st_size}-byte "
                              "file; PyTorch writes its archives uncompressed, so cnnvis refuses it.")


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
    except (ValueError, KeyError, StopIteration, TypeError, AttributeError, RecursionError,
            zipfile.BadZipFile) as exc:
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
    for name in names:
        if f"/{constants.MODELS_DIR}" in f"/{name}" and name.endswith(".json"):
            _check_expressions(name, _member(archive, name, MAX_MODEL_JSON_BYTES))
    samples = [n for n in names if constants.SAMPLE_INPUTS_DIR in n]
    return [n for n in samples if archive.getinfo(n).file_size and not _plain(archive, n, "inputs")]


def _check_expressions(member: str, data: bytes) -> None:
    """Refuse symbolic shapes that are not plain sympy expressions.

    torch.export.load hands each ``expr_str`` of the program to ``sympy.sympify``, which evaluates
    it as Python: a crafted one runs code. Only names of sympy's arithmetic, the symbolic shape
    functions and unknown names (which become symbols) may appear; no attributes, no dunders.
    """
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        raise UnsupportedFileError(f"The archive's {member} is not readable JSON.") from None
    stack = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            expr = item.get("expr_str")
            if expr is not None and not _plain_expression(expr):
                raise UnsafeFileError(f"The archive's {member} holds a symbolic shape that is not a plain "
                                      f"expression ({str(expr)[:80]!r}); loading it would run it as code.")
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_]\w*)|(?P<number>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)"
                    r"|(?P<string>'[\w.+\- ]*')|(?P<op>[(),=+\-*/]))")
_SYMPY_NAMES = frozenset({
    "Symbol", "Dummy", "Integer", "Rational", "Float", "Add", "Mul", "Pow", "Mod", "Max", "Min", "Abs", "floor",
    "ceiling", "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "StrictLessThan", "StrictGreaterThan", "LessThan",
    "GreaterThan", "Equality", "Unequality", "And", "Or", "Not", "Piecewise", "ExprCondPair", "true", "false",
    "oo", "zoo", "nan", "Infinity", "NegativeInfinity", "NaN", "One", "Zero", "NegativeOne", "Half", "sqrt",
    "log", "exp", "sign", "ITE", "BooleanTrue", "BooleanFalse", "Tuple", "True", "False", "precision", "evaluate",
})
MAX_EXPRESSION = 100_000


def _plain_expression(expr: Any) -> bool:
    if not isinstance(expr, str) or len(expr) > MAX_EXPRESSION:
        return False
    allowed, forbidden = _expression_names()
    pos = 0
    while pos < len(expr):
        token = _TOKEN.match(expr, pos)
        if token is None or token.end() == pos:
            return expr[pos:].isspace()
        name = token.group("name")
        if name is not None and name not in allowed and (name.startswith("_") or name in forbidden):
            return False
        pos = token.end()
    return True


@functools.lru_cache(maxsize=1)
def _expression_names() -> tuple[frozenset[str], frozenset[str]]:
    """(names an expression may use, names it may not: the rest of sympy, builtins, keywords)."""
    import builtins
    import keyword

    import sympy
    import torch.utils._sympy.functions as shape_functions
    from sympy.core.assumptions import _assume_defined

    shape = {n for n, v in vars(shape_functions).items() if isinstance(v, type) and issubclass(v, sympy.Basic)}
    allowed = frozenset(_SYMPY_NAMES | shape | set(_assume_defined))
    return allowed, frozenset(set(dir(sympy)) | set(dir(builtins)) | set(keyword.kwlist)) - allowed


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
