"""What a batch run reads: a folder of images, an ``.npz``, a sequence/torch Dataset, a tf.data.Dataset.

Every source becomes a stream of ``Item``s in a fixed order, so a chunk of the stream is the same
whichever worker explains it and a resumed run can skip what is done without loading it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CnnvisError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
NPZ_INPUT_KEYS = ("x", "images", "inputs")
NPZ_LABEL_KEYS = ("y", "labels", "targets")


@dataclass
class Item:
    key: str
    index: int
    array: np.ndarray | None = None
    label: int | None = None
    error: str | None = None


def describe(source: Any) -> str:
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    return f"{type(source).__module__}.{type(source).__qualname__}"


def iter_items(source: Any, layout: str, skip: Callable[[str], bool],
               preprocess: Callable[[np.ndarray], np.ndarray] | None = None) -> tuple[int | None, Iterator[Item]]:
    """``(item count or None, items)``; items whose key ``skip`` accepts are yielded without an array."""
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            return len(files), _folder(path, files, layout, skip, preprocess)
        if path.suffix.lower() == ".npz" and path.is_file():
            return _npz(path, skip)
        raise CnnvisError(f"A batch source must be a folder of images or an .npz file; {path} is neither.")
    if _is_tf_dataset(source):
        return None, _tf_dataset(source, skip)
    if hasattr(source, "__getitem__") and hasattr(source, "__len__"):
        return len(source), _sequence(source, skip)
    raise CnnvisError(
        f"cnnvis.batch reads folders, .npz files, torch Datasets, tf.data.Datasets and sequences of arrays, "
        f"not {type(source).__name__}."
    )


def _folder(root: Path, files: list[Path], layout: str, skip, preprocess) -> Iterator[Item]:
    for index, file in enumerate(files):
        key = file.relative_to(root).as_posix()
        if skip(key):
            yield Item(key, index)
        elif file.suffix.lower() not in IMAGE_SUFFIXES:
            yield Item(key, index, error=f"not an image file ({file.suffix or 'no extension'})")
        else:
            yield _read_image(file, key, index, layout, preprocess)


def _read_image(file: Path, key: str, index: int, layout: str, preprocess) -> Item:
    import cv2

    raw = cv2.imread(str(file), cv2.IMREAD_UNCHANGED)
    if raw is None:
        return Item(key, index, error="unreadable image (OpenCV could not decode it)")
    scale = float(np.iinfo(raw.dtype).max) if raw.dtype.kind in "ui" else 1.0
    image = raw.astype(np.float32) / scale
    if image.ndim == 2:
        image = image[:, :, None]
    elif image.shape[2] >= 3:
        image = image[:, :, 2::-1]  # OpenCV's BGR(A) to RGB, alpha dropped
    if preprocess is not None:
        try:
            return Item(key, index, np.asarray(preprocess(image), dtype=np.float32))
        except Exception as exc:  # a user function: its failure belongs to this item only
            return Item(key, index, error=f"preprocess failed: {exc!r}")
    array = image if layout == "nhwc" else image.transpose(2, 0, 1)
    return Item(key, index, np.ascontiguousarray(array))


def _npz(path: Path, skip) -> tuple[int, Iterator[Item]]:
    data = np.load(path, allow_pickle=False)  # never unpickle what a file says
    name = next((k for k in NPZ_INPUT_KEYS if k in data.files), data.files[0] if data.files else None)
    if name is None:
        raise CnnvisError(f"{path.name} holds no arrays.")
    inputs = data[name]
    label_name = next((k for k in NPZ_LABEL_KEYS if k in data.files and k != name), None)
    labels = data[label_name] if label_name is not None else None

    def items() -> Iterator[Item]:
        for index in range(len(inputs)):
            key = str(index)
            label = _label(labels[index]) if labels is not None else None
            yield Item(key, index, label=label) if skip(key) else Item(key, index, inputs[index], label)

    return len(inputs), items()


def _sequence(source: Any, skip) -> Iterator[Item]:
    for index in range(len(source)):
        key = str(index)
        if skip(key):
            yield Item(key, index)
            continue
        try:
            yield _from_element(source[index], key, index)
        except Exception as exc:  # the dataset's own loading code failed for this item
            yield Item(key, index, error=f"loading failed: {exc!r}")


def _is_tf_dataset(source: Any) -> bool:
    return type(source).__module__.startswith("tensorflow") and hasattr(source, "as_numpy_iterator")


def _tf_dataset(source: Any, skip) -> Iterator[Item]:
    # A tf.data pipeline can only be read in order, so done items are decoded and dropped.
    for index, element in enumerate(source.as_numpy_iterator()):
        key = str(index)
        yield Item(key, index) if skip(key) else _from_element(element, key, index)


def _from_element(element: Any, key: str, index: int) -> Item:
    label = None
    if isinstance(element, dict):
        element = next(iter(element.values()))
    elif isinstance(element, tuple | list):
        label = _label(element[1]) if len(element) > 1 else None
        element = element[0]
    if hasattr(element, "detach"):
        element = element.detach().cpu().numpy()
    return Item(key, index, np.asarray(element), label)


def _label(value: Any) -> int | None:
    """An integer class label, or None for anything else (one-hot vectors, masks, strings)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    arr = np.asarray(value)
    return int(arr) if arr.ndim == 0 and arr.dtype.kind in "iu" else None
