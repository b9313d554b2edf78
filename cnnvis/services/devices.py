"""Jetson devices: what agents send, turned into stored samples, and the ``devices`` request kinds.

An agent sends raw ``tegrastats`` lines (the board has no cnnvis to parse them), jtop's stats
dict, or a TensorRT per-layer profile; here they become samples with ``seq``, ``t`` (the agent's
clock when it read them), ``time`` (the line's own timestamp, if printed) and the fields of
:func:`cnnvis.read_tegrastats`.
"""

from __future__ import annotations

import csv
import io
import math
from datetime import datetime
from typing import Any

from .device_store import DeviceStore, check_name
from .dispatch_types import Reply
from .errors import BadRequest

MAX_LINE = 16_384
MAX_BATCH = 1000
MAX_SEQ = 2**62
MAX_LIMIT = 100_000


def decode_sample(raw: Any) -> dict:
    """One agent sample, checked and parsed; a line the parser does not know is still a sample."""
    if not isinstance(raw, dict):
        raise BadRequest("A sample must be a JSON object.")
    seq = raw.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 < seq < MAX_SEQ:
        raise BadRequest("A sample's seq must be a positive integer.")
    t = raw.get("t")
    sample: dict[str, Any] = {"seq": seq, "t": float(t) if _finite(t) else None}
    if isinstance(raw.get("line"), str):
        sample.update(_parse_line(raw["line"][:MAX_LINE]))
    elif isinstance(raw.get("jtop"), dict):
        sample.update(from_jtop(raw["jtop"]))
    elif isinstance(raw.get("profile"), dict):
        sample["profile"] = _profile(raw["profile"])
    else:
        raise BadRequest("A sample carries a tegrastats 'line', a 'jtop' dict or a 'profile'.")
    if isinstance(raw.get("marker"), str):  # "recording" markers set on the device
        sample["marker"] = raw["marker"][:200]
    return sample


def decode_batch(samples: Any) -> list[dict]:
    if not isinstance(samples, list) or len(samples) > MAX_BATCH:
        raise BadRequest(f"samples must be a list of at most {MAX_BATCH} samples.")
    return [decode_sample(s) for s in samples]


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _parse_line(line: str) -> dict:
    from ..jetson.tegrastats import parse_line

    fields = parse_line(line)
    fields["time"] = fields["time"].isoformat() if isinstance(fields["time"], datetime) else None
    return fields


def _profile(raw: dict) -> dict:
    layers = []
    for layer in raw.get("layers", [])[:10_000] if isinstance(raw.get("layers"), list) else []:
        if isinstance(layer, dict) and isinstance(layer.get("name"), str):
            layers.append({"name": layer["name"][:1000],
                           **{k: float(layer[k]) for k in ("avg_ms", "median_ms", "pct") if _finite(layer.get(k))}})
    engine = raw.get("engine") if isinstance(raw.get("engine"), str) else None
    return {"engine": engine, "layers": layers}


def from_jtop(stats: dict) -> dict:
    """jtop's ``stats`` dict (``CPU1``..., ``GPU``, ``Temp X``, ``Power X``) in tegrastats' fields."""
    cpus, temps, rails = [], {}, {}
    for key, value in stats.items():
        if not isinstance(key, str):
            continue
        if key.startswith("CPU") and key[3:].isdigit():
            cpus.append((int(key[3:]), {"load": value, "freq_mhz": None} if _finite(value) else None))
        elif key.startswith("Temp ") and _finite(value):
            temps[key[5:]] = None if value <= -256 else float(value)
        elif key.startswith("Power ") and key != "Power TOT" and _finite(value):
            rails[key[6:]] = {"cur_mw": value, "avg_mw": None, "max_mw": None}
    gpu = stats.get("GPU")
    total = stats.get("Power TOT")
    return {"time": None, "ram": None, "swap": None, "iram": None, "cpu": [c for _, c in sorted(cpus)],
            "emc": None, "gpu": {"load": gpu, "freqs_mhz": []} if _finite(gpu) else None, "engines": {},
            "temps": temps, "rails": rails,
            "total_mw": total if _finite(total) else (sum(r["cur_mw"] for r in rails.values()) or None),
            "unknown": []}


def flatten(sample: dict) -> dict:
    """One CSV/Parquet row: nested fields become columns such as ``cpu0_load``, ``rail_VDD_IN_cur_mw``."""
    row: dict[str, Any] = {"seq": sample["seq"], "t": sample.get("t"), "time": sample.get("time"),
                           "received": sample.get("received")}
    for key in ("ram", "swap", "iram"):
        for part, value in (sample.get(key) or {}).items():
            row[f"{key}_{part}"] = value
    for i, core in enumerate(sample.get("cpu") or []):
        row[f"cpu{i}_load"] = core["load"] if core else None
        row[f"cpu{i}_freq_mhz"] = core["freq_mhz"] if core else None
    for key in ("emc", "gpu"):
        if sample.get(key):
            row[f"{key}_load"] = sample[key]["load"]
            row[f"{key}_freq_mhz"] = (sample[key]["freqs_mhz"] or [None])[0]
    for name, celsius in (sample.get("temps") or {}).items():
        row[f"temp_{name}"] = celsius
    for name, rail in (sample.get("rails") or {}).items():
        row[f"rail_{name}_cur_mw"] = rail["cur_mw"]
    row["total_mw"] = sample.get("total_mw")
    if sample.get("marker"):
        row["marker"] = sample["marker"]
    return row


def table(samples: list[dict]) -> tuple[list[str], list[dict]]:
    """Columns (in first-seen order, a union over devices whose cores or rails differ) and rows."""
    rows = [flatten(s) for s in samples if "profile" not in s]
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    return list(columns), rows


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """OWASP's rule against CSV injection: text that a spreadsheet would read as a formula gets a
    leading ``'``. Numbers stay numbers (a negative temperature is no formula)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(samples: list[dict]) -> bytes:
    """CSV of the samples; device-supplied text (field names become headers too) is neutralised."""
    columns, rows = table(samples)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([csv_cell(c) for c in columns or ["seq"]])
    writer.writerows([csv_cell(row.get(c)) for c in columns] for row in rows)
    return out.getvalue().encode()


def to_parquet(samples: list[dict]) -> bytes:
    """Parquet bytes; raises ImportError where pyarrow is not installed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns, rows = table(samples)
    data = pa.table({c: [r.get(c) for r in rows] for c in columns} or {"seq": []})
    sink = io.BytesIO()
    pq.write_table(data, sink)
    return sink.getvalue()


class DeviceService:
    """The ``devices`` and ``device_samples`` request kinds over a :class:`DeviceStore`.

    ``connected`` holds the ids of devices whose agent is connected right now (the server keeps it
    up to date; a notebook's dispatcher sees every device as not connected).
    """

    def __init__(self, store: DeviceStore | None = None):
        self._store = store
        self.connected: set[str] = set()

    @property
    def store(self) -> DeviceStore:
        if self._store is None:  # the widget's dispatcher opens the default database on first use
            self._store = DeviceStore()
        return self._store

    def devices(self, args: dict, buffers: list, **_: Any) -> Reply:
        live = set(self.connected)
        return Reply({"devices": [{**d, "connected": d["id"] in live} for d in self.store.devices()]})

    def samples(self, args: dict, buffers: list, **_: Any) -> Reply:
        device = check_name(args.get("device"), "device id")
        since = _int(args.get("since", 0), "since", 0, MAX_SEQ)
        limit = _int(args.get("limit", 10_000), "limit", 1, MAX_LIMIT)
        self.store.device(device)  # 404 for an unknown device
        samples = self.store.samples(device, since, limit + 1)
        more = len(samples) > limit
        samples = samples[:limit]
        cursor = samples[-1]["seq"] if samples else since
        return Reply({"device": device, "since": since, "cursor": cursor, "more": more, "samples": samples})


def _int(value: Any, name: str, low: int, high: int) -> int:
    try:
        if isinstance(value, bool) or isinstance(value, float):
            raise ValueError
        number = int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{name} must be an integer.") from None
    if not low <= number <= high:
        raise BadRequest(f"{name} must be between {low} and {high}.")
    return number
