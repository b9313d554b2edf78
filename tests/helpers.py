"""Small helpers shared by the tests."""

import numpy as np


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.std() == 0 or b.std() == 0:
        return 1.0 if np.allclose(a, b, atol=1e-6) else 0.0
    return float(np.corrcoef(a, b)[0, 1])


def shared_fixture_dir(kind: str):
    """``../shared/fixtures/<kind>`` (recorded real data), or ``$CNNVIS_FIXTURES/<kind>``; None if absent."""
    import os
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    candidates = [os.environ.get("CNNVIS_FIXTURES", ""), root / "shared" / "fixtures", root.parent / "shared" / "fixtures"]
    for base in candidates:
        if base and (Path(base) / kind).is_dir():
            return Path(base) / kind
    return None


def legacy_resnet18_onnx():
    """torchvision resnet18 (eval, random weights) as an ``onnx.ModelProto`` whose nodes are named
    ``{OpType}_{index}`` in topological order, Identity/Constant skipped: ``Conv_0``, ...,
    ``Gemm_48``, as the older exporter behind the recorded A100 TensorRT engines named them."""
    import io
    import warnings

    import onnx
    import torch
    import torchvision

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(torchvision.models.resnet18(weights=None).eval(), torch.zeros(1, 3, 224, 224), buffer,
                          dynamo=False)
    proto = onnx.load_from_string(buffer.getvalue())
    index = 0
    for node in proto.graph.node:
        if node.op_type not in ("Identity", "Constant"):
            node.name, index = f"{node.op_type}_{index}", index + 1
    return proto


def tiny_onnx(path, channels: int, size: int) -> None:
    """A small seeded CNN (conv, ReLU, pool, linear to 3 classes) exported to ``path`` with a
    dynamic batch axis on ``input`` (N, 3, size, size)."""
    import warnings

    import torch

    torch.manual_seed(0)
    tiny = torch.nn.Sequential(torch.nn.Conv2d(3, channels, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(channels, 3)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(tiny, torch.zeros(1, 3, size, size), path, dynamo=False, input_names=["input"],
                          dynamic_axes={"input": {0: "n"}})


def small_resnet18(size: int = 64, seed: int = 3, uniform: bool = False):
    """A seeded torchvision resnet18 with 10 classes (no weights downloaded) and two images for it."""
    import torch
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=10).eval()
    draw = torch.rand if uniform else torch.randn
    return model, draw(2, 3, size, size, generator=torch.Generator().manual_seed(seed))


def small_cnn_dispatcher(**session_options):
    """A ``Dispatcher`` holding, as model ``"m"``, a seeded two-conv CNN (8 channels, 3 classes) and two
    12x12 inputs; ``session_options`` go to its ``ModelSession``."""
    import torch

    from cnnvis.services import Dispatcher, ModelSession

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 8, 3, padding=1),
        torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 3),
    ).eval()
    dispatcher = Dispatcher()
    dispatcher.add_session("m", ModelSession(model, torch.randn(2, 3, 12, 12), **session_options))
    return dispatcher


# cnnvis method -> the pytorch-grad-cam class it is checked against.
GRAD_CAM_ANCHORS = {
    "gradcam": "GradCAM", "gradcam++": "GradCAMPlusPlus", "hirescam": "HiResCAM", "xgradcam": "XGradCAM",
    "layercam": "LayerCAM", "eigencam": "EigenCAM", "scorecam": "ScoreCAM", "ablationcam": "AblationCAM",
}


def grad_cam_anchor_maps(method: str, model, module, x, batch_size: int) -> np.ndarray:
    """pytorch-grad-cam's maps ``(N, H, W)`` for ``method`` at ``module``, each image's top class;
    ``batch_size`` masked forwards at a time for the perturbation methods."""
    import pytorch_grad_cam

    with getattr(pytorch_grad_cam, GRAD_CAM_ANCHORS[method])(model=model, target_layers=[module]) as cam:
        if hasattr(cam, "batch_size"):
            cam.batch_size = batch_size
        return cam(input_tensor=x, targets=None)


def assert_same_maps(ours: np.ndarray, theirs: np.ndarray, threshold: float) -> None:
    """Same shape, and each image's maps correlate (Pearson) at ``threshold`` or better."""
    assert ours.shape == theirs.shape
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        r = pearson(a, b)
        assert r >= threshold, f"image {i}: Pearson {r:.6f} < {threshold}"
