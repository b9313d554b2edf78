"""The ONNX adapter against plain onnxruntime runs of the same model (resnet50, random weights).

    .venv/bin/python benchmarks/bench_onnx.py [--repeats 3]

Goals (ratios, measured side by side in one process):
- EigenCAM, batch 8: <= 1.3x one onnxruntime forward that also returns the layer;
- activations of every conv output, one image: <= 1.5x one plain forward;
- ScoreCAM, one image: <= 1.1x its 2,048 masked forwards (the same batches, run directly).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import report, side_by_side  # noqa: E402

GOALS = {"eigencam": 1.3, "activations": 1.5, "scorecam": 1.1}


def export_resnet50(folder: Path) -> Path:
    import torch
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet50().eval()
    path = folder / "resnet50.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(1, 3, 224, 224),), str(path), dynamo=False, input_names=["input"],
                          output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import cnnvis
    from cnnvis.adapters.base import resolve_adapter
    from cnnvis.adapters.onnx import make_session, with_outputs
    from cnnvis.cam.methods import _normalised_upsampled

    folder = Path(tempfile.mkdtemp(prefix="cnnvis-bench-onnx-"))
    handle = cnnvis.load(export_resnet50(folder))
    adapter = resolve_adapter(handle)
    proto = handle.model.proto
    rng = np.random.default_rng(0)
    batch = rng.standard_normal((8, 3, 224, 224)).astype(np.float32)
    one = batch[:1]
    layer = adapter.default_layer(one)
    tensor = adapter.tensor_of(layer)
    ratios = {}

    with_layer = make_session(with_outputs(proto, ["logits", tensor]))
    medians = side_by_side({
        "cnnvis.explain eigencam (batch 8)": lambda: cnnvis.explain(handle, batch, method="eigencam", progress=False),
        "onnxruntime forward + layer (batch 8)": lambda: with_layer.run(["logits", tensor], {"input": batch}),
    }, repeats=args.repeats)
    report(f"EigenCAM at {layer}", medians, "onnxruntime forward + layer (batch 8)")
    ratios["eigencam"] = medians["cnnvis.explain eigencam (batch 8)"] / medians["onnxruntime forward + layer (batch 8)"]

    convs = [i for i, n in zip(adapter.index.node_ids, adapter.index.nodes, strict=True) if n.op_type == "Conv"]
    plain = make_session(proto)
    medians = side_by_side({
        f"cnnvis.activations, {len(convs)} convs (1 image)": lambda: cnnvis.activations(handle, one, convs),
        "onnxruntime plain forward (1 image)": lambda: plain.run(["logits"], {"input": one}),
    }, repeats=args.repeats)
    report("Activations of every conv output", medians, "onnxruntime plain forward (1 image)")
    ratios["activations"] = medians[f"cnnvis.activations, {len(convs)} convs (1 image)"] / medians[
        "onnxruntime plain forward (1 image)"]

    acts = adapter.layer_pass(one, layer, None, gradients=False).activations[0]
    masks = [_normalised_upsampled(acts[s:s + 32], one.shape) for s in range(0, len(acts), 32)]

    def masked_forwards() -> None:
        for m in masks:  # the same 2,048 masked images, straight into onnxruntime
            plain.run(["logits"], {"input": np.ascontiguousarray(one[0][None] * m[:, None])})

    medians = side_by_side({
        "cnnvis.explain scorecam (1 image)": lambda: cnnvis.explain(handle, one, method="scorecam", progress=False),
        f"{len(acts)} masked forwards": masked_forwards,
    }, repeats=1, warmup=0)
    report("ScoreCAM", medians, f"{len(acts)} masked forwards")
    ratios["scorecam"] = medians["cnnvis.explain scorecam (1 image)"] / medians[f"{len(acts)} masked forwards"]

    print("\nratios (goal):")
    for name, ratio in ratios.items():
        print(f"  {name:<12} {ratio:5.2f}x  (<= {GOALS[name]}x) {'ok' if ratio <= GOALS[name] else 'MISSED'}")


if __name__ == "__main__":
    main()
