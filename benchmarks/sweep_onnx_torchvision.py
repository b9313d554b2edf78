"""Sweep: torchvision classifiers exported to ONNX (random weights), cnnvis's EigenCAM on its default
layer against pytorch-grad-cam's projection of that layer's tensor as onnxruntime computes it;
prints one outcome per model. ``python benchmarks/sweep_onnx_torchvision.py [model ...]``."""

from __future__ import annotations

import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from sweep_torch_cases import corr, print_table

SIZE = 224


def export(model, x, folder: Path) -> Path:
    """``model.onnx`` in ``folder``; past protobuf's 2 GB (vit_h_14, regnet_y_128gf) the exporter
    writes the weights beside it as external data, as deployed large models ship."""
    import torch

    path = folder / "model.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, x, str(path), dynamo=False, input_names=["input"], dynamic_axes={"input": {0: "n"}})
    return path


def reference_activation(path: Path, tensor: str, batch: np.ndarray) -> np.ndarray:
    """``tensor`` as onnxruntime computes it, from a copy of the file that also outputs it (saved in
    the same folder, so external weights are found where the exporter put them)."""
    import onnx
    import onnxruntime as ort

    proto = onnx.load(str(path), load_external_data=False)
    proto.graph.output.append(onnx.ValueInfoProto(name=tensor))
    probe = path.with_name("probe.onnx")
    onnx.save(proto, str(probe))
    session = ort.InferenceSession(str(probe), providers=["CPUExecutionProvider"])
    return session.run([tensor], {"input": batch})[0]


def outcome(model, x) -> tuple[str, str]:
    import torch
    from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection

    import cnnvis
    from cnnvis.adapters.base import resolve_adapter
    from cnnvis.errors import CnnvisError

    with tempfile.TemporaryDirectory(prefix="cnnvis-sweep-") as folder:
        try:
            path = export(model, x, Path(folder))
        except Exception as exc:
            return "no-ref", f"torch.onnx.export failed: {type(exc).__name__}"[:150]
        batch = x.numpy()
        try:
            handle = cnnvis.load(path)
            exp = cnnvis.explain(handle, batch, method="eigencam", progress=False)
            tensor = resolve_adapter(handle).tensor_of(exp.layer)
        except CnnvisError as exc:
            return "refused", str(exc).splitlines()[0][:150]
        except Exception as exc:
            return "crash", f"{type(exc).__name__}: {exc}"[:150]
        activation = reference_activation(path, tensor, batch)
        if handle.model.layouts.get(tensor) == "NHWC":
            activation = activation.transpose(0, 3, 1, 2)
        elif activation.ndim == 3:  # ViT tokens: pytorch-grad-cam's reshape (prefix dropped, square grid)
            from sweep_torch_cases import tokens_transform

            activation = tokens_transform(torch.from_numpy(activation)).numpy()
        del handle
    expected = get_2d_projection(activation)
    r = abs(corr(exp.raw, expected))  # a principal component's sign is a convention
    return ("equal" if r >= 0.99 else "wrong"), f"{exp.layer} |corr|={r:.4f}"


def main(names: list[str]) -> int:
    import torch
    import torchvision

    torch.set_num_threads(2)
    x = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    results = []
    for name in names or torchvision.models.list_models(module=torchvision.models):
        torch.manual_seed(0)
        model = torchvision.models.get_model(name, weights=None).eval()
        result, detail = outcome(model, x)
        results.append(("onnx-torchvision", name, result, detail))
        print(f"{result:8} {name:30} {detail}", flush=True)
    total = print_table("torchvision classifiers exported to ONNX", results, time.perf_counter() - start)
    return 1 if total.get("crash") or total.get("wrong") else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
