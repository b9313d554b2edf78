"""cnnvis GradCAM on ResNet-50 against its lower bound, pytorch-grad-cam and Captum (CPU).

Goals: cnnvis GradCAM <= 1.2x one forward + autograd.grad to the layer; >= 2x faster than
pytorch-grad-cam; activations of every conv layer <= 1.5x a plain forward; resnet152 graph < 2 s.
Run: .venv/bin/python benchmarks/bench_cam_torch.py [--repeats N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torchvision

sys.path.insert(0, str(Path(__file__).parent))
from _timing import report, side_by_side  # noqa: E402

import cnnvis  # noqa: E402


def forward_and_grad_to(model, module, x):
    """The lower bound: one forward, the gradient of the top scores to the layer output only."""
    captured = {}
    handle = module.register_forward_hook(lambda m, a, out: captured.setdefault("a", out))
    try:
        logits = model(x)
        score = logits.gather(1, logits.argmax(1, keepdim=True)).sum()
        return torch.autograd.grad(score, captured["a"])[0]
    finally:
        handle.remove()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    from captum.attr import LayerGradCam
    from pytorch_grad_cam import GradCAM

    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None).eval()
    x = torch.randn(args.batch, 3, 224, 224)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, resnet50 batch {args.batch} 224x224")

    anchor = GradCAM(model=model, target_layers=[model.layer4])
    captum = LayerGradCam(model, model.layer4)
    medians = side_by_side({
        "forward + autograd.grad to layer4 (limit)": lambda: forward_and_grad_to(model, model.layer4, x),
        "cnnvis gradcam (maps at input size)": lambda: cnnvis.explain(model, x, layer="layer4"),
        "pytorch-grad-cam GradCAM": lambda: anchor(input_tensor=x, targets=None),
        "captum LayerGradCam (no resize/normalise)": lambda: captum.attribute(
            x, target=model(x).argmax(1)),
    }, repeats=args.repeats)
    report("GradCAM, ResNet-50", medians, "forward + autograd.grad to layer4 (limit)")
    ours = medians["cnnvis gradcam (maps at input size)"]
    print(f"  => cnnvis is {medians['pytorch-grad-cam GradCAM'] / ours:.2f}x faster than pytorch-grad-cam")

    one = x[:1]
    convs = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)]

    def plain_forward():
        with torch.no_grad():
            return model(one)

    medians = side_by_side({
        "plain forward, 1 image": plain_forward,
        f"cnnvis.activations of all {len(convs)} convs": lambda: cnnvis.activations(model, one, convs),
    }, repeats=args.repeats)
    report("Activations, ResNet-50, one image", medians, "plain forward, 1 image")

    big = torchvision.models.resnet152(weights=None).eval()
    for label, example in (("no example input", None), ("with 1x3x224x224", torch.randn(1, 3, 224, 224))):
        start = time.perf_counter()
        g = cnnvis.graph(big, example)
        print(f"\nGraph of resnet152 ({label}): {time.perf_counter() - start:.2f} s, "
              f"{len(g.nodes)} nodes, {len(g.edges)} edges (goal < 2 s)")


if __name__ == "__main__":
    main()
