"""The first view's scan of the server root (`GET browse`), on a synthetic tree:

- a project-sized root (a few logdirs and models among thousands of other files): the full scan;
- a huge root (a dataset folder of 250,000 files): the scan stops at its entry bound (200,000), so
  the first view still answers in bounded time, and says it saw only part of the root;
- a cached listing, as every later first view gets it.

    .venv/bin/python benchmarks/bench_browse.py

Prints seconds and the ratio of the bounded scan of the huge tree to the project scan.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from cnnvis.services.browse import BrowseService, scan


def project(root: Path, files: int) -> None:
    for i in range(4):
        run = root / f"exp{i}" / "runs" / "train"
        run.mkdir(parents=True)
        (run / "events.out.tfevents.1.host").write_bytes(b"")
        (root / f"exp{i}" / "model.onnx").write_bytes(b"x")
    data = root / "data"
    for i in range(files):
        folder = data / f"part{i // 500:03}"
        if i % 500 == 0:
            folder.mkdir(parents=True)
        (folder / f"img{i:06}.png").write_bytes(b"")


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    with tempfile.TemporaryDirectory() as small, tempfile.TemporaryDirectory() as big:
        project(Path(small), 5_000)
        project(Path(big), 250_000)
        service = BrowseService(small)
        bounds = (service.max_depth, service.max_entries, service.max_items)
        t_small, r_small = timed(lambda: scan(Path(small).resolve(), *bounds))
        t_big, r_big = timed(lambda: scan(Path(big).resolve(), *bounds))
        service.listing()
        t_cached, _ = timed(service.listing)
    print(f"project root (5,000 files): {t_small:.3f} s, {len(r_small['items'])} items, truncated={r_small['truncated']}")
    print(f"huge root (250,000 files, bounded at {bounds[1]:,} entries): {t_big:.3f} s, {len(r_big['items'])} items, "
          f"truncated={r_big['truncated']}")
    print(f"cached listing: {t_cached * 1000:.2f} ms")
    print(f"ratio huge/project: {t_big / t_small:.1f} (bounded; the huge root's logdirs and models are still "
          f"found first: {sum(i['kind'] == 'logdir' for i in r_big['items'])} logdirs)")


if __name__ == "__main__":
    main()
