"""cnnvis on the device against its limit, pytorch-grad-cam, Captum and TorchCAM, side by side in one process.

Every map ends at input size on the host as numpy, as a user plots it: Captum and TorchCAM stop at layer
resolution, so their time includes a bilinear upsample on the device and the copy to the host. "limit" is
one forward plus ``torch.autograd.grad`` to the layer (GradCAM), the masked forwards alone (ScoreCAM), a
plain forward (activations) and a loop of forward + grad with the gradients copied to the host (batch).

Goals on a GPU: GradCAM <= 1.15x the limit at every batch and at least as fast as every peer from batch 8;
ScoreCAM <= 1.1x its masked forwards and faster than pytorch-grad-cam; activations of every conv <= 1.5x a
forward; cnnvis.batch >= 0.8x the limit's throughput. On a CPU the sizes are smaller (see --help).
Run: .venv/bin/python benchmarks/bench_gpu.py [--device cpu] [--arch resnet18 --size 64 --batches 1,8]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

sys.path.insert(0, str(Path(__file__).parent))
from _timing import report, side_by_side  # noqa: E402

import cnnvis  # noqa: E402

LIMIT = "limit"


def synced(fn, device):
    """``fn`` timed to the end of its device work."""
    if device.type != "cuda":
        return fn

    def run():
        out = fn()
        torch.cuda.synchronize(device)
        return out
    return run


def forward_and_grad(model, module, x):
    captured = {}
    handle = module.register_forward_hook(lambda m, a, out: captured.setdefault("a", out))
    try:
        logits = model(x)
        return torch.autograd.grad(logits.gather(1, logits.argmax(1, keepdim=True)).sum(), captured["a"])[0]
    finally:
        handle.remove()


def to_host(maps, size):
    return F.interpolate(maps[:, None], size=(size, size), mode="bilinear", align_corners=False)[:, 0].cpu().numpy()


def peers(model, layer_name, x, size):
    """The other libraries' GradCAM, each ending at input size on the host; a missing one is skipped."""
    found = {}
    module = model.get_submodule(layer_name)
    try:
        from pytorch_grad_cam import GradCAM

        pgc = GradCAM(model=model, target_layers=[module])
        found["pytorch-grad-cam"] = lambda: pgc(input_tensor=x, targets=None)
    except ImportError as exc:
        print(f"  (pytorch-grad-cam skipped: {exc})")
    try:
        from captum.attr import LayerGradCam

        captum = LayerGradCam(model, module)
        found["captum LayerGradCam"] = lambda: to_host(captum.attribute(
            x, target=model(x).argmax(1), relu_attributions=True)[:, 0].detach(), size)
    except ImportError as exc:
        print(f"  (Captum skipped: {exc})")
    torchcam = _torchcam()
    if torchcam is not None:
        def run_torchcam():
            with torchcam.GradCAM(model, layer_name) as extractor:
                out = model(x)
                return to_host(extractor(out.argmax(1).tolist(), out)[0], size)
        found["torchcam GradCAM"] = run_torchcam
    return found


def _torchcam():
    try:
        import torchcam.methods as methods
    except ImportError as exc:
        print(f"  (torchcam skipped: {exc}; pip install 'cnnvis[bench]')")
        return None
    return methods


def gradcam(model, layer, device, size, batches, repeats):
    for b in batches:
        x = torch.randn(b, 3, size, size, device=device)
        candidates = {
            LIMIT: lambda x=x: forward_and_grad(model, model.get_submodule(layer), x),
            "cnnvis": lambda x=x: cnnvis.explain(model, x, layer=layer, progress=False),
            **peers(model, layer, x, size),
        }
        medians = side_by_side({k: synced(v, device) for k, v in candidates.items()}, repeats=repeats)
        report(f"GradCAM, batch {b}", medians, LIMIT)
        _compare("cnnvis", medians)


def scorecam(model, layer, device, size, repeats, chunk):
    x = torch.randn(1, 3, size, size, device=device)
    channels = cnnvis.activations(model, x, [layer])[layer].shape[1]
    masks = torch.rand(chunk, 3, size, size, device=device)

    def forwards():
        with torch.inference_mode():
            for start in range(0, channels, chunk):
                model(masks[:min(chunk, channels - start)])

    candidates = {LIMIT: forwards, "cnnvis": lambda: cnnvis.explain(
        model, x, method="scorecam", layer=layer, progress=False, batch_size=chunk)}
    try:
        from pytorch_grad_cam import ScoreCAM

        pgc = ScoreCAM(model=model, target_layers=[model.get_submodule(layer)])
        pgc.batch_size = chunk
        candidates["pytorch-grad-cam"] = lambda: pgc(input_tensor=x, targets=None)
    except ImportError as exc:
        print(f"  (pytorch-grad-cam skipped: {exc})")
    torchcam = _torchcam()
    if torchcam is not None:
        def run_torchcam():
            with torchcam.ScoreCAM(model, layer, batch_size=chunk) as extractor:
                with torch.no_grad():
                    out = model(x)
                return to_host(extractor(int(out.argmax(1)[0]))[0], size)
        candidates["torchcam ScoreCAM"] = run_torchcam
    medians = side_by_side({k: synced(v, device) for k, v in candidates.items()}, repeats=repeats, warmup=1)
    report(f"ScoreCAM, 1 image, {channels} masked forwards in chunks of {chunk}", medians, LIMIT)
    _compare("cnnvis", medians)


def activations(model, device, size, repeats):
    x = torch.randn(1, 3, size, size, device=device)
    convs = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)]

    def forward():
        with torch.inference_mode():
            return model(x)

    medians = side_by_side({k: synced(v, device) for k, v in {
        LIMIT: forward,
        f"cnnvis.activations, {len(convs)} convs": lambda: cnnvis.activations(model, x, convs),
        f"cnnvis.activations stats, {len(convs)} convs": lambda: cnnvis.activations(model, x, convs, stats=True),
    }.items()}, repeats=repeats)
    report("Activations of every conv, 1 image", medians, LIMIT)


def throughput(model, layer, device, size, count, chunk):
    data = np.random.default_rng(0).random((count, 3, size, size), dtype=np.float32)
    module = model.get_submodule(layer)

    def limit():
        for i in range(0, count, chunk):
            forward_and_grad(model, module, torch.from_numpy(data[i:i + chunk]).to(device)).cpu()

    def ours():
        with tempfile.TemporaryDirectory() as out:
            cnnvis.batch(list(data), model, methods=["gradcam"], layer=layer, out=out, chunk_size=chunk,
                         progress=False, resume=False, device=str(device))

    candidates = {LIMIT: limit, "cnnvis.batch": ours}
    try:
        from pytorch_grad_cam import GradCAM

        def pgc_loop():
            cam = GradCAM(model=model, target_layers=[module])
            for i in range(0, count, chunk):
                cam(input_tensor=torch.from_numpy(data[i:i + chunk]).to(device), targets=None)
        candidates[f"pytorch-grad-cam loop of {chunk}"] = pgc_loop
    except ImportError as exc:
        print(f"  (pytorch-grad-cam skipped: {exc})")
    medians = side_by_side({k: synced(v, device) for k, v in candidates.items()}, repeats=1, warmup=0)
    print(f"\nGradCAM throughput, {count} images in chunks of {chunk}")
    for name, seconds in medians.items():
        print(f"  {name:<42} {count / seconds:9.1f} img/s   {medians[LIMIT] / seconds:5.2f}x the limit's rate")


def _compare(ours: str, medians: dict) -> None:
    others = [f"{medians[k] / medians[ours]:.2f}x faster than {k}" for k in medians if k not in (ours, LIMIT)]
    if others:
        print(f"  => {ours}: " + ", ".join(others))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cuda = torch.cuda.is_available()
    parser.add_argument("--device", default="cuda" if cuda else "cpu")
    parser.add_argument("--arch", default="resnet50" if cuda else "resnet18")
    parser.add_argument("--size", type=int, default=224 if cuda else 64)
    parser.add_argument("--batches", default="1,8,64,128,256" if cuda else "1,8,32")
    parser.add_argument("--layer", default="layer4")
    parser.add_argument("--score-layer", default=None, help="ScoreCAM's layer (default --layer)")
    parser.add_argument("--score-chunk", type=int, default=64)
    parser.add_argument("--images", type=int, default=2048 if cuda else 128, help="cnnvis.batch items")
    parser.add_argument("--repeats", type=int, default=5 if cuda else 3)
    parser.add_argument("--skip", default="", help="comma-separated: gradcam, scorecam, activations, batch")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    model = getattr(torchvision.models, args.arch)(weights=None).eval().to(device)
    print(f"torch {torch.__version__} on {device} ({torch.cuda.get_device_name(device) if cuda and device.type == 'cuda' else f'{torch.get_num_threads()} threads'}), "
          f"{args.arch} at {args.size}x{args.size}")
    skip = set(filter(None, args.skip.split(",")))
    if "gradcam" not in skip:
        gradcam(model, args.layer, device, args.size, [int(b) for b in args.batches.split(",")], args.repeats)
    if "scorecam" not in skip:
        scorecam(model, args.score_layer or args.layer, device, args.size, max(1, args.repeats // 2), args.score_chunk)
    if "activations" not in skip:
        activations(model, device, args.size, args.repeats)
    if "batch" not in skip:
        throughput(model, args.layer, device, args.size, args.images, 64)


if __name__ == "__main__":
    main()
