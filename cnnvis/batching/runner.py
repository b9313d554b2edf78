"""``cnnvis.batch``: explain every item of a dataset, in this process, local processes or on Ray."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..errors import CnnvisError
from ..tables import Table
from .pools import make_pool
from .sources import Item, describe, iter_items
from .store import ResultStore, load_maps
from .workers import Chunk, ChunkWorker, Settings

METRICS = ("deletion", "insertion")


@dataclass
class BatchResult:
    """The run's rows (one per item x method) and where its maps are."""

    out: str
    rows: Table
    computed: int  # items explained by this call (not counting those a previous run finished)

    @property
    def failed(self) -> Table:
        return Table(row for row in self.rows if row["status"] != "ok")

    def maps(self, method: str) -> dict[str, np.ndarray]:
        """``{item key: (H, W) map}`` for ``method``."""
        return load_maps(self.out, self.rows, method)

    def to_pandas(self) -> Any:
        return self.rows.to_pandas()

    def __repr__(self) -> str:
        return f"BatchResult(out={self.out!r}, rows={len(self.rows)}, failed={len(self.failed)}, computed={self.computed})"


def batch(
    source: Any,
    model: Any,
    methods: Sequence[str] = ("gradcam",),
    metrics: Sequence[str] = (),
    out: str | os.PathLike = "results/",
    workers: int = 1,
    ray: bool = False,
    address: str | None = None,
    resume: bool = True,
    *,
    layer: str | None = None,
    chunk_size: int = 64,
    preprocess: Callable[[np.ndarray], np.ndarray] | None = None,
    progress: bool = True,
    device: str | None = None,
) -> BatchResult:
    """Explain every item of ``source`` with each of ``methods``; results in ``out/results.parquet``.

    ``source``: a folder of images, an ``.npz`` (array ``x``/``images``, labels ``y``), a torch
    Dataset or any sequence of arrays, or a ``tf.data.Dataset``. ``model``: a model object or a
    file ``cnnvis.load`` opens. ``workers``: local processes (1 = this process), or Ray actors with
    ``ray=True`` (a local cluster unless one is running) or ``address=`` (an existing cluster).
    A rerun with the same ``out`` skips what is done unless ``resume=False``. Items that cannot be
    read or explained are recorded as failed with the reason; the run goes on. ``device``: where a
    PyTorch model runs (``"cuda"``: one GPU per local worker, round robin; with Ray, ``num_gpus=1`` per
    actor); the next chunk is read while the current one computes.
    """
    methods, metrics = _check(methods, metrics, workers, chunk_size)
    store = ResultStore(out, metrics)
    if not resume:
        store.reset()
    done = store.done()
    layout = _layout(model)
    total, items = iter_items(source, layout, lambda key: all((key, m) in done for m in methods), preprocess)
    manifest = store.manifest()
    settings = Settings(layer=layer, metrics=metrics, threads=_threads(workers) if workers > 1 else None,
                        device=device)
    pool = make_pool(model, settings, workers, ray or address is not None, address)
    computed, saved = 0, False
    bar = tqdm(total=total, desc="cnnvis batch", unit="img", disable=not progress)
    try:
        chunks = _chunks(items, methods, done, chunk_size, manifest, bar)
        for chunk, (rows, maps) in pool.map(chunks):
            store.write(chunk.first_index, rows, maps)
            if not saved:  # the items' shape must survive a kill so a resumed run checks the same
                store.save_manifest({**manifest, "source": describe(source), "methods": methods})
                saved = True
            computed += len(chunk.keys)
            bar.update(len(chunk))
    finally:
        bar.close()
        pool.close()
    return BatchResult(out=os.fspath(out), rows=Table(store.gather()), computed=computed)


def _check(methods: Any, metrics: Any, workers: int, chunk_size: int) -> tuple[list[str], list[str]]:
    from ..cam.engine import get_method

    methods = [methods] if isinstance(methods, str) else list(methods)
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    if not methods:
        raise CnnvisError("Name at least one CAM method.")
    methods = [get_method(m).name for m in methods]  # unknown names fail before anything runs
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise CnnvisError(f"Unknown metric {unknown[0]!r}; batch runs compute {', '.join(METRICS)}.")
    for name, value in (("workers", workers), ("chunk_size", chunk_size)):
        if not isinstance(value, int) or value < 1:
            raise CnnvisError(f"{name} must be a positive integer, not {value!r}.")
    return methods, metrics


def _layout(model: Any) -> str:
    """Images from files go to Keras channels-last, to everything else channels-first."""
    module = type(getattr(model, "model", model)).__module__
    return "nhwc" if module.startswith(("keras", "tf_keras", "tensorflow")) else "nchw"


def _threads(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // workers)


def _chunks(items: Iterator[Item], methods: list[str], done: set, size: int, manifest: dict,
            bar: Any) -> Iterator[Chunk]:
    """Chunks of up to ``size`` pending items; finished ones only move the progress bar."""
    chunk = None
    for item in items:
        wanted = [m for m in methods if (item.key, m) not in done]
        if not wanted:
            bar.update(1)
            continue
        chunk = chunk or Chunk(first_index=item.index)
        error = item.error or _shape_error(item, manifest)
        if error:
            chunk.failed.extend({"key": item.key, "index": item.index, "method": m, "status": "failed",
                                 "error": error, "label": item.label} for m in wanted)
        else:
            chunk.keys.append(item.key)
            chunk.indices.append(item.index)
            chunk.labels.append(item.label)
            chunk.arrays.append(np.asarray(item.array, dtype=np.float32))
            chunk.methods.append(wanted)
        if len(chunk.keys) >= size:
            yield chunk
            chunk = None
    if chunk is not None:
        yield chunk


def _shape_error(item: Item, manifest: dict) -> str | None:
    """Every item of a run has the first good item's shape (kept in the manifest for resumes)."""
    shape = list(np.shape(item.array))
    if np.asarray(item.array).dtype.kind not in "fiub":
        return f"not a numeric array ({np.asarray(item.array).dtype})"
    manifest.setdefault("shape", shape)
    if shape != manifest["shape"]:
        return f"wrong shape {tuple(shape)}: this run's items are {tuple(manifest['shape'])}"
    return None


__all__ = ["BatchResult", "ChunkWorker", "batch"]
