"""Batch-run throughput: 1 worker, 2 local processes, Ray with 2 workers (a planted-patch-sized CNN),
and ``cnnvis batch`` GradCAM on resnet18 224x224 against ``cnnvis.explain`` on the same images.

    python benchmarks/bench_batch.py [--small 2000] [--resnet 64]

Untrained resnet18 weights: speed does not depend on them. Process and Ray times include their
start-up (spawning workers, importing torch), which is what a user of a short run pays.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def small_model():
    import torch.nn as nn

    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(32, 2),
    ).eval()


def throughput(count: int, tmp: Path) -> None:
    import ray

    import cnnvis

    x = np.random.default_rng(0).normal(size=(count, 1, 32, 32)).astype(np.float32)
    np.savez(tmp / "small.npz", x=x)
    model = small_model()
    runs = {
        "1 worker": dict(workers=1),
        "2 processes": dict(workers=2),
        "Ray, 2 workers (cluster already up)": dict(workers=2, ray=True),
    }
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    seconds = {}
    for name, options in runs.items():
        seconds[name] = timed(lambda o=options, n=name: cnnvis.batch(
            tmp / "small.npz", model, out=tmp / n.replace(" ", "_"), layer="4", chunk_size=100,
            resume=False, progress=False, **o))
    ray.shutdown()
    print(f"\nthroughput, {count} images 1x32x32, GradCAM")
    for name, s in seconds.items():
        print(f"  {name:<38} {count / s:8.0f} img/s  ({s:.1f} s)")
    print(f"  Ray over local processes: {seconds['Ray, 2 workers (cluster already up)'] / seconds['2 processes']:.2f}x time")


def resnet(count: int, tmp: Path) -> None:
    import torch
    import torchvision

    import cnnvis

    model = torchvision.models.resnet18().eval()
    x = np.random.default_rng(0).normal(size=(count, 3, 224, 224)).astype(np.float32)
    np.savez(tmp / "resnet.npz", x=x)
    chunk = 16
    torch.set_num_threads(torch.get_num_threads())
    cnnvis.explain(model, x[:2], layer="layer4", progress=False)  # warm-up for both
    direct = timed(lambda: [cnnvis.explain(model, x[i:i + chunk], layer="layer4", progress=False)
                            for i in range(0, count, chunk)])
    batch = timed(lambda: cnnvis.batch(tmp / "resnet.npz", model, out=tmp / "resnet", layer="layer4",
                                       chunk_size=chunk, resume=False, progress=False))
    print(f"\nresnet18 224x224, {count} images, GradCAM at layer4, chunks of {chunk}")
    print(f"  cnnvis.explain in batches   {count / direct:6.1f} img/s  ({direct:.1f} s)")
    print(f"  cnnvis.batch, 1 worker      {count / batch:6.1f} img/s  ({batch:.1f} s)")
    print(f"  batch / explain: {batch / direct:.2f}x (goal <= 1.3x)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--resnet", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        throughput(args.small, Path(tmp))
        resnet(args.resnet, Path(tmp))


if __name__ == "__main__":
    main()
