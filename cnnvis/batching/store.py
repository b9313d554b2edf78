"""Batch results on disk: one Parquet part and one ``.npz`` of maps per finished chunk.

A part is renamed into place only after its maps are, so whatever a killed run leaves behind is
complete; a restart reads the parts to know what is done. ``results.parquet`` gathers them.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CnnvisError

BASE_COLUMNS = (("key", "string"), ("index", "int64"), ("method", "string"), ("status", "string"),
                ("error", "string"), ("target", "int64"), ("score", "float64"), ("label", "int64"),
                ("map_file", "string"), ("map_row", "int64"))


def _pyarrow() -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise CnnvisError("Batch runs write Parquet: pip install 'cnnvis[batch]' (pyarrow).") from None
    return pa, pq


class ResultStore:
    def __init__(self, out: str | os.PathLike, metrics: list[str]):
        self.root = Path(out)
        self.parts = self.root / "parts"
        self.maps = self.root / "maps"
        self.metrics = list(metrics)
        pa, _ = _pyarrow()
        fields = [(name, getattr(pa, kind)()) for name, kind in BASE_COLUMNS]
        self.schema = pa.schema(fields + [(m, pa.float64()) for m in self.metrics])

    def reset(self) -> None:
        for path in (self.parts, self.maps, self.root / "results.parquet", self.root / "manifest.json"):
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()

    def manifest(self) -> dict:
        path = self.root / "manifest.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def save_manifest(self, manifest: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.root / "manifest.json", lambda tmp: tmp.write_text(json.dumps(manifest, indent=1)))

    def done(self) -> set[tuple[str, str]]:
        """``(key, method)`` pairs a previous run finished (failed ones included: they would fail again)."""
        _, pq = _pyarrow()
        finished: set[tuple[str, str]] = set()
        for part in sorted(self.parts.glob("*.parquet")) if self.parts.is_dir() else []:
            table = pq.read_table(part, columns=["key", "method"])
            finished.update(zip(table["key"].to_pylist(), table["method"].to_pylist(), strict=True))
        return finished

    def write(self, first_index: int, rows: list[dict], maps: dict[str, np.ndarray]) -> None:
        pa, pq = _pyarrow()
        self.parts.mkdir(parents=True, exist_ok=True)
        self.maps.mkdir(parents=True, exist_ok=True)
        name = f"part-{first_index:09d}-{uuid.uuid4().hex[:8]}"
        if maps:
            _atomic_write(self.maps / f"{name}.npz", lambda tmp: _save_npz(tmp, maps))
        for row in rows:
            if row.get("map_row") is not None:
                row["map_file"] = f"maps/{name}.npz"
        table = pa.Table.from_pylist(rows, schema=self.schema)
        _atomic_write(self.parts / f"{name}.parquet", lambda tmp: pq.write_table(table, tmp))

    def gather(self) -> list[dict]:
        """Every part's rows sorted by item then method, also written to ``results.parquet``."""
        pa, pq = _pyarrow()
        files = sorted(self.parts.glob("*.parquet")) if self.parts.is_dir() else []
        tables = [pq.read_table(f, schema=self.schema) for f in files]
        table = pa.concat_tables(tables) if tables else self.schema.empty_table()
        table = table.sort_by([("index", "ascending"), ("method", "ascending")])
        _atomic_write(self.root / "results.parquet", lambda tmp: pq.write_table(table, tmp))
        return table.to_pylist()


def _save_npz(path: Path, maps: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as fh:
        np.savez(fh, **maps)


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)


def load_maps(out: str | os.PathLike, rows: list[dict], method: str) -> dict[str, np.ndarray]:
    """``{key: map}`` of ``method`` for the finished rows of a run in ``out``."""
    root, cache, found = Path(out), {}, {}
    for row in rows:
        if row["method"] != method or row["map_file"] is None:
            continue
        if row["map_file"] not in cache:
            with np.load(root / row["map_file"], allow_pickle=False) as data:
                cache[row["map_file"]] = data[method]
        found[row["key"]] = cache[row["map_file"]][row["map_row"]]
    return found
