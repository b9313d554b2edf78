"""The CAM family and Integrated Gradients against pytorch-grad-cam and Captum, side by side in one process.

Goals: every method no slower than pytorch-grad-cam's same method (ratio <= 1.0, noise aside);
Integrated Gradients (50 steps) <= 1.1x Captum's (cnnvis with its default batch_size, and with
Captum's single pass of N x 50 rows). Both sides produce maps at input size for the
same targets (each input's top class). Methods pytorch-grad-cam lacks, or that this build does not
offer yet, are skipped with a line saying so.

Run: .venv/bin/python benchmarks/bench_cam_family.py [--model resnet50] [--batch 8] [--size 224] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torchvision

sys.path.insert(0, str(Path(__file__).parent))
from _timing import side_by_side  # noqa: E402

import cnnvis  # noqa: E402
from cnnvis.cam.engine import available_methods  # noqa: E402

# cnnvis name -> pytorch-grad-cam class name (sobelcam is a function of an RGB uint8 image there).
PAIRS = {
    "eigengradcam": "EigenGradCAM", "gradcamelementwise": "GradCAMElementWise", "kpca_cam": "KPCA_CAM",
    "fem": "FEM", "segeigencam": "SegEigenCAM", "randomcam": "RandomCAM", "finercam": "FinerCAM",
    "refinecam": "RefineCAM", "fullgrad": "FullGrad", "shapleycam": "ShapleyCAM", "sobelcam": "sobel_cam",
}


def theirs(name: str, model: torch.nn.Module, layer: torch.nn.Module, x: torch.Tensor) -> Callable[[], object]:
    """pytorch-grad-cam's method as a user calls it (RandomCAM seeded as ours is)."""
    import pytorch_grad_cam

    if name == "sobelcam":
        from pytorch_grad_cam.sobel_cam import sobel_cam

        def run_sobel() -> object:
            images = x.permute(0, 2, 3, 1).numpy()
            low, high = images.min(axis=(1, 2, 3), keepdims=True), images.max(axis=(1, 2, 3), keepdims=True)
            rgb = np.uint8((images - low) / (high - low) * 255)
            return [sobel_cam(np.ascontiguousarray(image)) for image in rgb]

        return run_sobel
    cam = getattr(pytorch_grad_cam, PAIRS[name])(model=model, target_layers=[layer])
    if name == "randomcam":
        return lambda: (np.random.seed(0), cam(input_tensor=x, targets=None))
    return lambda: cam(input_tensor=x, targets=None)


def cam_rows(model: torch.nn.Module, layer: str, x: torch.Tensor, repeats: int) -> list[tuple[str, float, float]]:
    offered = {cls.name for cls in available_methods().values()}
    rows = []
    for name in PAIRS:
        if name not in offered:
            print(f"  {name}: not offered by this build, skipped")
            continue
        options = {"seed": 0} if name == "randomcam" else {}
        medians = side_by_side({
            "cnnvis": lambda name=name, options=options: cnnvis.explain(model, x, name, layer=layer, progress=False,
                                                                         **options),
            "pytorch-grad-cam": theirs(name, model, model.get_submodule(layer), x),
        }, repeats=repeats)
        rows.append((name, medians["cnnvis"], medians["pytorch-grad-cam"]))
        print(f"  {name:<20} {medians['cnnvis'] * 1000:9.1f} ms {medians['pytorch-grad-cam'] * 1000:9.1f} ms "
              f"{medians['cnnvis'] / medians['pytorch-grad-cam']:6.2f}x", flush=True)
    return rows


def integrated_gradients(model: torch.nn.Module, x: torch.Tensor, repeats: int) -> dict[str, float]:
    """cnnvis with its default passes (batch_size rows each) and with Captum's one pass of N x 50 rows."""
    from captum.attr import IntegratedGradients

    with torch.no_grad():
        targets = model(x).argmax(1)
    ig = IntegratedGradients(model)
    rows = len(x) * 50
    return side_by_side({
        "cnnvis": lambda: cnnvis.attribute(model, x, "integrated_gradients", target=targets.tolist(), steps=50,
                                           progress=False),
        "cnnvis one pass": lambda: cnnvis.attribute(model, x, "integrated_gradients", target=targets.tolist(),
                                                    steps=50, progress=False, batch_size=rows),
        "captum": lambda: ig.attribute(x, target=targets, n_steps=50),  # its default: every step in one pass
    }, repeats=repeats)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = getattr(torchvision.models, args.model)(weights=None).eval()
    x = torch.randn(args.batch, 3, args.size, args.size)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.model} batch {args.batch} "
          f"{args.size}x{args.size}, layer4, median of {args.repeats}")
    print(f"  {'method':<20} {'cnnvis':>12} {'grad-cam':>12} {'ratio':>7}")
    rows = cam_rows(model, "layer4", x, args.repeats)
    ig = integrated_gradients(model, x, args.repeats)
    for label in ("cnnvis", "cnnvis one pass"):
        print(f"  {'IG ' + label:<20} {ig[label] * 1000:9.1f} ms {ig['captum'] * 1000:9.1f} ms "
              f"{ig[label] / ig['captum']:6.2f}x  (vs Captum, 50 steps; goal <= 1.10x)")
    slower = [name for name, a, b in rows if a > b]
    print(f"\nslower than pytorch-grad-cam: {', '.join(slower) or 'none'}")


if __name__ == "__main__":
    main()
