"""``cnnvis.compare``: two models of one network side by side, layer by layer."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import CnnvisError
from ..tables import Table
from .align import align
from .categories import COMPUTE
from .latency import engines_for, layer_latencies
from .layers import Layer, Side
from .metrics import INT8_RETENTION, Agreement, accuracy_summary, reconcile
from .picture import ComparisonPicture, paint
from .sides import open_side

CHUNK = 16  # inputs per pass: bounds memory whatever the batch (every layer's output is held per chunk)


class ModelComparison(Table):
    """One row per aligned layer, in model a's order: ``layer`` (model a's name), ``layer_b``,
    ``op_type``, ``kind``, ``cosine`` (mean over inputs), ``cosine_min``, ``relative_error``
    (``|b - a| / |a|``), ``max_abs_error``, ``damage`` (the relative error this layer adds to what
    its inputs already carried) and ``rank`` (1 = most damaging).

    ``summary``: ``top1_agreement``, with labels ``accuracy_<name>`` of each and ``retention`` (b
    over a) and ``retention_ok`` (at least 0.98); ``ranked`` (layer names, most damaging first).
    ``alignment``: ``"names"``, ``"compute order"`` or ``"mapping"``. ``unaligned``: per model, the
    layers with no partner. ``explanations``: per image agreement of the two models' CAMs (with
    ``method=``), or None.
    """

    def __init__(self, rows: list[dict], summary: dict, alignment: str, unaligned: dict[str, list[str]],
                 names: tuple[str, str], explanations: Table | None = None,
                 layers: list[tuple[str, str, tuple[str, ...]]] | None = None):
        super().__init__(rows)
        self.summary, self.alignment, self.unaligned = summary, alignment, unaligned
        self.names, self.explanations = names, explanations
        self.layers = layers or []  # model a's (name, op_type, upstream), for paint()

    def paint(self, threshold: float = 0.0, kept: Sequence[str] | None = None) -> ComparisonPicture:
        """Model a's graph painted with each layer's damage (an SVG Jupyter shows inline);
        ``threshold``: fraction of the largest damage below which layers stay unpainted;
        ``kept``: layers outlined as kept in float (e.g. ``cnnvis.quantize(...).kept_float``)."""
        return paint(self.layers, self, self.names, self.unaligned.get(self.names[0], ()), kept, threshold)

    @property
    def rows(self) -> list[dict]:
        return list(self)

    @property
    def ranked(self) -> list[dict]:
        """The rows, most damaging layer first."""
        return sorted(self, key=lambda r: r["rank"])

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v:.4f}" for k, v in self.summary.items() if isinstance(v, float))
        return f"ModelComparison({len(self)} layers aligned by {self.alignment}; {shown})"


def compare(model_a: Any, model_b: Any, inputs: Any, labels: Any = None, names: Sequence[str] = ("a", "b"),
            mapping: Any = None, method: str | None = None, *, latency: bool | Mapping[str, Any] = False,
            progress: bool | Callable[[int, int], None] = True, cancel: Any = None) -> ModelComparison:
    """Runs both models on ``inputs`` and compares every aligned layer's output, their scores (and
    accuracy where ``labels`` are given), and with ``method`` their CAMs image by image.

    ``mapping``: ``{layer of a: layer of b}`` (or a JSON file of it) when the models share no names
    and differ in structure. ``latency``: also time both (ONNX models, onnxruntime's profiler) and
    add ``latency_a``/``latency_b`` (ms) to the rows; ``{name: TensorRT export}`` takes that side's
    times from the engine built from it (``summary["latency_source"]`` says which). ``cancel``: a
    ``threading.Event`` or a callable returning True.
    """
    names = _check_names(names)
    engines = engines_for(latency, names) if latency else {}
    side_a, side_b = open_side(names[0], model_a), open_side(names[1], model_b)
    batch_a, batch_b = side_a.prepare(inputs), side_b.prepare(inputs)
    if side_a.rows(batch_a) != side_b.rows(batch_b):
        raise CnnvisError("The two models read the inputs as batches of different sizes; give one batch of images.")
    pairs, alignment = align(side_a, side_b, mapping)
    if not pairs:
        raise CnnvisError("No layer of the two models could be aligned: pass mapping={layer of a: layer of b}.")
    keys_a, keys_b = _known_keys(side_a), _known_keys(side_b)
    folded: set[str] = set()
    probes = [(_extended(x, keys_b, folded), _extended(y, keys_a, folded)) for x, y in pairs]
    logits, agreements = _run(side_a, side_b, batch_a, batch_b, probes, progress, cancel)
    rows, mismatched = _rows(pairs, agreements)
    _rank(rows, side_a)
    summary = accuracy_summary(logits[0], logits[1], labels, keys=names)
    if latency:
        _add_latency(rows, summary, (side_a, side_b), (batch_a, batch_b), engines)
    if "retention" in summary:
        summary["retention_ok"] = bool(summary["retention"] >= INT8_RETENTION)
    summary["ranked"] = [r["layer"] for r in sorted(rows, key=lambda r: r["rank"])]
    summary["shape_mismatch"] = [list(p) for p in mismatched]
    unaligned = _unaligned(side_a, side_b, rows, folded)
    explanations = None
    if method is not None:
        from .explanations import compare_explanations

        explanations = compare_explanations(side_a, side_b, batch_a, batch_b, method, cancel=cancel)
    layers = [(layer.name, layer.op_type, layer.upstream) for layer in side_a.layers]
    return ModelComparison(rows, summary, alignment, unaligned, names, explanations, layers)


def _check_names(names: Sequence[str]) -> tuple[str, str]:
    names = tuple(names)
    if len(names) != 2 or len(set(names)) != 2 or not all(isinstance(n, str) and n for n in names):
        raise CnnvisError(f"names must be two distinct labels, one per model, not {names!r}.")
    return names  # type: ignore[return-value]


def _known_keys(side: Side) -> set[str]:
    """Every name a side knows, activations it can read after a layer included."""
    return side.all_keys() | {k for layer in side.layers for keys, _ in layer.after for k in keys}


def _extended(layer: Layer, other_keys: set[str], folded: set[str]) -> Any:
    """Where to read ``layer``: after the activations the other model folded into it, if any
    (those are then part of this row, not unaligned layers)."""
    probe = layer.probe
    for keys, after in layer.after:
        if any(k in other_keys for k in keys):
            break
        probe = after
        folded.update(keys)
    return probe


def _run(side_a: Side, side_b: Side, batch_a: Any, batch_b: Any, probes: list[tuple[Any, Any]],
         progress: Any, cancel: Any) -> tuple[tuple[np.ndarray, np.ndarray], list[Agreement]]:
    total = side_a.rows(batch_a)
    agreements = [Agreement() for _ in probes]
    scores: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
    bar = _bar(progress, total)
    try:
        for start in range(0, total, CHUNK):
            _check_cancel(cancel)
            stop = min(total, start + CHUNK)
            logits_a, outs_a = side_a.read(side_a.take(batch_a, start, stop), [p[0] for p in probes])
            logits_b, outs_b = side_b.read(side_b.take(batch_b, start, stop), [p[1] for p in probes])
            scores[0].append(logits_a)
            scores[1].append(logits_b)
            for agreement, a, b in zip(agreements, outs_a, outs_b, strict=True):
                if not agreement.mismatched:
                    _add(agreement, a, b)
            _advance(bar, progress, stop, total)
    finally:
        if bar is not None:
            bar.close()
    return (np.concatenate(scores[0]), np.concatenate(scores[1])), agreements


def _add(agreement: Agreement, a: np.ndarray, b: np.ndarray) -> None:
    matched = reconcile(a, b) if np.issubdtype(np.asarray(b).dtype, np.floating) else None
    if matched is None:
        agreement.mismatched = True  # reported in summary["shape_mismatch"], the layers as unaligned
        return
    agreement.add(a, matched)


def _check_cancel(cancel: Any) -> None:
    from ..errors import CancelledError

    if cancel is None:
        return
    stopped = cancel() if callable(cancel) else cancel.is_set()
    if stopped:
        raise CancelledError("compare was cancelled.")


def _bar(progress: Any, total: int) -> Any:
    if progress is not True:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="Comparing", unit="input", leave=False)


def _advance(bar: Any, progress: Any, done: int, total: int) -> None:
    if bar is not None:
        bar.update(done - bar.n)
    elif callable(progress):
        progress(done, total)


def _rows(pairs: list[tuple[Layer, Layer]], agreements: list[Agreement]) -> tuple[list[dict], list[tuple]]:
    rows, mismatched = [], []
    for (a, b), agreement in zip(pairs, agreements, strict=True):
        if agreement.mismatched or agreement.shape is None:
            mismatched.append((a.name, b.name))
            continue
        rows.append({"layer": a.name, "layer_b": b.name, "op_type": a.op_type, "op_type_b": b.op_type,
                     "kind": a.category, "compute": a.category in COMPUTE, "shape": agreement.shape,
                     **agreement.result()})
    return rows, mismatched


def _rank(rows: list[dict], side_a: Side) -> None:
    """``damage``: a layer's relative error less the largest its aligned inputs already had, so a
    layer that only passes on an earlier error ranks low; ``rank`` orders the rows by it."""
    error = {r["layer"]: r["relative_error"] for r in rows}
    layers = side_a.by_name()
    for row in rows:
        inherited = [error[n] for n in _aligned_inputs(row["layer"], layers, error)]
        row["damage"] = max(0.0, row["relative_error"] - max(inherited, default=0.0))
    order = sorted(range(len(rows)), key=lambda i: (-rows[i]["damage"], -rows[i]["relative_error"], i))
    for rank, i in enumerate(order, 1):
        rows[i]["rank"] = rank


def _add_latency(rows: list[dict], summary: dict, sides: tuple[Side, Side], batches: tuple[Any, Any],
                 engines: dict[str, Any]) -> None:
    timed = [layer_latencies(side, batch, engines.get(side.label)) for side, batch in zip(sides, batches, strict=True)]
    if timed[0] is None or timed[1] is None:
        return  # only where both have it
    (times_a, source_a), (times_b, source_b) = timed
    summary["latency_source"] = {sides[0].label: source_a, sides[1].label: source_b}
    for row in rows:
        row["latency_a"], row["latency_b"] = times_a.get(row["layer"]), times_b.get(row["layer_b"])


def _aligned_inputs(name: str, layers: dict[str, Layer], aligned: dict[str, float]) -> list[str]:
    found, seen, stack = [], {name}, list(layers[name].upstream)
    while stack:
        current = stack.pop()
        if current in seen or current not in layers:
            continue
        seen.add(current)
        if current in aligned:
            found.append(current)
        else:
            stack.extend(layers[current].upstream)
    return found


def _unaligned(side_a: Side, side_b: Side, rows: list[dict], folded: set[str]) -> dict[str, list[str]]:
    """Per model, its layers with no row (no partner, or outputs of no common shape); activations
    compared as part of the layer before them are not listed."""
    used_a, used_b = {r["layer"] for r in rows} | folded, {r["layer_b"] for r in rows} | folded
    return {side_a.label: [x.name for x in side_a.layers if x.name not in used_a],
            side_b.label: [x.name for x in side_b.layers if x.name not in used_b]}
