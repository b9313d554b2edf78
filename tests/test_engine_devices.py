"""device= on load and batch runs, replies naming the device, the batch reader running ahead."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import cnnvis  # noqa: E402
from cnnvis.batching.pools import prefetched  # noqa: E402
from cnnvis.services import Dispatcher, ModelSession  # noqa: E402

nn = torch.nn
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none on this machine)")


def tiny():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 3)).eval()


@pytest.fixture()
def saved(tmp_path):
    model, x = tiny(), torch.randn(2, 3, 8, 8)
    path = tmp_path / "tiny.pt2"
    torch.export.save(torch.export.export(model, (x,)), path)
    return path, x


def test_load_on_a_device_and_the_reply_names_it(saved):
    path, x = saved
    handle = cnnvis.load(path, device="cpu")
    assert cnnvis.explain(handle, x).device == "cpu"
    d = Dispatcher()
    d.add_session("m", ModelSession(handle, x))
    assert d.handle("explain", {}).result["device"] == "cpu"


def test_a_device_that_does_not_exist_is_a_clear_error(saved):
    path, _ = saved
    with pytest.raises(cnnvis.CnnvisError, match="Cannot put the model on 'nonsense'"):
        cnnvis.load(path, device="nonsense")


def test_prefetch_keeps_order_and_raises_the_readers_error():
    assert list(prefetched(iter(range(7)))) == list(range(7))

    def broken():
        yield 1
        raise ValueError("unreadable item")

    seen = []
    with pytest.raises(ValueError, match="unreadable"):
        for item in prefetched(broken()):
            seen.append(item)
    assert seen == [1]


def test_batch_run_on_a_named_device(tmp_path):
    x = np.random.default_rng(0).standard_normal((5, 3, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "items.npz", x=x)
    result = cnnvis.batch(tmp_path / "items.npz", tiny(), out=tmp_path / "out", chunk_size=2, device="cpu",
                          progress=False)
    assert result.computed == 5
    maps = result.maps("gradcam")
    reference = cnnvis.explain(tiny(), x).maps
    assert len(maps) == 5
    for key, value in maps.items():
        np.testing.assert_allclose(value, reference[int(key.rsplit(":", 1)[-1]) if ":" in key else int(key)],
                                   atol=1e-5)


@CUDA
def test_load_on_cuda_explains_there(saved):
    path, x = saved
    exp = cnnvis.explain(cnnvis.load(path, device="cuda"), x)
    assert exp.device.startswith("cuda")
