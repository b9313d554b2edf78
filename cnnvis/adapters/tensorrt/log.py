"""trtexec console logs (``trtexec ... --verbose > trt.out``): the engine's layers from the
``Engine Layer Information`` block and per-layer latencies from the ``=== Profile ===`` table.

A layer line reads ``Layer(TYPE): NAME, Tactic: 0x..., IN (Float[1,3,224,224]), ... -> OUT (...)``;
names may themselves hold commas (``PWN(a, b)``), so the line is cut at ``, Tactic: `` first.
"""

from __future__ import annotations

import re
from pathlib import Path

from ...errors import UnsupportedFileError

LAYER_BLOCK = "Engine Layer Information:"
# Logs are parsed with string searches that each look at a character a bounded number of times:
# a crafted line (a megabyte of spaces, " (A[" repeated) costs time linear in its length.
MAX_LOG_BYTES = 512 * 2**20
_ARROW = re.compile(r" ->(?: |$)")  # a literal: linear
_NUMBER_CHARS = frozenset("-0123456789.")


def looks_like_trtexec_log(head: str) -> bool:
    """True for console output of trtexec (what a content sniff of the first kilobytes can tell)."""
    return "&&&& RUNNING TensorRT.trtexec" in head or ("[TRT]" in head and "] [I] " in head)


def read_trtexec_log(path: Path) -> dict:
    """``{"layers", "bindings", "latency", "iterations", "total_ms"}`` from a trtexec log."""
    lines = read_bounded_text(path, MAX_LOG_BYTES).splitlines()
    start = _last_index(lines, LAYER_BLOCK)
    if start is None:
        raise UnsupportedFileError(
            f"{path.name} is a trtexec log without the '{LAYER_BLOCK}' block, so it holds no graph. "
            "Rerun trtexec with --verbose (and --profilingVerbosity=detailed for tensor formats), or "
            "export the layers with --exportLayerInfo=FILE.graph.json --profilingVerbosity=detailed."
        )
    layers = []
    for number, line in enumerate(lines[start + 1:], start=start + 2):
        if not line.startswith("Layer("):
            break
        layers.append(_layer(line, path, number))
    if not layers:
        raise UnsupportedFileError(f"{path.name}: the '{LAYER_BLOCK}' block (line {start + 1}) lists no layers; "
                                   "the log looks truncated. Rerun trtexec with --verbose.")
    table = _profile_table(lines, path)
    return {"layers": layers, "bindings": _bindings(lines), **table}


def _last_index(lines: list[str], marker: str) -> int | None:
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].endswith(marker):
            return i
    return None


def _layer(line: str, path: Path, number: int) -> dict:
    parts = _layer_parts(line)
    io = _ARROW.split(parts[3]) if parts else []
    if not parts or len(io) != 2:
        raise UnsupportedFileError(
            f"{path.name}, line {number}: cannot read this layer line (truncated or edited?): {line[:120]!r}. "
            "Use the complete log trtexec wrote."
        )
    kind, name, tactic, _ = parts
    return {
        "Name": name,
        "LayerType": kind,
        "TacticValue": tactic,
        "Inputs": _tensors(io[0], path, number),
        "Outputs": _tensors(io[1], path, number),
    }


def _layer_parts(line: str) -> tuple[str, str, str, str] | None:
    """``Layer(TYPE): NAME, Tactic: TACTIC, IO`` -> (TYPE, NAME, TACTIC, IO); NAME ends at the first
    ``, Tactic: `` followed by a tactic and ``, ``."""
    close = line.find(")")
    if not line.startswith("Layer(") or not line.startswith("): ", close):
        return None
    at = close + 3
    while (cut := line.find(", Tactic: ", at)) >= 0:
        start = cut + len(", Tactic: ")
        end = line.find(", ", start)
        tactic = line[start:end] if end >= 0 else ""
        if tactic and all(c == "-" or c == "_" or c.isalnum() for c in tactic):
            return line[6:close], line[close + 3:cut], tactic, line[end + 2:]
        at = cut + 1
    return None


def _tensors(text: str, path: Path, number: int) -> list[dict]:
    """``NAME (Dtype[d0,d1,...]), NAME (...)``; names may hold commas and parentheses."""
    text = text.strip()
    tensors: list[dict] = []
    pos = 0
    bracket = -1  # the next "]" at or after the last place looked: each is searched for once
    while pos < len(text):
        found = None
        at = pos
        while found is None and (opening := text.find(" (", at)) >= 0:
            dtype_end = _alnum_end(text, opening + 2)
            if dtype_end > opening + 2 and text.startswith("[", dtype_end):
                if bracket < dtype_end:
                    bracket = text.find("]", dtype_end) % (len(text) + 1)  # none: len(text)
                after = bracket + 2
                if bracket < len(text) and text.startswith(")", bracket + 1) and (after == len(text)
                                                                            or text.startswith(", ", after)):
                    found = (text[pos:opening], text[opening + 2:dtype_end], text[dtype_end + 1:bracket], after)
            at = opening + 1
        if found is None:
            raise UnsupportedFileError(f"{path.name}, line {number}: cannot read the tensor list {text[pos:pos + 80]!r}.")
        name, dtype, dims, end = found
        try:
            shape = [_dim(d) for d in dims.split(",") if d]
        except ValueError:
            raise UnsupportedFileError(f"{path.name}, line {number}: the dimensions of tensor {name[:80]!r} are "
                                       "not integers.") from None
        tensors.append({"Name": name, "Dimensions": shape, "Format/Datatype": dtype})
        pos = end + 2 if end < len(text) else end
    return tensors


def _alnum_end(text: str, start: int) -> int:
    end = start
    while end < len(text) and text[end].isascii() and text[end].isalnum():
        end += 1
    return end


def _dim(text: str) -> int:
    """``64:32`` (64 channels, vectorised by 32) -> 64."""
    return int(text.split(":", 1)[0])


def _profile_table(lines: list[str], path: Path) -> dict:
    """The last ``=== Profile ===`` table: ``{name: {"time_ms", "average_ms", "median_ms", "percentage"}}``."""
    head = iterations = None
    for i in range(len(lines) - 1, -1, -1):
        iterations = _profile_iterations(lines[i])
        if iterations is not None:
            head = i
            break
    if head is None:
        return {"latency": None, "iterations": None, "total_ms": None}
    latency: dict[str, dict] = {}
    total = None
    for line in lines[head + 2:]:  # the row right after the head is the column header
        row = _row(_without_prefix(line))
        if row is None:
            break
        name, values = row
        if name == "Total":
            total = values["average_ms"]
            break
        latency[name] = values
    if total is None:
        raise UnsupportedFileError(f"{path.name}: the '=== Profile ===' table (line {head + 1}) has no Total row; "
                                   "the log looks truncated. Use the complete log trtexec wrote.")
    return {"latency": latency, "iterations": iterations, "total_ms": total}


def _profile_iterations(line: str) -> int | None:
    """``=== Profile (N iterations ) ===`` -> N."""
    at = line.find("=== Profile (")
    if at < 0:
        return None
    rest = line[at + len("=== Profile ("):]
    digits = len(rest) - len(rest.lstrip("0123456789"))
    tail = rest[digits:]
    if not digits or not tail.startswith(" iteration"):
        return None
    tail = tail[len(" iteration"):]
    tail = (tail[1:] if tail.startswith("s") else tail).lstrip(" ")
    return int(rest[:digits]) if tail.startswith(") ===") else None


def _without_prefix(line: str) -> str:
    """``[10/31/2023-17:58:57] [I] text`` -> ``text``."""
    close = line.find("]")
    if line.startswith("[") and line.startswith("] [", close) and line[close + 3:close + 4].isupper() \
            and line[close + 3:close + 4].isascii() and line.startswith("] ", close + 4):
        return line[close + 6:]
    return line


def _row(line: str) -> tuple[str, dict] | None:
    """``NAME  time  avg  median  pct`` (NAME may hold spaces) -> (NAME, values)."""
    parts = line.rsplit(None, 4)
    if len(parts) != 5 or not parts[0].strip() or not all(set(p) <= _NUMBER_CHARS for p in parts[1:]):
        return None
    try:
        numbers = [float(p) for p in parts[1:]]
    except ValueError:
        return None
    return parts[0].strip(), dict(zip(("time_ms", "average_ms", "median_ms", "percentage"), numbers, strict=True))


def _bindings(lines: list[str]) -> list[dict]:
    found: dict[str, dict] = {}
    for line in lines:
        binding = _binding(line)
        if binding:
            found[binding["name"]] = binding
    return list(found.values())


def _binding(line: str) -> dict | None:
    """``Created input binding for NAME with dimensions 1x3x224x224``."""
    marker = " with dimensions "
    at = line.find("Created ")
    dims_at = line.rfind(marker)
    while 0 <= at < dims_at:
        for kind in ("input", "output"):
            start = at + len(f"Created {kind} binding for ")
            if line.startswith(f"Created {kind} binding for ", at) and dims_at > start:
                dims = line[dims_at + len(marker):].split(None, 1)
                if dims and not line[dims_at + len(marker)].isspace():
                    shape = [int(d) for d in dims[0].split("x") if d.lstrip("-").isdigit()]
                    return {"name": line[start:dims_at], "kind": kind, "shape": shape}
        at = line.find("Created ", at + 1)
    return None


def read_bounded_text(path: Path, limit: int) -> str:
    """A text file's content, refused before reading when it is larger than ``limit`` bytes."""
    size = path.stat().st_size
    if size > limit:
        raise UnsupportedFileError(f"{path.name} is {size} bytes, more than the {limit} cnnvis reads from a "
                                   "text file of this kind.")
    with open(path, encoding="utf-8", errors="replace") as fh:
        return fh.read(limit)
