"""Side-by-side timing: candidates run interleaved in one process, medians compared."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def side_by_side(candidates: dict[str, Callable[[], object]], repeats: int = 5, warmup: int = 1) -> dict:
    """Median seconds per candidate, each round running every candidate once (noise hits all alike)."""
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(times) for name, times in samples.items()}


def report(title: str, medians: dict[str, float], baseline: str) -> None:
    print(f"\n{title}")
    base = medians[baseline]
    for name, seconds in medians.items():
        print(f"  {name:<42} {seconds * 1000:9.1f} ms   {seconds / base:5.2f}x {baseline}")
