"""Sweep: torchvision classifiers exported to ONNX (random weights), cnnvis's EigenCAM on its default
layer against pytorch-grad-cam's projection of that layer's tensor as onnxruntime computes it;
prints one outcome per model. ``python benchmarks/sweep_onnx_torchvision.py [model ...]``."""

from __future__ import annotations

import io
import sys
import time
import warnings

from sweep_torch_cases import corr, print_table

SIZE = 224


def export(model, x) -> bytes:
    import torch

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, x, buffer, dynamo=False, input_names=["input"], dynamic_axes={"input": {0: "n"}})
    return buffer.getvalue()


def outcome(model, x) -> tuple[str, str]:
    import onnx
    import onnxruntime as ort
    import torch
    from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection

    import cnnvis
    from cnnvis.adapters.onnx import OnnxModel, with_outputs
    from cnnvis.errors import CnnvisError

    try:
        proto = onnx.load_from_string(export(model, x))
    except Exception as exc:
        return "no-ref", f"torch.onnx.export failed: {type(exc).__name__}"[:150]
    batch = x.numpy()
    try:
        handle = OnnxModel(proto)
        exp = cnnvis.explain(handle, batch, method="eigencam")
        adapter = cnnvis.adapters.base.resolve_adapter(handle)
        tensor = adapter.tensor_of(exp.layer)
    except CnnvisError as exc:
        return "refused", str(exc).splitlines()[0][:150]
    except Exception as exc:
        return "crash", f"{type(exc).__name__}: {exc}"[:150]
    session = ort.InferenceSession(with_outputs(handle.proto, [tensor]).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    activation = session.run([tensor], {"input": batch})[0]
    if handle.layouts.get(tensor) == "NHWC":
        activation = activation.transpose(0, 3, 1, 2)
    elif activation.ndim == 3:  # ViT tokens: pytorch-grad-cam's reshape (prefix dropped, square grid)
        from sweep_torch_cases import tokens_transform

        activation = tokens_transform(torch.from_numpy(activation)).numpy()
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
