"""Sweep: every torchvision classification, segmentation and detection constructor (random
weights), cnnvis's GradCAM against pytorch-grad-cam; prints one outcome per model.
``python benchmarks/sweep_torchvision.py [classification|segmentation|detection ...] [classifier ...]``."""

from __future__ import annotations

import sys
import time
import warnings

from sweep_torch_cases import classifier_outcome, corr, print_table

SIZE = 224


def classification(only: set[str] | None = None) -> list[tuple]:
    import torch
    import torchvision

    x = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    results = []
    for name in torchvision.models.list_models(module=torchvision.models):
        if only and name not in only:
            continue
        torch.manual_seed(0)
        model = torchvision.models.get_model(name, weights=None).eval()
        result, detail = classifier_outcome(model, x, channels_last=name.startswith("swin"))
        results.append(("classification", name, result, detail))
        print(f"{result:8} {name:30} {detail}", flush=True)
        del model
    return results


def segmentation() -> list[tuple]:
    import torch
    import torchvision

    x = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    results = []
    for name in torchvision.models.list_models(module=torchvision.models.segmentation):
        torch.manual_seed(0)
        kwargs = {"weights_backbone": None} if "weights_backbone" in _params(name) else {}
        model = torchvision.models.get_model(name, weights=None, num_classes=5, aux_loss=None, **kwargs).eval()
        result, detail = _segmentation_outcome(model, x)
        results.append(("segmentation", name, result, detail))
        print(f"{result:8} {name:30} {detail}", flush=True)
    return results


def _params(name: str) -> set:
    import inspect

    import torchvision

    return set(inspect.signature(torchvision.models.get_model_builder(name)).parameters)


class _Out:
    """A segmentation model as pytorch-grad-cam takes it: a module returning the 'out' logits."""

    def __new__(cls, model):
        import torch

        class Wrapped(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.model = model

            def forward(self, x):
                return self.model(x)["out"]
        return Wrapped()


def _segmentation_outcome(model, x) -> tuple[str, str]:
    import pytorch_grad_cam as gradcam
    import torch
    from pytorch_grad_cam.utils.model_targets import SemanticSegmentationTarget

    import cnnvis
    from cnnvis.errors import CnnvisError
    from cnnvis.targets import Segmentation

    with torch.no_grad():
        out = model(x)["out"]
    category = int(out.argmax(1).flatten().mode().values)
    mask = (out.argmax(1)[0] == category).float().numpy()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exp = cnnvis.explain(model, x, method="gradcam", target=Segmentation(category, mask), output="out")
    except CnnvisError as exc:
        return "refused", str(exc).splitlines()[0][:150]
    except Exception as exc:
        return "crash", f"{type(exc).__name__}: {exc}"[:150]
    wrapped = _Out(model)
    with gradcam.GradCAM(wrapped, [wrapped.model.get_submodule(exp.layer)]) as cam:
        expected = cam(x, targets=[SemanticSegmentationTarget(category, mask)])
    r = corr(exp.maps, expected)
    return ("equal" if r >= 0.99 else "wrong"), f"{exp.layer} corr={r:.4f}"


def detection() -> list[tuple]:
    import torch
    import torchvision

    x = torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    results = []
    for name in torchvision.models.list_models(module=torchvision.models.detection):
        torch.manual_seed(0)
        params = _params(name)
        kwargs = {k: v for k, v in {"weights_backbone": None, "box_score_thresh": 0.0, "score_thresh": 0.0}.items()
                  if k in params or "kwargs" in params}
        try:
            model = torchvision.models.get_model(name, weights=None, num_classes=5, **kwargs).eval()
        except TypeError:
            model = torchvision.models.get_model(name, weights=None, num_classes=5, weights_backbone=None).eval()
        result, detail = _detection_outcome(model, x)
        results.append(("detection", name, result, detail))
        print(f"{result:8} {name:30} {detail}", flush=True)
    return results


def _detection_outcome(model, x) -> tuple[str, str]:
    import pytorch_grad_cam as gradcam
    import torch
    from pytorch_grad_cam.utils.model_targets import FasterRCNNBoxScoreTarget

    import cnnvis
    from cnnvis.errors import CnnvisError
    from cnnvis.targets import Detection

    with torch.no_grad():
        found = model(x)[0]
    sized = (found["boxes"][:, 2] > found["boxes"][:, 0]) & (found["boxes"][:, 3] > found["boxes"][:, 1])
    if not bool(sized.any()):
        return "refused", "no detection with an area to explain (random weights)"
    first = int(sized.nonzero()[0, 0])  # the best-scoring box that has an area
    boxes, labels = found["boxes"][first:first + 1].numpy(), found["labels"][first:first + 1].numpy()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exp = cnnvis.explain(model, x, method="gradcam", target=Detection(boxes, labels))
    except CnnvisError as exc:
        return "refused", str(exc).splitlines()[0][:150]
    except Exception as exc:
        return "crash", f"{type(exc).__name__}: {exc}"[:150]
    try:
        with gradcam.GradCAM(model, [model.get_submodule(exp.layer)]) as cam:
            expected = cam(x, targets=[FasterRCNNBoxScoreTarget(labels, torch.as_tensor(boxes))])
    except Exception as exc:
        return "no-ref", f"{exp.layer}: pytorch-grad-cam failed: {type(exc).__name__}"[:150]
    r = corr(exp.maps, expected)
    return ("equal" if r >= 0.99 else "wrong"), f"{exp.layer} corr={r:.4f}"


def main(parts: list[str]) -> int:
    import torch

    torch.set_num_threads(2)
    start = time.perf_counter()
    results = []
    runs = {"classification": classification, "segmentation": segmentation, "detection": detection}
    only = {p for p in parts if p not in runs}  # model names: classifiers to run, the others skipped
    for part in [p for p in parts if p in runs] or (["classification"] if only else list(runs)):
        results += runs[part](only) if part == "classification" else runs[part]()
    total = print_table("torchvision zoo", results, time.perf_counter() - start)
    return 1 if total.get("crash") or total.get("wrong") else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
