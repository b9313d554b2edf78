"""Time graph extraction of torchvision resnet152, without and with a 1x3x224x224 example input.

Run: .venv/bin/python benchmarks/bench_graph_torch.py
"""

from __future__ import annotations

import statistics
import time

import torch
import torchvision

from cnnvis.adapters.torch import build_graph


def median_seconds(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    torch.manual_seed(0)
    model = torchvision.models.resnet152(weights=None)
    x = torch.randn(1, 3, 224, 224)
    graph = build_graph(model)
    print(f"resnet152: {len(graph.nodes)} nodes, {len(graph.edges)} edges, {torch.get_num_threads()} threads")
    print(f"no example inputs:        {median_seconds(lambda: build_graph(model)):.3f} s (median of 3)")
    print(f"example input 1x3x224x224: {median_seconds(lambda: build_graph(model, x)):.3f} s (median of 3)")


if __name__ == "__main__":
    main()
