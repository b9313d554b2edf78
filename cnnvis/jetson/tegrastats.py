"""Parse the text that NVIDIA Jetson's ``tegrastats`` prints, one sample per line.

The format drifts between boards and JetPack releases (and between runs with and without sudo), so
the parser works token by token: every field it recognises is decoded, and whatever it does not
recognise is kept verbatim in the sample's ``unknown`` list instead of raising.
"""

from __future__ import annotations

import functools
import gc
import math
import os
import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from ..errors import CnnvisError

__all__ = ["INPUT_RAILS", "TegrastatsError", "parse_line", "read_tegrastats"]

# The rail that measures the whole board: Orin NX/Nano and Xavier NX, Nano/TX1/TX2, AGX Orin, AGX Xavier.
INPUT_RAILS = ("VDD_IN", "POM_5V_IN", "VIN_SYS_5V0", "SYS5V")

Sample = dict[str, Any]


class TegrastatsError(CnnvisError, ValueError):
    """A tegrastats log that cannot be opened, or an argument that is neither a path nor lines."""


def read_tegrastats(path_or_lines: str | os.PathLike[str] | Iterable[str]) -> list[Sample]:
    """Parse a tegrastats log given as a path or as an iterable of lines.

    Returns one dict per line that contains ``"RAM "``; other lines (``date`` stamps, blank lines)
    are skipped. Tokens that are not understood land in the sample's ``unknown`` list, and one
    warning per call says how many lines had any. A str holding newlines is taken as log text.
    """
    lines = _lines(path_or_lines)
    # The samples hold no reference cycles, so the cyclic collector would only rescan the growing
    # list again and again (a third of the run time on long logs); pause it while building them.
    collecting = gc.isenabled()
    gc.disable()
    try:
        samples = [parse_line(line) for line in lines if "RAM " in line]
    finally:
        if collecting:
            gc.enable()
    odd = sum(1 for s in samples if s["unknown"])
    if odd:
        warnings.warn(
            f"{odd} of {len(samples)} tegrastats lines had tokens that were not understood; "
            "they are listed in each sample's 'unknown' field.",
            stacklevel=2,
        )
    return samples


def parse_line(line: str) -> Sample:
    """Parse one tegrastats line into a sample dict (see :func:`read_tegrastats`)."""
    sample: Sample = {
        "time": None, "ram": None, "swap": None, "iram": None, "cpu": None, "emc": None,
        "gpu": None, "engines": {}, "temps": {}, "rails": {}, "total_mw": None, "unknown": [],
    }
    toks = line.split()
    i, n = _parse_time(toks, sample), len(toks)
    temps, rails, engines, unknown = sample["temps"], sample["rails"], sample["engines"], sample["unknown"]
    # One loop over the tokens; _role and _value remember what they decoded.
    while i < n:
        tok = toks[i]
        role = _role(tok)
        if role.__class__ is tuple:  # a temperature: ("tj", 43.9)
            temps[role[0]] = role[1]
            i += 1
            continue
        if callable(role):  # RAM, CPU, GR3D_FREQ, ...
            j = role(toks, i, sample)
            if j:
                i = j
                continue
            if tok != "CPU":  # a cut "RAM 936/3964" must not pass for a rail named RAM
                unknown.append(tok)
                i += 1
                continue
            role = True  # "CPU 216/216": the AGX Xavier rail, read like any other pair below
        value = None
        if role and i + 1 < n:
            value = _value(toks[i + 1])
        if value is None or value[0] == "mem":
            unknown.append(tok)
            i += 1
            continue
        kind, a, b, c = value
        if kind == "rail":
            rails[tok] = {"cur_mw": a, "avg_mw": b, "max_mw": c}
        else:  # "APE 174", "NVDEC off", "VIC_FREQ 0%@115": a clock, whatever the load says
            engines[tok] = a if kind == "eng" else (b[0] if b else None)
        i += 2
    sample["total_mw"] = _total_mw(rails)
    return sample


# --- named fields -------------------------------------------------------------------------------
# Each returns the index after what it consumed, or 0 to let the generic rules have the token (so
# "CPU 216/216", a rail on AGX Xavier, is not mistaken for the per-core list).


def _memory(toks: list[str], i: int, sample: Sample) -> int:
    if i + 1 >= len(toks):
        return 0
    head, glued, note = toks[i + 1].partition("(")  # IRAM glues its note on: "0/252kB(lfb"
    value = _value(head)
    if value is None or value[0] != "mem":
        return 0
    sample[toks[i].lower()] = {"used_mb": value[1], "total_mb": value[2]}
    if glued:
        return _after_note(toks, i + 2, note)
    if i + 2 < len(toks) and toks[i + 2].startswith("("):  # "(lfb 9x4MB)", "(cached 0MB)"
        return _after_note(toks, i + 3, toks[i + 2])
    return i + 2


def _after_note(toks: list[str], j: int, opening: str) -> int:
    """Skip a parenthesised note (kept out of the sample) whose opening token ends before ``j``.

    Notes span at most one more token; one that never closes (a cut line) stops at the opening
    token, leaving the rest to be parsed or reported as unknown instead of being swallowed.
    """
    if opening.endswith(")"):
        return j
    if j < len(toks) and toks[j].endswith(")") and "(" not in toks[j]:
        return j + 1
    return j if not opening.startswith("(") else j - 1


def _cpu(toks: list[str], i: int, sample: Sample) -> int:
    if i + 1 >= len(toks):
        return 0
    text = toks[i + 1]
    if not (text.startswith("[") and text.endswith("]")):
        return 0
    entries = text[1:-1].split(",") if len(text) > 2 else []
    parsed = [_core(entry) for entry in entries]
    if None in parsed:  # "off" cores are None; anything else odd is reported, the rest kept
        pairs = enumerate(zip(entries, parsed, strict=True))
        sample["unknown"].extend(f"CPU[{k}]={e}" for k, (e, p) in pairs if p is None and e != "off")
    sample["cpu"] = [{"load": p[0], "freq_mhz": p[1]} if p else None for p in parsed]
    return i + 2


def _load(toks: list[str], i: int, sample: Sample) -> int:
    value = _value(toks[i + 1]) if i + 1 < len(toks) else None
    if value is None or value[0] != "load":
        return 0
    key = "emc" if toks[i].startswith("EMC") else "gpu"
    sample[key] = {"load": value[1], "freqs_mhz": list(value[2])}
    return i + 2


_FIELDS: dict[str, Callable[[list[str], int, Sample], int]] = {
    "RAM": _memory, "SWAP": _memory, "IRAM": _memory, "CPU": _cpu,
    "EMC_FREQ": _load, "GR3D_FREQ": _load, "EMC": _load, "GR3D": _load,  # the short names: old L4T
}


# --- token values -------------------------------------------------------------------------------
# Successive lines repeat most tokens ("off", "2798mW/2798mW", "tj@40.5C"), so each distinct token
# is decoded once and remembered instead of going through the regexes on every line.

_MB_PER_UNIT = {"B": 1 / (1024 * 1024), "kB": 1 / 1024, "KB": 1 / 1024, "MB": 1, "GB": 1024}
_RAIL_RE = re.compile(r"(\d+)(?:mW)?/(\d+)(?:mW)?(?:/(\d+)(?:mW)?)?")
_MEM_RE = re.compile(r"(\d+)/(\d+)([kKMG]?B)")
# "0%", "3%@1600", "39%@[305,0]" (Orin: one clock per GPC), and "@1600" with the load left out.
_LOAD_RE = re.compile(r"(?:(\d+)%)?(?:@(?:(\d+)|\[(\d+(?:,\d+)*)\]))?")
_TEMP_RE = re.compile(r"([A-Za-z]\w*)@(-?\d+(?:\.\d+)?)C")
_CACHE_LIMIT = 100_000
@functools.lru_cache(maxsize=_CACHE_LIMIT)  # logs repeat the same tokens line after line
def _value(tok: str) -> tuple[Any, ...] | None:
    """Decode the value half of a ``NAME value`` pair: ("rail"|"mem"|"eng"|"load", ...) or None."""
    try:
        return _decode_value(tok)
    except ValueError:  # e.g. an integer too long for int(): just not a value we know
        return None


def _decode_value(tok: str) -> tuple[Any, ...] | None:
    result: tuple[Any, ...] | None = None
    if tok == "off":
        result = ("eng", None, None, None)
    elif tok.isdigit() and tok.isascii():
        result = ("eng", int(tok), None, None)
    elif m := _RAIL_RE.fullmatch(tok):
        result = ("rail", int(m[1]), int(m[2]), int(m[3]) if m[3] else None)
    elif m := _MEM_RE.fullmatch(tok):
        scale = _MB_PER_UNIT[m[3]]
        used, total = int(m[1]), int(m[2])
        result = ("mem", used, total) if scale == 1 else ("mem", used * scale, total * scale)
    elif tok and (m := _LOAD_RE.fullmatch(tok)):
        freqs = (int(m[2]),) if m[2] else tuple(int(f) for f in m[3].split(",")) if m[3] else ()
        result = ("load", int(m[1]) if m[1] else None, freqs, None)
    return result


@functools.lru_cache(maxsize=_CACHE_LIMIT)
def _role(tok: str) -> Any:
    """What a token can start: a field handler, a ``(name, celsius)`` pair, True for a name, or False."""
    role: Any = _FIELDS.get(tok)
    if role is None:
        # Rail and engine names are upper-case identifiers: VDD_IN, POM_5V_GPU, NVJPG1, PVA0_FREQ.
        role = tok[0].isupper() and tok.isascii() and tok.isidentifier()
        if "@" in tok:
            role = _temp(tok) or False
    return role


def _temp(tok: str) -> tuple[str, float | None] | None:
    m = _TEMP_RE.fullmatch(tok)
    if m is None:
        return None
    deg = float(m[2])
    if deg <= -256:  # -256C: the sensor is switched off
        return (m[1], None)
    return (m[1], deg) if math.isfinite(deg) else None


@functools.lru_cache(maxsize=_CACHE_LIMIT)
def _core(entry: str) -> tuple[int, int | None] | None:
    value = _value(entry) if "%" in entry else None
    if value is not None and value[1] is not None and len(value[2]) <= 1:
        return (value[1], value[2][0] if value[2] else None)
    return None


# --- time, totals, input ------------------------------------------------------------------------

# "07-21-2025 16:33:42" (what `tegrastats --logfile` writes on JetPack 5/6), "2025-07-21 16:33:42",
# or ISO "2025-07-21T16:33:42.250".
_DATE_RE = re.compile(r"(\d\d)-(\d\d)-(\d{4})|(\d{4})-(\d\d)-(\d\d)")
_CLOCK_RE = re.compile(r"(\d\d):(\d\d):(\d\d)(?:[.,](\d{1,6})\d*)?")


@functools.lru_cache(maxsize=_CACHE_LIMIT)  # one date per day of logging: worth remembering
def _date(text: str) -> tuple[int, int, int] | None:
    m = _DATE_RE.fullmatch(text)
    if m is None:
        return None
    return (int(m[3]), int(m[1]), int(m[2])) if m[1] else (int(m[4]), int(m[5]), int(m[6]))


def _parse_time(toks: list[str], sample: Sample) -> int:
    """Store a leading timestamp, if any; return how many tokens it took."""
    if not toks or not toks[0][:1].isdigit():
        return 0
    date, iso, clock = toks[0].partition("T")
    if not iso:
        if len(toks) < 2:
            return 0
        clock = toks[1]
    ymd = _date(date)
    hms = _CLOCK_RE.fullmatch(clock)
    if ymd is None or hms is None:
        return 0
    frac = hms[4]
    try:
        sample["time"] = datetime(
            *ymd, int(hms[1]), int(hms[2]), int(hms[3]), int(frac.ljust(6, "0")) if frac else 0
        )
    except ValueError:  # e.g. month 13: leave the text to be reported as unknown
        return 0
    return 1 if iso else 2


def _total_mw(rails: dict[str, dict[str, int | None]]) -> int | None:
    for name in INPUT_RAILS:
        if name in rails:
            return rails[name]["cur_mw"]
    if not rails:
        return None
    # No input rail on this board: the sum of the measured rails is the best estimate available.
    return sum(r["cur_mw"] or 0 for r in rails.values())


def _lines(source: str | os.PathLike[str] | Iterable[str]) -> Iterator[str]:
    if isinstance(source, str) and "\n" in source:
        return iter(source.splitlines())
    if isinstance(source, (str, os.PathLike)):
        return _read_file(source)
    if isinstance(source, (bytes, bytearray)):
        raise TegrastatsError(
            "read_tegrastats() got bytes; pass a path (str or pathlib.Path) or an iterable of lines."
        )
    try:
        items = iter(source)
    except TypeError:
        raise TegrastatsError(
            f"read_tegrastats() takes a path or an iterable of lines, not {type(source).__name__}."
        ) from None
    # Binary file objects yield bytes; one bad byte sequence should not stop the whole log.
    return (s.decode("utf-8", "replace") if isinstance(s, bytes) else str(s) for s in items)


def _read_file(path: str | os.PathLike[str]) -> Iterator[str]:
    # Opened here rather than inside a generator so that a missing file fails at the call.
    try:
        f = open(path, encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise TegrastatsError(
            f"No tegrastats log at {os.fspath(path)!r}. Check the path, or record one on the Jetson "
            "with `tegrastats --interval 1000 --logfile tegrastats.log`."
        ) from None
    except OSError as exc:
        raise TegrastatsError(
            f"Cannot read the tegrastats log {os.fspath(path)!r}: {exc.strerror or exc}. "
            "Pass the path of a readable text file."
        ) from None
    return _closing_lines(f)


def _closing_lines(f: Any) -> Iterator[str]:
    with f:
        yield from f
