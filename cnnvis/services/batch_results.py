"""The results of a ``cnnvis batch`` run, for the panel's gallery: rows grouped per explained class,
worst faithfulness first, each with a thumbnail of its map. Registered on every
:class:`~cnnvis.services.Dispatcher`, so the widget, the kernel comm and the server answer alike.

Kind ``batch_results`` {dir, method?, class?, metric?, limit?, thumbnails?}. ``dir`` is resolved like
a logdir (the server refuses paths outside its root). Batch runs keep maps but not the images they
explain (the source may be a dataset object, or gone), so a thumbnail is the map alone, coloured.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..imaging import colorize
from .codec import read_npz_file, to_png
from .dispatch_types import KindGroup, Reply
from .errors import BadRequest, NotFound, PayloadTooLarge

# Which end of each metric is the worst: deleting the most salient pixels first should make the
# score fall fast (a low deletion AUC), inserting them should make it rise fast (a high insertion AUC).
WORST = {"deletion": "highest", "insertion": "lowest"}
DEFAULT_LIMIT, MAX_LIMIT = 24, 500
THUMB_MIN, THUMB_MAX = 64, 128  # tiny maps are enlarged so a 32x32 map stays readable
COLORMAP = "jet"
MAX_ROWS, MAX_TABLE_BYTES = 1_000_000, 512 * 2**20  # what one gallery request reads of a run's table
MAX_STACK_BYTES = 256 * 2**20  # one chunk's maps (a batch run writes chunks of a few MB)


class BatchResultKinds(KindGroup):
    kinds = ("batch_results",)

    def batch_results(self, args: dict, buffers: list[bytes], **_: Any) -> Reply:
        folder = self._folder(args.get("dir"))
        rows = _read_rows(folder)
        metrics = [m for m in WORST if any(r.get(m) is not None for r in rows)]
        methods = sorted({r["method"] for r in rows})
        method = _choice(args.get("method"), methods, "method", methods[0] if methods else None)
        metric = _choice(args.get("metric"), metrics, "metric", metrics[0] if metrics else None)
        limit = _limit(args.get("limit", DEFAULT_LIMIT))
        ok = [r for r in rows if r["method"] == method and r["status"] == "ok"]
        classes = sorted({r["target"] for r in ok if r["target"] is not None})
        wanted = args.get("class")
        if wanted is not None and (isinstance(wanted, bool) or not isinstance(wanted, int)):
            raise BadRequest("class must be an integer (an explained class).")
        groups, thumbs = [], []
        for target in classes if wanted is None else [wanted]:
            members = _worst_first([r for r in ok if r["target"] == target], metric)
            shown = [(r, _public(r, metrics)) for r in members[:limit]]
            thumbs.extend(shown)
            groups.append({"class": target, "count": len(members), "rows": [p for _, p in shown]})
        buffers_out = _thumbnails(folder, method, thumbs) if args.get("thumbnails", True) else []
        return Reply({
            "dir": str(args["dir"]), "methods": methods, "method": method, "metrics": metrics, "metric": metric,
            "worst": WORST.get(metric or "", None), "order": _order_text(metric), "classes": classes,
            "groups": groups, "failed": sum(r["status"] != "ok" for r in rows if r["method"] == method),
            "thumbnail": f"the map alone ({COLORMAP} colormap): batch runs store maps, not images",
        }, buffers_out)

    def _folder(self, value: Any) -> Path:
        if not isinstance(value, str) or not value:
            raise BadRequest("batch_results needs dir= (a `cnnvis batch` output folder).")
        folder = Path(self.dispatcher.resolve_logdir(value))
        if not (folder / "results.parquet").is_file():
            raise NotFound(f"{value!r} has no results.parquet: it is not a finished `cnnvis batch` output folder.")
        if (folder / "results.parquet").resolve().parent != folder.resolve():  # a link out of the folder
            raise BadRequest(f"{value!r}: its results.parquet links outside the folder; it is not read.")
        return folder


def _read_rows(folder: Path) -> list[dict]:
    from ..batching.store import _pyarrow

    _, pq = _pyarrow()
    try:
        meta = pq.ParquetFile(folder / "results.parquet").metadata  # the footer only: sizes before data
        size = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        if size > MAX_TABLE_BYTES or meta.num_rows > MAX_ROWS:
            raise PayloadTooLarge(f"results.parquet declares {meta.num_rows} rows ({size} bytes), more than "
                                  f"the gallery reads ({MAX_ROWS} rows, {MAX_TABLE_BYTES} bytes).")
        return pq.read_table(folder / "results.parquet").to_pylist()
    except PayloadTooLarge:
        raise
    except Exception as exc:  # a truncated or foreign file is the user's to fix, not a server error
        raise BadRequest(f"results.parquet could not be read: {exc}") from None


def _choice(value: Any, known: list[str], name: str, default: str | None) -> str | None:
    if value is None:
        return default
    if value not in known:
        raise BadRequest(f"Unknown {name} {value!r}; this run has {', '.join(known) or 'none'}.")
    return value


def _limit(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIMIT:
        raise BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}.")
    return value


def _worst_first(rows: list[dict], metric: str | None) -> list[dict]:
    """Worst faithfulness first; rows without the metric (or NaN) go last, in item order."""
    if metric is None:
        return sorted(rows, key=lambda r: r["index"])
    sign = -1.0 if WORST[metric] == "highest" else 1.0

    def key(row: dict) -> tuple:
        value = row.get(metric)
        missing = value is None or not math.isfinite(value)
        return (missing, 0.0 if missing else sign * value, row["index"])

    return sorted(rows, key=key)


def _public(row: dict, metrics: list[str]) -> dict:
    out = {k: row.get(k) for k in ("key", "index", "target", "label", "score", *metrics)}
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in out.items()}


def _thumbnails(folder: Path, method: str | None, shown: list[tuple[dict, dict]]) -> list[bytes]:
    """One PNG per shown row with a map; its ``thumbnail`` is the buffer's index (None: no map)."""
    cache: dict[str, np.ndarray] = {}  # each chunk's .npz is read once
    out: list[bytes] = []
    for row, public in shown:
        public["thumbnail"] = None
        if row.get("map_file") is None or row.get("map_row") is None:
            continue
        if row["map_file"] not in cache:
            cache[row["map_file"]] = _load_stack(folder, row["map_file"], method)
        public["thumbnail"] = len(out)
        out.append(to_png(_thumbnail(cache[row["map_file"]][row["map_row"]])))
    return out


def _load_stack(folder: Path, map_file: str, method: str | None) -> np.ndarray:
    path = (folder / map_file).resolve()
    if folder.resolve() not in path.parents:  # a crafted table must not read files elsewhere
        raise BadRequest(f"map_file {map_file!r} leaves the results folder.")
    try:
        # The array's header is read first: a small file that inflates to gigabytes is refused.
        return read_npz_file(path, str(method), MAX_STACK_BYTES)
    except PayloadTooLarge:
        raise
    except Exception as exc:  # a missing or damaged maps file: the gallery cannot draw, say why
        raise BadRequest(f"{map_file} could not be read for {method}: {exc}") from None


def _thumbnail(saliency: np.ndarray) -> np.ndarray:
    m = np.nan_to_num(np.asarray(saliency, dtype=np.float32))
    m = m if m.ndim == 2 else m.reshape(m.shape[-2:])
    lo, hi = float(m.min()), float(m.max())
    m = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
    side = max(m.shape)
    if side < THUMB_MIN or side > THUMB_MAX:
        scale = (THUMB_MIN if side < THUMB_MIN else THUMB_MAX) / side
        size = (max(1, round(m.shape[1] * scale)), max(1, round(m.shape[0] * scale)))
        m = cv2.resize(m, size, interpolation=cv2.INTER_LINEAR)
    return colorize(m[None])[0]


def _order_text(metric: str | None) -> str:
    if metric == "deletion":
        return "deletion AUC, highest first: a high deletion AUC means the score barely falls as the map's top pixels go"
    if metric == "insertion":
        return "insertion AUC, lowest first: a low insertion AUC means the score barely rises as the map's top pixels return"
    return "no faithfulness metric in this run: item order"
