"""cnnvis.compare and cnnvis.quantize against what they cannot avoid doing.

    .venv/bin/python benchmarks/bench_compare.py [--size 224] [--images 32] [--repeats 3]

Goals (printed, measured side by side in one process; torchvision models with random weights):
- compare of resnet50 FP32 vs its INT8 (QDQ) build on 32 images: <= 2.5x running both models
  once with every node output exposed (the outputs compare reads, and nothing else);
- the quantize search on resnet18 (labels: the FP32 model's own answers): <= 12 quantize+evaluate
  rounds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import report, side_by_side  # noqa: E402

GOAL_RATIO, GOAL_ROUNDS = 2.5, 12


def export(name: str, folder: Path, size: int) -> Path:
    import torch
    import torchvision

    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    path = folder / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(1, 3, size, size),), str(path), dynamo=False, input_names=["input"],
                          output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    return path


def images(count: int, size: int) -> np.ndarray:
    """Smooth random images (normalised like ImageNet inputs), so activations have structure."""
    rng = np.random.default_rng(0)
    coarse = rng.normal(size=(count, 3, max(2, size // 16), max(2, size // 16))).astype(np.float32)
    return np.ascontiguousarray(np.kron(coarse, np.ones((1, 1, 16, 16), np.float32))[:, :, :size, :size])


def bench_compare(folder: Path, size: int, count: int, repeats: int) -> float:
    import cnnvis
    from cnnvis.adapters.onnx import make_session, with_outputs
    from cnnvis.precision import quantize_onnx

    fp32 = export("resnet50", folder, size)
    x = images(count, size)
    int8 = quantize_onnx(fp32, folder / "resnet50.int8.onnx", x)
    handles = [cnnvis.load(fp32), cnnvis.load(int8)]
    sessions = []
    for handle in handles:
        proto = handle.model.proto
        tensors = [t for node in proto.graph.node for t in node.output if t]
        sessions.append((make_session(with_outputs(proto, tensors)), tensors))

    def both_exposed() -> None:
        for session, tensors in sessions:
            session.run(tensors, {"input": x})

    medians = side_by_side({
        "both models, every node output exposed": both_exposed,
        "cnnvis.compare(fp32, int8, x)": lambda: cnnvis.compare(*handles, x, progress=False),
    }, repeats=repeats)
    report(f"resnet50 FP32 vs INT8, {count} images of {size}x{size}", medians,
           "both models, every node output exposed")
    ratio = medians["cnnvis.compare(fp32, int8, x)"] / medians["both models, every node output exposed"]
    print(f"  compare / both exposed: {ratio:.2f}x (goal <= {GOAL_RATIO}x) {'ok' if ratio <= GOAL_RATIO else 'MISSED'}")
    return ratio


def bench_quantize(folder: Path, size: int, count: int) -> int:
    import cnnvis
    from cnnvis.adapters.base import resolve_adapter

    fp32 = export("resnet18", folder, size)
    x = images(count, size)
    adapter = resolve_adapter(cnnvis.load(fp32))
    labels = adapter.outputs(adapter.prepare_inputs(x)).argmax(1)
    started = time.perf_counter()
    result = cnnvis.quantize(fp32, x, labels, target_retention=0.98, out=folder / "resnet18.mixed.onnx",
                             progress=False)
    seconds = time.perf_counter() - started
    print(f"\nresnet18 quantize search, {count} images of {size}x{size}: {result}")
    print(f"  full INT8 retention {result.candidates[0]['retention']:.4f}; kept in float: {result.kept_float}")
    first = next((c["round"] for c in result.candidates if c["passed"]), None)
    print(f"  target first reached at round {first}; the rounds after it drop kept layers again")
    print(f"  {result.rounds} quantize+evaluate rounds in {seconds:.1f} s (goal <= {GOAL_ROUNDS}), target "
          f"{'reached' if result.reached else 'NOT reached'}; {len(result.flagged)} layers flagged")
    return result.rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--quantize-images", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="cnnvis-bench-compare-"))
    bench_compare(folder, args.size, args.images, args.repeats)
    bench_quantize(folder, args.size, args.quantize_images)


if __name__ == "__main__":
    main()
