"""The CAM engine computes on the adapter's own arrays: torch tensors for torch models, numpy otherwise."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

import cnnvis  # noqa: E402
from cnnvis.adapters.base import LayerPass, resolve_adapter  # noqa: E402
from cnnvis.cam.engine import CAMMethod, run_cam  # noqa: E402
from cnnvis.cam.ops import ArrayOps, TorchOps, ops_for  # noqa: E402

METHODS = ["gradcam", "gradcam++", "hirescam", "xgradcam", "layercam", "eigencam", "scorecam", "ablationcam"]


class HostAdapter:
    """The torch adapter with its layer pass copied to numpy: the engine's numpy path on the same model."""

    def __init__(self, adapter):
        self.inner = adapter

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def layer_pass(self, *args, **kwargs):
        found = self.inner.layer_pass(*args, **kwargs)

        def host(t):
            return None if t is None else t.detach().cpu().numpy()

        return LayerPass(outputs=host(found.outputs), activations=host(found.activations),
                         gradients=host(found.gradients), targets=found.targets)


@pytest.fixture(scope="module")
def resnet18(torch_threads):
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None).eval(), torch.randn(2, 3, 64, 64)


def small_cnn():
    torch.manual_seed(0)
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 12, 3, padding=1, stride=2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(12, 4)).eval()


@pytest.mark.parametrize("method", METHODS)
def test_torch_path_equals_numpy_path(resnet18, method):
    model, x = resnet18
    layer = "layer3"
    if method in ("scorecam", "ablationcam"):  # one masked forward per channel: a small layer keeps it quick
        model, layer = small_cnn(), "2"
    adapter = resolve_adapter(model)
    batch = adapter.prepare_inputs(x)
    ours = run_cam(adapter, method, batch, layer=layer, progress=False)
    host = run_cam(HostAdapter(adapter), method, batch, layer=layer, progress=False)
    assert isinstance(ours.ops, TorchOps) and isinstance(ours.maps, torch.Tensor)
    assert type(host.ops) is ArrayOps and isinstance(host.maps, np.ndarray)
    ours, host = ours.host(), host.host()
    np.testing.assert_allclose(ours.raw, host.raw, atol=1e-5 * max(1.0, float(np.abs(host.raw).max())))
    np.testing.assert_allclose(ours.maps, host.maps, atol=1e-5)


def test_ops_resize_matches_opencv():
    rng = np.random.default_rng(0)
    for shape, size in [((3, 7, 7), (64, 64)), ((2, 5, 9), (31, 17)), ((2, 16, 16), (8, 8))]:
        maps = rng.standard_normal(shape).astype(np.float32)
        theirs = ArrayOps().resize(maps, *size)
        ours = TorchOps(torch.device("cpu")).resize(torch.from_numpy(maps), *size).numpy()
        np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_maps_stay_numpy_and_tensors_are_kept_on_request(resnet18):
    model, x = resnet18
    exp = cnnvis.explain(model, x, as_tensor=True)
    assert isinstance(exp.maps, np.ndarray) and exp.maps.dtype == np.float32
    maps, raw = exp.tensors()
    assert isinstance(maps, torch.Tensor) and maps.device == x.device and exp.device == "cpu"
    np.testing.assert_array_equal(maps.numpy(), exp.maps)
    np.testing.assert_array_equal(raw.numpy(), exp.raw)
    with pytest.raises(cnnvis.CnnvisError, match="as_tensor=True"):
        cnnvis.explain(model, x).tensors()


class NumpyWeights(CAMMethod):
    """A method written for numpy only: it still works on the torch path."""

    name = "numpy-weights"

    def weights(self, ctx):
        return np.asarray(ctx.ops.to_host(ctx.gradients)).mean(axis=(2, 3))


def test_a_method_returning_numpy_works_on_the_torch_path(resnet18):
    model, x = resnet18
    ours = cnnvis.explain(model, x, method=NumpyWeights, layer="layer3")
    gradcam = cnnvis.explain(model, x, method="gradcam", layer="layer3")
    np.testing.assert_allclose(ours.maps, gradcam.maps, atol=1e-6)


def test_context_exposes_the_array_namespace(resnet18):
    model, x = resnet18
    seen = {}

    class Probe(CAMMethod):
        name = "probe"

        def weights(self, ctx):
            seen["xp"], seen["kind"] = ctx.xp, type(ctx.activations)
            return ctx.xp.mean(ctx.gradients, axis=(2, 3))

    cnnvis.explain(model, x, method=Probe, layer="layer3")
    assert seen["kind"] is torch.Tensor and seen["xp"].__name__ == "array_api_compat.torch"
    assert ops_for(np.zeros(1)).xp.__name__ == "array_api_compat.numpy"
