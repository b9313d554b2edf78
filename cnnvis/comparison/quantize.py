"""``cnnvis.quantize``: an INT8 build of an ONNX model that keeps its accuracy, with the fewest
layers left in float.

The search: quantize everything; if retention (INT8 accuracy over FP32 accuracy on the labelled
calibration images) is below the target, rank the layers by the error each adds
(:func:`cnnvis.compare`), find by bisection the shortest prefix of that ranking which, kept in
float, reaches the target, then try dropping each kept layer again while rounds remain. Every
round is one ``quantize_static`` and one evaluation; each is a row of ``candidates``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CancelledError, CnnvisError
from ..tables import Table
from .int8 import quantize_onnx
from .latency import PROFILE_ROWS
from .metrics import INT8_RETENTION, check_labels, retention, top1

DEFAULT_ROUNDS = 12
FLAG_COSINE = 0.99  # a layer whose INT8 output agrees less than this with FP32 is flagged
RANK_IMAGES = 32  # images the layer ranking is computed on
PROFILE_RUNS = 3  # each candidate's latency: 3 profiled runs of compare's PROFILE_ROWS images
_NOT_QUANTIZED = {"Relu", "Clip", "Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Softmax", "Identity"}


class QuantizeResult:
    """``path``: the model written; ``retention`` of it; ``kept_float``: its nodes left in float;
    ``candidates``: every model tried (``kept_float``, ``accuracy``, ``retention``, ``size_bytes``,
    ``latency_ms`` per input as onnxruntime's profiler timed the model's runs, ``passed``);
    ``latency_fp32_ms`` the same for the FP32 model; ``ranked``: the quantizable layers, most
    damaging first; ``flagged``: layers whose full-INT8 output had cosine below 0.99."""

    def __init__(self, path: Path, retention: float, kept_float: list[str], candidates: Table, *,
                 accuracy_fp32: float, accuracy: float, target: float, ranked: list[str], flagged: list[str]):
        self.path, self.retention, self.kept_float, self.candidates = path, retention, kept_float, candidates
        self.accuracy_fp32, self.accuracy, self.target = accuracy_fp32, accuracy, target
        self.ranked, self.flagged = ranked, flagged
        self.latency_fp32_ms: float | None = None

    @property
    def reached(self) -> bool:
        return self.retention >= self.target

    @property
    def rounds(self) -> int:
        return len(self.candidates)

    def __repr__(self) -> str:
        return (f"QuantizeResult({self.path.name}: retention {self.retention:.4f} (target {self.target}), "
                f"{len(self.kept_float)} layer(s) kept in float, {self.rounds} rounds)")


def quantize(fp32_onnx: str | os.PathLike, calibration: Any, labels: Any, target_retention: float = INT8_RETENTION,
             out: str | os.PathLike | None = None, *, max_rounds: int = DEFAULT_ROUNDS, per_channel: bool = True,
             progress: bool | Callable[[int, int], None] = True, cancel: Any = None) -> QuantizeResult:
    """Quantizes ``fp32_onnx`` to INT8 (QDQ) calibrated on ``calibration`` (images in the model's
    layout, with their ``labels``), keeping the fewest layers in float that reach
    ``target_retention``. Writes ``out`` (default: ``<name>.mixed.onnx`` beside the model)."""
    search = _Search(Path(fp32_onnx), calibration, labels, target_retention, max_rounds, per_channel, progress, cancel)
    try:
        return search.run(Path(out) if out is not None else Path(fp32_onnx).with_suffix(".mixed.onnx"))
    finally:
        search.close()


class _Search:
    def __init__(self, source: Path, calibration: Any, labels: Any, target: float, max_rounds: int,
                 per_channel: bool, progress: Any, cancel: Any):
        from ..api import load

        if not source.is_file():
            raise CnnvisError(f"No ONNX model at {source}; quantize takes the path of an FP32 .onnx file.")
        if not 0 < target <= 1.5 or max_rounds < 2:
            raise CnnvisError(f"target_retention must be in (0, 1.5] and max_rounds at least 2, not "
                              f"{target!r} and {max_rounds!r}.")
        self.source, self.target, self.max_rounds, self.per_channel = source, float(target), max_rounds, per_channel
        self.cancel, self.progress = cancel, progress
        self.fp32 = load(source)
        self.inputs = np.asarray(calibration.detach().cpu().numpy() if hasattr(calibration, "detach") else calibration)
        self.labels = check_labels(labels, len(self.inputs))
        self.accuracy_fp32 = self._accuracy(self.fp32)
        if self.accuracy_fp32 == 0:
            raise CnnvisError("The FP32 model gets none of the labelled images right, so retention is undefined; "
                              "check the labels and the images' preprocessing.")
        self.folder = Path(tempfile.mkdtemp(prefix="cnnvis-quantize-"))
        self.candidates = Table()
        self.bar = _bar(progress, max_rounds)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def run(self, out: Path) -> QuantizeResult:
        first = self._round([])
        ranked, flagged = ([], []) if first["passed"] else self._rank(first["path"])
        best = first if first["passed"] else self._bisect(ranked)
        if best is not first:
            best = self._prune(best)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(best["path"], out)
        for row in self.candidates:
            row.pop("path", None)
        result = QuantizeResult(out, best["retention"], list(best["kept_float"]), self.candidates,
                                accuracy_fp32=self.accuracy_fp32, accuracy=best["accuracy"], target=self.target,
                                ranked=ranked, flagged=flagged)
        result.latency_fp32_ms = self._latency(self.fp32)
        return result

    def _rank(self, int8_path: Path) -> tuple[list[str], list[str]]:
        from ..api import load
        from .core import compare

        rows = compare(self.fp32, load(int8_path), self.inputs[:RANK_IMAGES], progress=False, cancel=self.cancel)
        usable = [r for r in rows.ranked if r["op_type"] not in _NOT_QUANTIZED]
        return [r["layer"] for r in usable], [r["layer"] for r in rows if r["cosine"] < FLAG_COSINE]

    def _bisect(self, ranked: list[str]) -> dict:
        """The shortest prefix of ``ranked`` that, kept in float, reaches the target."""
        if not ranked:
            return self.candidates[0]
        every = self._round(ranked)
        if not every["passed"]:
            return max(self.candidates, key=lambda c: c["retention"])  # unreachable: the best seen
        low, high, best = 0, len(ranked), every
        while high - low > 1 and self._rounds_left() > 0:
            middle = (low + high) // 2
            tried = self._round(ranked[:middle])
            if tried["passed"]:
                high, best = middle, tried
            else:
                low = middle
        return best

    def _prune(self, best: dict) -> dict:
        """Drops kept layers one at a time (least damaging first) while the target still holds."""
        kept = list(best["kept_float"])
        for name in reversed(list(kept)):
            if len(kept) <= 1 or self._rounds_left() <= 0:
                break
            tried = self._round([k for k in kept if k != name])
            if tried["passed"]:
                kept, best = list(tried["kept_float"]), tried
        return best

    def _rounds_left(self) -> int:
        return self.max_rounds - len(self.candidates)

    def _round(self, kept: list[str]) -> dict:
        seen = next((c for c in self.candidates if set(c["kept_float"]) == set(kept)), None)
        if seen is not None:  # bisection and pruning can meet the same set: no second round for it
            return seen
        self._check_cancel()
        path = self.folder / f"candidate{len(self.candidates)}.onnx"
        quantize_onnx(self.source, path, self.inputs, per_channel=self.per_channel, nodes_to_exclude=kept)
        from ..api import load

        handle = load(path)
        accuracy = self._accuracy(handle)
        kept_retention = retention(self.accuracy_fp32, accuracy)
        row = {"round": len(self.candidates) + 1, "kept_float": list(kept), "accuracy": accuracy,
               "retention": kept_retention, "passed": bool(kept_retention >= self.target),
               "size_bytes": path.stat().st_size, "latency_ms": self._latency(handle), "path": path}
        self.candidates.append(row)
        self._advance()
        return row

    def _accuracy(self, handle: Any) -> float:
        from ..adapters.base import resolve_adapter

        adapter = resolve_adapter(handle)
        logits = adapter.outputs(adapter.prepare_inputs(self.inputs))
        return float((top1(logits) == self.labels).mean())

    def _latency(self, handle: Any) -> float:
        """ms per input: onnxruntime's profiler over a few runs of the first calibration images
        (the model's run events, so Python and input copies are not counted)."""
        from ..profiling import profile

        rows = min(PROFILE_ROWS, len(self.inputs))
        table = profile(handle, self.inputs[:rows], runs=PROFILE_RUNS, warmup=1, optimized=True)
        return float(table.totals["model_run_ms"]) / rows

    def _check_cancel(self) -> None:
        if self.cancel is None:
            return
        if self.cancel() if callable(self.cancel) else self.cancel.is_set():
            raise CancelledError("quantize was cancelled.")

    def _advance(self) -> None:
        done = len(self.candidates)
        if self.bar is not None:
            best = max(c["retention"] for c in self.candidates)
            self.bar.update(1)
            self.bar.set_postfix(retention=f"{best:.4f}")
        elif callable(self.progress):
            self.progress(done, self.max_rounds)


def _bar(progress: Any, total: int) -> Any:
    if progress is not True:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="Quantizing", unit="round", leave=False)
