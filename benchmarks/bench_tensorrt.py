"""Load + graph of TensorRT exports, read without a GPU.

    .venv/bin/python benchmarks/bench_tensorrt.py [--repeats 20]

Goals: the 86-layer RTX 3090 layer export (with its profile) under 100 ms; the Orin trtexec log
(12,933 lines, 86 layers, profile table) under 300 ms. Each run starts from the file: nothing is
cached between runs (the layer-name parser's memo is cleared too). The first run, which also pays
for imports, is printed separately.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "RTX 3090 ResNet-50 FP16 export (86 layers)": ("rtx3090_resnet_fp16/resnet.onnx.engine.graph.json", 0.100),
    "Orin trtexec log trt.out (86 layers)": ("orin_trtexec/trt.out", 0.300),
}


def fixtures() -> Path:
    for base in (ROOT / "shared" / "fixtures" / "tensorrt", ROOT.parent / "shared" / "fixtures" / "tensorrt"):
        if base.is_dir():
            return base
    sys.exit("TensorRT fixtures not found (../shared/fixtures/tensorrt)")


def load_and_graph(path: Path) -> int:
    import cnnvis
    from cnnvis.adapters.tensorrt import parse_layer_name

    parse_layer_name.cache_clear()
    return len(cnnvis.graph(cnnvis.load(path)).nodes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    base = fixtures()
    start = time.perf_counter()
    load_and_graph(base / next(iter(CASES.values()))[0])
    print(f"first load + graph, imports included: {(time.perf_counter() - start) * 1000:.1f} ms")
    for title, (rel, goal) in CASES.items():
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            nodes = load_and_graph(base / rel)
            times.append(time.perf_counter() - start)
        median = statistics.median(times)
        verdict = "ok" if median < goal else "SLOWER THAN GOAL"
        print(f"{title}: load + graph median {median * 1000:.1f} ms over {args.repeats} runs "
              f"(min {min(times) * 1000:.1f} ms, {nodes} nodes), goal < {goal * 1000:.0f} ms: {verdict}")


if __name__ == "__main__":
    main()
