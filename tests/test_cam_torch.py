"""Behaviour of explain/activations/load on PyTorch models: targets, errors, overlays, cancelling."""

import pickle
import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import cnnvis  # noqa: E402


class SmallNet(nn.Module):
    def __init__(self, classes=4, softmax=False):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU()
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, classes)
        self.softmax = nn.Softmax(dim=1) if softmax else nn.Identity()

    def forward(self, x):
        return self.softmax(self.fc(torch.flatten(self.pool(self.features(x)), 1)))


@pytest.fixture()
def net():
    torch.manual_seed(0)
    return SmallNet().eval(), torch.randn(3, 3, 16, 16)


def test_default_layer_is_outermost_spatial_module(net):
    model, x = net
    exp = cnnvis.explain(model, x)
    assert exp.layer == "features"
    assert exp.maps.shape == (3, 16, 16) and exp.raw.shape == (3, 16, 16)
    assert exp.outputs.shape == (3, 4)
    assert exp.targets == list(np.argmax(exp.outputs, axis=1))
    assert np.all(exp.maps >= 0) and np.all(exp.maps <= 1)


@pytest.mark.parametrize("target", [2, [0, 1, 2], np.array([3, 3, 1])])
def test_integer_targets(net, target):
    model, x = net
    exp = cnnvis.explain(model, x, target=target)
    expected = [target] * 3 if isinstance(target, int) else [int(t) for t in target]
    assert exp.targets == expected


def test_callable_target_equals_integer_target(net):
    model, x = net
    by_int = cnnvis.explain(model, x, target=1)
    by_callable = cnnvis.explain(model, x, target=lambda out: out[:, 1])
    assert by_callable.targets is None
    np.testing.assert_allclose(by_callable.raw, by_int.raw, rtol=1e-5, atol=1e-6)


def test_final_softmax_is_bypassed():
    torch.manual_seed(0)
    with_softmax = SmallNet(softmax=True).eval()
    plain = SmallNet().eval()
    plain.load_state_dict(with_softmax.state_dict())
    x = torch.randn(2, 3, 16, 16)
    a = cnnvis.explain(with_softmax, x, target=0)
    b = cnnvis.explain(plain, x, target=0)
    np.testing.assert_allclose(a.outputs, plain(x).detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(a.raw, b.raw, rtol=1e-5, atol=1e-7)


def test_gradients_do_not_touch_parameters(net):
    model, x = net
    cnnvis.explain(model, x)
    assert all(p.grad is None for p in model.parameters())
    assert torch.is_grad_enabled()


def test_class_names_and_top_k(net):
    model, x = net
    names = ["cat", "dog", "bird", "fish"]
    exp = cnnvis.explain(model, x, class_names=names)
    assert exp.target_names == [names[t] for t in exp.targets]
    top = exp.top_k(2)
    assert len(top) == 3 and len(top[0]) == 2
    assert top[0][0][1] == names[top[0][0][0]]
    assert top[0][0][2] >= top[0][1][2]


def test_overlay_denormalises_with_mean_std(net):
    model, x = net
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.2, 0.2)
    exp = cnnvis.explain(model, x, mean=mean, std=std)
    images = exp.images()
    expected = np.clip(x.numpy().transpose(0, 2, 3, 1) * np.array(std) + np.array(mean), 0, 1)
    np.testing.assert_allclose(images / 255.0, expected, atol=1 / 255 + 1e-6)
    over = exp.overlay(alpha=0.4, colormap="viridis")
    assert over.shape == (3, 16, 16, 3) and over.dtype == np.uint8
    assert not np.array_equal(over, images)
    assert np.array_equal(exp.overlay(alpha=0.0), images)


def test_overlay_reads_torchvision_normalize(net):
    transforms = pytest.importorskip("torchvision.transforms")
    model, x = net
    pre = transforms.Compose([transforms.Normalize((0.1, 0.2, 0.3), (0.5, 0.5, 0.5))])
    exp = cnnvis.explain(model, x, preprocess=pre)
    assert exp.normalisation == ((0.1, 0.2, 0.3), (0.5, 0.5, 0.5))


def test_method_names_are_case_insensitive(net):
    model, x = net
    assert cnnvis.explain(model, x, method="GradCAM++").method == "gradcam++"
    assert set(cnnvis.available_methods()) >= {
        "gradcam", "gradcam++", "hirescam", "xgradcam", "layercam", "eigencam", "scorecam", "ablationcam"
    }


def test_activations_are_channels_first(net):
    model, x = net
    acts = cnnvis.activations(model, x)
    assert set(acts) == {"features", "features.0", "features.1", "features.2", "features.3", "pool"}
    assert acts["features.0"].shape == (3, 8, 16, 16)
    # the ReLU runs in place on nothing here, but a clone is kept anyway: values match a plain forward
    np.testing.assert_allclose(acts["features.0"], model.features[0](x).detach().numpy(), rtol=1e-5)
    only = cnnvis.activations(model, x, layers=["features.2"])
    assert list(only) == ["features.2"]


def test_activations_survive_inplace_relu():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(inplace=True)).eval()
    x = torch.randn(1, 3, 8, 8)
    acts = cnnvis.activations(model, x, layers=["0"])
    assert acts["0"].min() < 0  # the conv output before the in-place ReLU


def test_cancel_stops_scorecam(net):
    model, x = net
    stop = threading.Event()
    stop.set()
    with pytest.raises(cnnvis.CancelledError):
        cnnvis.explain(model, x, method="scorecam", cancel=stop, progress=False)


# -- bad input ------------------------------------------------------------------------------------

def _assert_clean(excinfo):
    """A cnnvis error, raised by cnnvis, without a chained framework traceback."""
    err = excinfo.value
    assert isinstance(err, cnnvis.CnnvisError)
    assert err.__cause__ is None
    assert err.__suppress_context__ or err.__context__ is None


def test_unknown_layer_lists_nearest_names(net):
    model, x = net
    with pytest.raises(cnnvis.UnknownLayerError) as excinfo:
        cnnvis.explain(model, x, layer="feature.2")
    _assert_clean(excinfo)
    assert "features.2" in str(excinfo.value)
    assert excinfo.value.suggestions[0] == "features.2"


def test_three_dimensional_input(net):
    model, x = net
    with pytest.raises(cnnvis.InputShapeError, match="unsqueeze") as excinfo:
        cnnvis.explain(model, x[0])
    _assert_clean(excinfo)


def test_channels_last_input(net):
    model, x = net
    with pytest.raises(cnnvis.InputShapeError, match="channels-last"):
        cnnvis.explain(model, x.permute(0, 2, 3, 1).contiguous())


def test_non_spatial_layer(net):
    model, x = net
    with pytest.raises(cnnvis.NonSpatialLayerError, match="fc") as excinfo:
        cnnvis.explain(model, x, layer="fc")
    _assert_clean(excinfo)


def test_target_out_of_range(net):
    model, x = net
    with pytest.raises(cnnvis.TargetError, match="out of range"):
        cnnvis.explain(model, x, target=7)
    with pytest.raises(cnnvis.TargetError, match="one per input"):
        cnnvis.explain(model, x, target=[0, 1])


def test_unknown_method(net):
    model, x = net
    with pytest.raises(cnnvis.UnknownMethodError, match="gradcam"):
        cnnvis.explain(model, x, method="magiccam")


def test_unsupported_model():
    with pytest.raises(cnnvis.UnsupportedModelError, match="adapter"):
        cnnvis.explain(object(), np.zeros((1, 3, 8, 8)))


# -- files ----------------------------------------------------------------------------------------

def test_plain_pickle_is_refused(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    with pytest.raises(cnnvis.UnsafeFileError, match="never unpickles") as excinfo:
        cnnvis.load(path)
    _assert_clean(excinfo)


def test_whole_model_checkpoint_is_refused(tmp_path, net):
    model, _ = net
    path = tmp_path / "model.pth"
    torch.save(model, path)
    with pytest.raises(cnnvis.UnsafeFileError, match="state_dict") as excinfo:
        cnnvis.load(path, model=SmallNet())
    _assert_clean(excinfo)


def test_state_dict_loads_into_given_model(tmp_path, net):
    model, x = net
    path = tmp_path / "weights.pt"
    torch.save(model.state_dict(), path)
    with pytest.raises(cnnvis.CnnvisError, match="model="):
        cnnvis.load(path)
    handle = cnnvis.load(path, model=SmallNet().eval())
    np.testing.assert_allclose(handle.model(x).detach(), model(x).detach(), rtol=1e-6)


def test_exported_program_round_trip(tmp_path, net):
    model, x = net
    path = tmp_path / "model.pt2"
    torch.export.save(torch.export.export(model, (x,)), path)
    handle = cnnvis.load(path)
    assert handle.format == "pt2" and handle.framework == "torch"
    ours = cnnvis.explain(handle, x, target=1, layer="features")
    ref = cnnvis.explain(model, x, target=1, layer="features")
    np.testing.assert_allclose(ours.outputs, ref.outputs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.raw, ref.raw, rtol=1e-4, atol=1e-6)


def test_torchscript_loads(tmp_path, net):
    model, x = net
    path = tmp_path / "model.ts"
    torch.jit.script(model).save(str(path))
    handle = cnnvis.load(path)
    assert handle.format == "torchscript"
    np.testing.assert_allclose(handle.model(x).detach(), model(x).detach(), rtol=1e-6)
    with pytest.raises(cnnvis.CnnvisError, match="torch.export"):
        cnnvis.explain(handle, x, layer="features")


def test_missing_and_unknown_files(tmp_path):
    with pytest.raises(cnnvis.UnsupportedFileError, match="No such"):
        cnnvis.load(tmp_path / "nope.pt2")
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    with pytest.raises(cnnvis.UnsupportedFileError, match="No loader"):
        cnnvis.load(other)


def test_progress_callable_counts_forward_passes(net):
    model, x = net
    calls = []
    cnnvis.explain(model, x, method="ablationcam", batch_size=4, progress=lambda d, t: calls.append((d, t)))
    assert calls[0] == (0, 3 * 16) and calls[-1] == (3 * 16, 3 * 16)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_model_failure_is_a_cnnvis_error():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 2)).eval()
    with pytest.raises(cnnvis.InputShapeError, match="could not run") as excinfo:
        cnnvis.explain(model, torch.randn(1, 3, 10, 10), layer="0")  # the Linear expects 8x8 inputs
    _assert_clean(excinfo)


def test_fixed_batch_export_explains_the_fix(tmp_path, net):
    model, x = net
    path = tmp_path / "fixed.pt2"
    torch.export.save(torch.export.export(model, (x[:1],)), path)
    with pytest.raises(cnnvis.InputShapeError, match="dynamic batch"):
        cnnvis.explain(cnnvis.load(path), x, layer="features")


def test_layer_returning_a_tuple():
    class Pair(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x):
            y = self.conv(x)
            return y, y.mean()

    class WithPair(nn.Module):
        def __init__(self):
            super().__init__()
            self.pair = Pair()
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            y, _ = self.pair(x)
            return self.fc(y.mean(dim=(2, 3)))

    torch.manual_seed(0)
    model, x = WithPair().eval(), torch.randn(2, 3, 6, 6)
    exp = cnnvis.explain(model, x, layer="pair")
    assert exp.raw.shape == (2, 6, 6)
    assert cnnvis.activations(model, x, layers=["pair"])["pair"].shape == (2, 4, 6, 6)


@pytest.mark.parametrize("bad, error", [
    (np.array([[[[object()]]]]), cnnvis.InputShapeError),
    (np.zeros((0, 3, 16, 16), np.float32), cnnvis.InputShapeError),
])
def test_bad_input_arrays(net, bad, error):
    model, _ = net
    with pytest.raises(error):
        cnnvis.explain(model, bad)


def test_bad_options_are_cnnvis_errors(net):
    model, x = net
    with pytest.raises(cnnvis.TargetError):
        cnnvis.explain(model, x, target=True)
    with pytest.raises(cnnvis.CnnvisError, match="batch_size"):
        cnnvis.explain(model, x, method="scorecam", batch_size=0)
    exp = cnnvis.explain(model, x, mean=(0.1, 0.2), std=(1, 1))
    with pytest.raises(cnnvis.CnnvisError, match="channels"):
        exp.overlay()
    exp = cnnvis.explain(model, x)
    with pytest.raises(cnnvis.CnnvisError, match="colormap"):
        exp.overlay(colormap=3)
    with pytest.raises(cnnvis.CnnvisError, match="alpha"):
        exp.overlay(alpha="half")


def test_non_archive_file_is_unsupported_not_unsafe(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("not a model")
    with pytest.raises(cnnvis.UnsupportedFileError, match="not a PyTorch archive"):
        cnnvis.load(path)


def test_named_preprocess_fits_any_channel_count():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 2)).eval()
    x = torch.rand(2, 1, 8, 8)
    images = cnnvis.explain(model, x, layer="0", preprocess="none").images()
    np.testing.assert_allclose(images[..., 0] / 255.0, x[:, 0].numpy(), atol=1 / 255 + 1e-6)
    assert cnnvis.explain(model, x, layer="0", preprocess="tf").overlay().shape == (2, 8, 8, 3)
