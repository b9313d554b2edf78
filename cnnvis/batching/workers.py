"""The work done on one chunk, the same in this process, a local process pool or a Ray actor."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Chunk:
    first_index: int
    keys: list[str] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)
    labels: list[int | None] = field(default_factory=list)
    arrays: list[np.ndarray] = field(default_factory=list)
    methods: list[list[str]] = field(default_factory=list)  # per item: the methods still to run
    failed: list[dict] = field(default_factory=list)  # rows for items that failed while loading

    def __len__(self) -> int:
        return len(self.keys) + len({row["key"] for row in self.failed})


@dataclass
class Settings:
    layer: str | None = None
    metrics: list[str] = field(default_factory=list)
    batch_size: int | None = None  # images per pass: None sizes passes from the device's free memory
    threads: int | None = None
    device: str | None = None  # where a PyTorch model runs ("cuda", "cuda:1"); None: where it is


class ChunkWorker:
    """Holds the model (loaded once per worker) and explains chunks with every requested method."""

    def __init__(self, model: Any, settings: Settings):
        if isinstance(model, str | os.PathLike):
            from ..api import load

            model = load(model)
        from ..cam.devices import to_device

        self.model = to_device(model, worker_device(settings.device))
        self.settings = settings
        _limit_threads(settings.threads)

    def run(self, chunk: Chunk) -> tuple[list[dict], dict[str, np.ndarray]]:
        rows, maps = list(chunk.failed), {}
        for method in sorted({m for wanted in chunk.methods for m in wanted}):
            picked = [i for i, wanted in enumerate(chunk.methods) if method in wanted]
            method_rows, method_maps = self._explain(chunk, method, picked)
            for row in method_rows:
                row["map_row"] = row.pop("_row", None)  # each method appears once per chunk
            rows.extend(method_rows)
            if len(method_maps):
                maps[method] = method_maps
        return rows, maps

    def _explain(self, chunk: Chunk, method: str, picked: list[int]) -> tuple[list[dict], np.ndarray]:
        try:
            return self._explain_together(chunk, method, picked)
        except Exception:
            if len(picked) == 1:
                raise
        # One bad item must not sink its chunk: explain one at a time and record each failure.
        rows, maps = [], []
        for i in picked:
            try:
                one_rows, one_maps = self._explain_together(chunk, method, [i])
            except Exception as exc:
                rows.append(_row(chunk, i, method, status="failed", error=_reason(exc)))
                continue
            one_rows[0]["_row"] = len(maps)
            rows.extend(one_rows)
            maps.append(one_maps[0])
        return rows, np.stack(maps) if maps else np.empty((0,), np.float32)

    def _explain_together(self, chunk: Chunk, method: str, picked: list[int]) -> tuple[list[dict], np.ndarray]:
        from ..api import explain
        from ..trust.perturbation import faithfulness

        batch = np.stack([chunk.arrays[i] for i in picked])
        exp = explain(self.model, batch, method, layer=self.settings.layer, progress=False,
                      batch_size=self.settings.batch_size)
        scores = {m: faithfulness(self.model, batch, exp, m, progress=False).auc for m in self.settings.metrics}
        rows = []
        for n, (i, target) in enumerate(zip(picked, exp.targets, strict=True)):
            row = _row(chunk, i, method, status="ok", target=int(target), score=float(exp.outputs[n, target]))
            row.update({m: float(values[n]) for m, values in scores.items()})
            row["_row"] = n
            rows.append(row)
        return rows, exp.maps.astype(np.float32)


def worker_device(device: str | None) -> str | None:
    """``"cuda"`` for a pool of local processes means one GPU per worker, round robin over the visible ones
    (Ray gives each actor its own GPU, which it sees as ``cuda``)."""
    index = os.environ.get("CNNVIS_WORKER_INDEX")
    if device != "cuda" or index is None:
        return device
    torch = sys.modules.get("torch")
    count = torch.cuda.device_count() if torch is not None else 0
    return f"cuda:{int(index) % count}" if count > 1 else device


def _row(chunk: Chunk, i: int, method: str, **values: Any) -> dict:
    return {"key": chunk.keys[i], "index": chunk.indices[i], "method": method, "label": chunk.labels[i], **values}


def _reason(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def _limit_threads(threads: int | None) -> None:
    """Several workers on one machine each get a share of the cores instead of all of them."""
    if threads is None:
        return
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


# The process-pool side: one worker per process, built by the pool's initializer.
_PROCESS_WORKER: ChunkWorker | None = None


def init_process(model: Any, settings: Settings, counter: Any = None) -> None:
    global _PROCESS_WORKER
    if counter is not None:  # which worker this process is: its GPU when the run asks for "cuda"
        with counter.get_lock():
            os.environ["CNNVIS_WORKER_INDEX"] = str(counter.value)
            counter.value += 1
    _PROCESS_WORKER = ChunkWorker(model, settings)


def run_in_process(chunk: Chunk) -> tuple[list[dict], dict[str, np.ndarray]]:
    return _PROCESS_WORKER.run(chunk)
