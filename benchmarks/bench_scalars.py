"""Speed and memory of cnnvis.scalars on a 1,000,000-point log.

    .venv/bin/python benchmarks/bench_scalars.py [--points 250000] [--skip-baseline]

The log (4 tags x 250,000 steps, written with torch.utils.tensorboard.SummaryWriter) is
generated once into benchmarks/.cache/scalars_1m/ (git-ignored). Prints each timing and the
ratios against TensorBoard's EventAccumulator and a plain protobuf loop.
"""

from __future__ import annotations

import argparse
import gc
import shutil
import struct
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from cnnvis.scalars import ScalarTail, Series, TorchLogger, downsample, read_scalars

CACHE = Path(__file__).resolve().parent / ".cache"
TAGS = ("train/loss", "train/accuracy", "val/loss", "lr")


def generate(logdir: Path, steps: int) -> None:
    from torch.utils.tensorboard import SummaryWriter

    tmp = logdir.with_name(logdir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(steps, len(TAGS))).astype(np.float32)
    w = SummaryWriter(str(tmp), max_queue=10000, flush_secs=600)
    for step in range(steps):
        row = noise[step]
        for j, tag in enumerate(TAGS):
            w.add_scalar(tag, float(row[j]) + 1.0 / (1 + step), step)
    w.close()
    tmp.rename(logdir)


def best_of(fn, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def event_accumulator(logdir: Path) -> int:
    from tensorboard.backend.event_processing import event_accumulator as ea

    acc = ea.EventAccumulator(str(logdir), size_guidance={ea.SCALARS: 0})
    acc.Reload()
    return sum(len(acc.Scalars(t)) for t in acc.Tags()["scalars"])


def protobuf_loop(logdir: Path) -> int:
    """Framing in Python + upb ``Event.FromString`` per record (no CRC check)."""
    from tensorboard.compat.proto import event_pb2

    n = 0
    for path in sorted(logdir.glob("*tfevents*")):
        data = path.read_bytes()
        pos, cols = 0, {}
        while pos + 12 <= len(data):
            (length,) = struct.unpack_from("<Q", data, pos)
            ev = event_pb2.Event.FromString(data[pos + 12: pos + 12 + length])
            pos += length + 16
            for v in ev.summary.value:
                c = cols.setdefault(v.tag, ([], [], []))
                c[0].append(ev.step)
                c[1].append(ev.wall_time)
                c[2].append(v.simple_value)
        n += sum(len(c[0]) for c in cols.values())
    return n


def bench_ingest(logdir: Path, baseline: bool) -> None:
    t_ours, runs = best_of(lambda: read_scalars(logdir), 3)
    n = sum(len(s) for tags in runs.values() for s in tags.values())
    print(f"read_scalars            {t_ours * 1e3:8.1f} ms  ({n} points)")
    if baseline:
        t_pb, n_pb = best_of(lambda: protobuf_loop(logdir), 1)
        t_ea, n_ea = best_of(lambda: event_accumulator(logdir), 1)
        assert n_pb == n_ea == n, (n, n_pb, n_ea)
        print(f"plain protobuf loop     {t_pb * 1e3:8.1f} ms  -> cnnvis is {t_pb / t_ours:5.1f}x faster")
        print(f"EventAccumulator        {t_ea * 1e3:8.1f} ms  -> cnnvis is {t_ea / t_ours:5.1f}x faster "
              "(target >= 8x)")

    tracemalloc.start()
    runs = read_scalars(logdir)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    out_bytes = sum(s.steps.nbytes + s.values.nbytes + s.wall_times.nbytes
                    for tags in runs.values() for s in tags.values())
    print(f"tracemalloc peak        {peak / 2**20:8.1f} MiB = {peak / out_bytes:4.2f}x the returned arrays "
          f"({out_bytes / 2**20:.1f} MiB; target <= 3x)")

    tags = runs["."]
    values = np.concatenate([tags[t].values for t in TAGS])  # one 1,000,000-point series
    series = Series(np.arange(len(values), dtype=np.int64), values,
                    np.concatenate([tags[t].wall_times for t in TAGS]))
    t_ds, small = best_of(lambda: downsample(series, 2000), 5)
    print(f"downsample {len(series)} -> {len(small)}  {t_ds * 1e3:8.2f} ms  (target < 20 ms)")


def bench_tail(steps: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        logger = TorchLogger(tmp)
        for step in range(steps):
            logger.log_scalars({t: float(step) for t in TAGS}, step)
        logger.flush()
        tail = ScalarTail(tmp)
        first = tail.poll()
        assert sum(len(s) for tags in first.values() for s in tags.values()) == steps * len(TAGS)
        times = []
        for round_ in range(5):
            base = steps + round_ * 250
            for step in range(base, base + 250):
                logger.log_scalars({t: float(step) for t in TAGS}, step)
            logger.flush()
            t0 = time.perf_counter()
            new = tail.poll()
            times.append(time.perf_counter() - t0)
            assert sum(len(s) for tags in new.values() for s in tags.values()) == 1000
        logger.close()
    print(f"append 1,000 events + poll (log of {steps * len(TAGS)} points)  {min(times) * 1e3:6.2f} ms "
          "(target < 100 ms)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=250_000, help="steps per tag (4 tags)")
    ap.add_argument("--skip-baseline", action="store_true", help="do not time EventAccumulator")
    args = ap.parse_args()
    logdir = CACHE / f"scalars_{args.steps * len(TAGS)}"
    if not logdir.exists():
        print(f"generating {logdir} with torch SummaryWriter (once) ...")
        CACHE.mkdir(parents=True, exist_ok=True)
        generate(logdir, args.steps)
    print(f"log: {logdir}  ({sum(p.stat().st_size for p in logdir.iterdir()) / 2**20:.1f} MiB)")
    bench_ingest(logdir, not args.skip_baseline)
    bench_tail(args.steps)


if __name__ == "__main__":
    main()
