"""TensorRT engine exports -> :class:`TensorRTExport` -> :class:`cnnvis.Graph`, with no GPU.

Files are recognised by content, whatever their names: a layer export (``trtexec
--exportLayerInfo``, a JSON object with ``Layers`` and ``Bindings``), a per-layer profile
(``--exportProfile``, a list of ``{"name", "averageMs", ...}``, often led by a ``{"count": N}``
record), per-iteration times (``--exportTimes``), metadata (TensorRT Engine Explorer's
``*.metadata.json``) and trtexec console logs (:mod:`cnnvis.adapters.tensorrt.log`).
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import UnsupportedFileError
from ...graph_model import Graph, make_node, unique_id
from .log import looks_like_trtexec_log, read_trtexec_log
from .names import op_type, parse_layer_name

DETAILED_HINT = ("Rebuild or re-export the engine with --profilingVerbosity=detailed (trtexec --loadEngine=E "
                 "--profilingVerbosity=detailed --exportLayerInfo=E.graph.json --exportProfile=E.profile.json)")
_PRECISIONS = (("bfloat16", "BF16"), ("bf16", "BF16"), ("fp32", "FP32"), ("float", "FP32"), ("fp16", "FP16"),
               ("half", "FP16"), ("fp8", "FP8"), ("uint8", "UINT8"), ("int8", "INT8"), ("int32", "INT32"),
               ("int64", "INT64"), ("bool", "BOOL"))
_SNIFF_BYTES = 1 << 16


@dataclass
class TensorRTExport:
    """An engine as its exports describe it: layers (TensorRT's own dicts), bindings, latencies."""

    path: str
    source: str  # "layer export" or "trtexec log"
    layers: list[dict]
    bindings: list[dict]
    latency: dict[str, dict] | None = None  # layer name -> {"average_ms", "median_ms", "time_ms", "percentage"}
    profile_path: str | None = None
    iterations: int | None = None
    timing_ms: list[float] | None = None  # end-to-end latency per iteration
    timing_path: str | None = None
    metadata: dict = field(default_factory=dict)
    unjoined_profile: list[str] = field(default_factory=list)
    total_row_ms: float | None = None  # a trtexec log's own Total row
    graph_cache: Any = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        return Path(self.path).name

    def layer_latency(self, name: str) -> dict | None:
        return None if self.latency is None else self.latency.get(name)

    def sum_of_averages_ms(self) -> float | None:
        """The sum of per-layer average times (not an end-to-end latency: no gaps, no overlap)."""
        return None if self.latency is None else sum(v["average_ms"] for v in self.latency.values())


def sniff(path: str | Path) -> str | None:
    """What TensorRT file this is: ``graph``, ``names-only``, ``profile``, ``timing``, ``metadata``,
    ``trtexec-log``, or None when it is none of them."""
    file = Path(path)
    with open(file, "rb") as fh:
        head = fh.read(_SNIFF_BYTES).decode("utf-8", errors="replace")
    stripped = head.lstrip()
    if not stripped.startswith(("{", "[")):
        return "trtexec-log" if looks_like_trtexec_log(head) else None
    if '"Layers"' not in head and '"averageMs"' not in head and '"latencyMs"' not in head \
            and not _metadata_keys(head):
        return None  # someone else's JSON: leave it to other loaders
    return _json_kind(_read_json(file))


def _metadata_keys(head: str) -> bool:
    return any(k in head for k in ('"ComputeCapability"', '"build_options"', '"performance_summary"'))


def _json_kind(data: Any) -> str | None:
    if isinstance(data, dict) and "Layers" in data:
        layers = data["Layers"]
        if isinstance(layers, list) and layers and all(isinstance(x, str) for x in layers):
            return "names-only"
        return "graph"
    if isinstance(data, list) and data and isinstance(data[-1], dict):
        if "averageMs" in data[-1] or "name" in data[-1]:
            return "profile"
        if "latencyMs" in data[-1] or "computeMs" in data[-1]:
            return "timing"
    if isinstance(data, (dict, list)) and _metadata_keys(json.dumps(data)[:_SNIFF_BYTES]):
        return "metadata"
    return None


def _read_json(file: Path) -> Any:
    from .log import MAX_LOG_BYTES

    size = file.stat().st_size
    if size > MAX_LOG_BYTES:
        raise UnsupportedFileError(f"{file.name} is {size} bytes, more than the {MAX_LOG_BYTES} cnnvis reads "
                                   "from a TensorRT export.")
    try:
        return json.loads(file.read_text())
    except RecursionError:
        raise UnsupportedFileError(f"{file.name} nests its JSON too deeply to be a TensorRT export.") from None
    except UnicodeDecodeError as exc:
        raise UnsupportedFileError(f"{file.name} is not UTF-8 text ({exc.reason}); it is not a TensorRT export.") from None
    except json.JSONDecodeError as exc:
        raise UnsupportedFileError(
            f"{file.name} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}): the file looks "
            "truncated or corrupted. Export it again with trtexec."
        ) from None


def read_export(path: str | Path, profile: str | Path | None = None, timing: str | Path | None = None) -> TensorRTExport:
    """Reads a layer export or trtexec log, plus its profile, timing and metadata when found."""
    file = Path(path)
    kind = sniff(file)
    if kind == "trtexec-log":
        export = _from_log(file)
    elif kind == "graph":
        export = from_layer_info(file, _read_json(file))
    elif kind == "names-only":
        log = file.with_name("trt.out")
        also = f" The verbose trtexec log beside it ({log.name}) loads instead." if log.is_file() else ""
        raise UnsupportedFileError(
            f"{file.name} is a names-only layer export (its Layers are plain strings: no tensors, formats or "
            f"tactics), so it holds no graph. {DETAILED_HINT}.{also}"
        )
    elif kind in ("profile", "timing", "metadata"):
        raise UnsupportedFileError(
            f"{file.name} is a TensorRT {kind} export, not an engine graph. Load the layer export "
            f"(X.graph.json from --exportLayerInfo) and pass this file as {kind}=, or put it beside it."
        )
    else:
        raise UnsupportedFileError(f"{file.name} is not a TensorRT layer export or trtexec log.")
    return attach_files(export, file, profile, timing)


def attach_files(export: TensorRTExport, file: Path, profile: str | Path | None = None,
                 timing: str | Path | None = None) -> TensorRTExport:
    """Joins the profile, timing and metadata given or found beside ``file``."""
    # A log's own Profile table wins over a profile.json that merely sits in the same folder.
    profile_file = Path(profile) if profile is not None else (
        _beside(file, "profile") if export.latency is None else None)
    if profile_file is not None:
        _join_profile(export, profile_file)
    timing_file = Path(timing) if timing is not None else _beside(file, "timing")
    if timing_file is not None:
        export.timing_ms, export.timing_path = read_timing(timing_file), str(timing_file)
    export.metadata = _metadata(file)
    return export


def _stem(file: Path) -> str:
    """``resnet.onnx.engine.graph.json`` -> ``resnet.onnx.engine``."""
    name = file.name
    for suffix in (".graph.json", ".layers.json", ".json", ".out", ".log", ".txt"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _beside(file: Path, what: str) -> Path | None:
    """``X.profile.json`` beside ``X.graph.json``, else ``profile.json`` in the same folder."""
    names = [f"{_stem(file)}.{what}.json", f"{what}.json"]
    if what == "timing":
        names.append("times.json")  # trtexec's documentation uses --exportTimes=times.json
    for name in names:
        candidate = companion(file, name)
        if candidate is not None and candidate != file:
            return candidate
    return None


def companion(file: Path, name: str) -> Path | None:
    """``name`` beside ``file`` when it is a file really in the same folder (symlinks followed): a link
    out of the export's folder is skipped with a warning, as ONNX external data outside it is refused."""
    candidate = file.with_name(name)
    if not candidate.is_file():
        return None
    if candidate.resolve().parent != file.resolve().parent:
        warnings.warn(f"{name} beside {file.name} links outside its folder; not read.", stacklevel=3)
        return None
    return candidate


def from_layer_info(file: Path, data: dict) -> TensorRTExport:
    """An engine's layer information (``Layers`` + ``Bindings``), as trtexec or IEngineInspector writes it."""
    layers = data.get("Layers")
    if not isinstance(layers, list) or not layers:
        raise UnsupportedFileError(f"{file.name}: 'Layers' is empty or not a list; export the engine again.")
    for i, layer in enumerate(layers):
        problem = _layer_problem(layer)
        if problem:
            raise UnsupportedFileError(f"{file.name}: layer {i} {problem}. The file looks hand-edited or "
                                       "corrupted; export it again with trtexec --profilingVerbosity=detailed.")
    bindings = data.get("Bindings", [])
    if not isinstance(bindings, list) or not all(isinstance(b, str) for b in bindings):
        raise UnsupportedFileError(f"{file.name}: 'Bindings' must be a list of tensor names.")
    return TensorRTExport(str(file), "layer export", layers, _binding_kinds(bindings, layers))


def _layer_problem(layer: Any) -> str | None:
    if not isinstance(layer, dict):
        return f"is a {type(layer).__name__}, not an object"
    if not isinstance(layer.get("Name"), str):
        return "has no 'Name'"
    for key in ("Inputs", "Outputs"):
        tensors = layer.get(key, [])
        if not isinstance(tensors, list) or not all(isinstance(t, dict) and isinstance(t.get("Name"), str)
                                                    for t in tensors):
            return f"({layer['Name']!r}) has malformed '{key}' (a list of tensors with a 'Name' each)"
    return None


def _binding_kinds(names: list[str], layers: list[dict]) -> list[dict]:
    """A binding no layer produces is an input; the rest are outputs."""
    produced = {t["Name"]: t for layer in layers for t in layer.get("Outputs", [])}
    consumed = {t["Name"]: t for layer in layers for t in layer.get("Inputs", [])}
    out = []
    for name in names:
        kind = "output" if name in produced else "input"
        tensor = produced.get(name) or consumed.get(name) or {}
        out.append({"name": name, "kind": kind, "shape": tensor.get("Dimensions")})
    return out


def _from_log(file: Path) -> TensorRTExport:
    parsed = read_trtexec_log(file)
    layers = parsed["layers"]
    bindings = parsed["bindings"] or _infer_bindings(layers)
    export = TensorRTExport(str(file), "trtexec log", layers, bindings, iterations=parsed["iterations"],
                            total_row_ms=parsed["total_ms"])
    if parsed["latency"] is not None:
        export.latency = {layer["Name"]: parsed["latency"].get(layer["Name"], _ZERO) for layer in layers}
        export.unjoined_profile = [n for n in parsed["latency"] if n not in export.latency]
        export.profile_path = str(file)
    return export


_ZERO = {"time_ms": 0.0, "average_ms": 0.0, "median_ms": 0.0, "percentage": 0.0}


def _infer_bindings(layers: list[dict]) -> list[dict]:
    produced = {t["Name"] for layer in layers for t in layer["Outputs"]}
    consumed = {t["Name"] for layer in layers for t in layer["Inputs"]}
    inputs = [{"name": n, "kind": "input", "shape": None} for n in sorted(consumed - produced)]
    outputs = [{"name": n, "kind": "output", "shape": None} for n in sorted(produced - consumed)]
    return inputs + outputs


def read_profile(file: Path) -> tuple[dict[str, dict], int | None]:
    """``({layer name: timings}, iterations)`` from an ``--exportProfile`` JSON."""
    data = _read_json(file)
    if not isinstance(data, list):
        raise UnsupportedFileError(f"{file.name} is not a TensorRT profile (a list of per-layer records).")
    iterations = None
    records: dict[str, dict] = {}
    for i, record in enumerate(data):
        if isinstance(record, dict) and "count" in record and "name" not in record:
            iterations = int(record["count"])  # trtexec's first record: how many iterations were timed
            continue
        if not isinstance(record, dict) or not isinstance(record.get("name"), str) \
                or not isinstance(record.get("averageMs", record.get("timeMs")), (int, float)):
            raise UnsupportedFileError(f"{file.name}: record {i} is not a per-layer timing "
                                       "({'name', 'averageMs', ...}); export the profile again.")
        average = float(record.get("averageMs", record.get("timeMs")))
        records[record["name"]] = {
            "time_ms": float(record.get("timeMs", average)), "average_ms": average,
            "median_ms": float(record.get("medianMs", average)), "percentage": record.get("percentage"),
        }
    return records, iterations


def _join_profile(export: TensorRTExport, file: Path) -> None:
    records, iterations = read_profile(file)
    names = {layer["Name"] for layer in export.layers}
    export.latency = {layer["Name"]: records.get(layer["Name"], _ZERO) for layer in export.layers}
    export.unjoined_profile = [n for n in records if n not in names]
    export.profile_path, export.iterations = str(file), iterations


def read_timing(file: Path) -> list[float]:
    """End-to-end latency per iteration (ms) from an ``--exportTimes`` JSON."""
    data = _read_json(file)
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise UnsupportedFileError(f"{file.name} is not a TensorRT timing export (a list of per-iteration records).")
    try:
        return [float(r["latencyMs"] if "latencyMs" in r else r["computeMs"]) for r in data]
    except (KeyError, TypeError, ValueError):
        raise UnsupportedFileError(f"{file.name}: a record lacks latencyMs/computeMs; export the times again.") from None


def _metadata(file: Path) -> dict:
    """Device, build and profiling options from TensorRT Engine Explorer's ``*.metadata.json`` files."""
    out: dict[str, Any] = {}
    stem = _stem(file)
    for key, name in (("device", "metadata"), ("build", "build.metadata"), ("profile", "profile.metadata")):
        candidate = companion(file, f"{stem}.{name}.json")
        if candidate is not None:
            data = _read_json(candidate)
            out[key] = data[0] if key == "device" and isinstance(data, list) and data else data
    return out


def precision_of(fmt: str | None) -> str | None:
    """``Channel major FP16 format where channel % 8 == 0`` -> ``FP16``; trtexec's ``Half`` too."""
    if not fmt:
        return None
    lowered = fmt.lower()
    for token, name in _PRECISIONS:
        if re.search(rf"(?<![a-z0-9]){token}(?![0-9])", lowered):
            return name
    return None


def export_graph(export: TensorRTExport) -> Graph:
    """The engine as a :class:`cnnvis.Graph`: one node per layer plus the bindings, edges by tensor."""
    used: set[str] = set()
    producer: dict[str, str] = {}
    nodes: list[dict] = []
    edges: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    total = export.sum_of_averages_ms() or 0.0
    for binding in (b for b in export.bindings if b["kind"] == "input"):
        node_id = unique_id(binding["name"], used)
        nodes.append(make_node(node_id, type="input", kind="input", parent=None, name=binding["name"],
                               output_shape=binding["shape"]))
        producer[binding["name"]] = node_id
    for layer in export.layers:
        node = _layer_node(layer, export, total, used)
        nodes.append(node)
        for tensor in layer.get("Inputs", []):
            src = producer.get(tensor["Name"])
            if src is not None and (src, node["id"]) not in seen:
                seen.add((src, node["id"]))
                edges.append((src, node["id"]))
        for tensor in layer.get("Outputs", []):
            producer[tensor["Name"]] = node["id"]
    for binding in (b for b in export.bindings if b["kind"] == "output"):
        node_id = unique_id(f"output:{binding['name']}", used)
        nodes.append(make_node(node_id, type="output", kind="output", parent=None, name=binding["name"],
                               output_shape=binding["shape"]))
        if binding["name"] in producer:
            edges.append((producer[binding["name"]], node_id))
    return Graph(nodes=nodes, edges=edges, framework="tensorrt", name=_stem(Path(export.path)))


# A layer's settings the node properties panel shows (engine graph JSON keys).
_LAYER_ATTRS = ("Kernel", "Stride", "PrePadding", "PostPadding", "PaddingMode", "Dilation", "Groups", "OutMaps",
                "Activation", "HasSparseWeights")


def _layer_node(layer: dict, export: TensorRTExport, total: float, used: set[str]) -> dict:
    parsed = parse_layer_name(layer["Name"])
    timing = export.layer_latency(layer["Name"])
    inputs = [_tensor(t) for t in layer.get("Inputs", [])]
    outputs = [_tensor(t) for t in layer.get("Outputs", [])]
    shapes = [t["shape"] for t in outputs]
    latency = timing["average_ms"] if timing else None
    return make_node(
        unique_id(layer["Name"], used), type=str(layer.get("LayerType") or layer.get("ParameterType") or "Layer"),
        kind="layer", parent=None, name=layer["Name"],
        output_shape=shapes[0] if len(shapes) == 1 else (shapes or None),
        params=_count(layer.get("Weights")) + _count(layer.get("Bias")),
        latency_ms=latency, median_ms=timing["median_ms"] if timing else None,
        latency_pct=(100.0 * latency / total if total else 0.0) if latency is not None else None,
        precision=(inputs or outputs or [{"precision": None}])[0]["precision"],
        source_nodes=list(parsed.nodes), quantize_nodes=list(parsed.quantize),
        source_ops=[op_type(n) for n in parsed.compute_nodes], initializers=list(parsed.initializers),
        name_kind=parsed.kind, engine_only=parsed.kind in ("reformat", "internal"), profile=parsed.profile,
        target=parsed.target, foreign=list(parsed.foreign) if parsed.foreign else None,
        tactic=layer.get("TacticName") or layer.get("TacticValue"), tactic_value=layer.get("TacticValue"),
        parameter_type=layer.get("ParameterType"), origin=layer.get("Origin"),
        attrs={key: layer[key] for key in _LAYER_ATTRS if key in layer} or None,
        weights={key: layer[key] for key in ("Weights", "Bias") if isinstance(layer.get(key), dict)} or None,
        inputs=inputs, outputs=outputs,
    )


def _tensor(t: dict) -> dict:
    fmt = t.get("Format/Datatype")
    return {"name": t["Name"], "shape": t.get("Dimensions"), "format": fmt, "precision": precision_of(fmt)}


def _count(weights: Any) -> int:
    return int(weights.get("Count", 0)) if isinstance(weights, dict) else 0

