"""What GPU users run: compiled and wrapped models, half precision, channels_last, devices."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from helpers import pearson  # noqa: E402

import cnnvis  # noqa: E402

nn = torch.nn
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none on this machine)")


def small_cnn():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1, stride=2), nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 5),
    ).eval()


@pytest.fixture(scope="module")
def model_and_inputs(torch_threads):
    return small_cnn(), torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def test_compiled_model_answers_to_plain_names(model_and_inputs):
    model, x = model_and_inputs
    compiled = torch.compile(model, backend="eager")
    assert "4" in cnnvis.activations(compiled, x)
    ours = cnnvis.explain(compiled, x, layer="4")
    plain = cnnvis.explain(model, x, layer="4")
    assert ours.layer == "4"
    np.testing.assert_allclose(ours.maps, plain.maps, atol=1e-5)
    with pytest.raises(cnnvis.CnnvisError, match="_orig_mod.4"):
        cnnvis.explain(compiled, x, layer="_orig_mod.4")


def test_data_parallel_answers_to_plain_names(model_and_inputs):
    model, x = model_and_inputs
    wrapped = nn.DataParallel(model)
    exp = cnnvis.explain(wrapped, x)
    assert exp.layer == cnnvis.explain(model, x).layer == "5"
    np.testing.assert_allclose(exp.maps, cnnvis.explain(model, x).maps, atol=1e-6)
    assert set(cnnvis.activations(wrapped, x)) == set(cnnvis.activations(model, x))


def test_distributed_data_parallel_answers_to_plain_names(model_and_inputs, tmp_path):
    import torch.distributed as dist

    model, x = model_and_inputs
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        wrapped = nn.parallel.DistributedDataParallel(small_cnn())
        exp = cnnvis.explain(wrapped, x, layer="2")
        np.testing.assert_allclose(exp.maps, cnnvis.explain(model, x, layer="2").maps, atol=1e-6)
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "eigencam"])
def test_half_precision_maps_follow_the_fp32_model(dtype, method):
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    reference = cnnvis.explain(model, x, method=method, layer="layer3")
    half = cnnvis.explain(model.to(dtype), x, method=method, layer="layer3", as_tensor=True)
    assert half.maps.dtype == np.float32 and half.tensors()[0].dtype == torch.float32
    for i, (a, b) in enumerate(zip(half.maps, reference.maps, strict=True)):
        assert pearson(a, b) >= 0.999, f"image {i}: {pearson(a, b):.5f}"


def test_channels_last_model_and_inputs_give_equal_maps(model_and_inputs):
    model, x = model_and_inputs
    reference = cnnvis.explain(small_cnn(), x, layer="2", method="gradcam++")
    last = small_cnn().to(memory_format=torch.channels_last)
    exp = cnnvis.explain(last, x.to(memory_format=torch.channels_last), layer="2", method="gradcam++")
    np.testing.assert_allclose(exp.maps, reference.maps, atol=1e-6)
    np.testing.assert_allclose(exp.raw, reference.raw, atol=1e-6)


def test_inputs_on_another_device_are_refused(model_and_inputs):
    model, x = model_and_inputs
    with pytest.raises(cnnvis.CnnvisError, match="inputs are on meta and the model on cpu"):
        cnnvis.explain(model, x.to("meta"))


@CUDA
def test_cuda_model_maps_equal_cpu_maps():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    x = torch.randn(3, 3, 64, 64)
    reference = cnnvis.explain(model, x, layer="layer3")
    on_gpu = cnnvis.explain(model.cuda(), x, layer="layer3", as_tensor=True)
    assert on_gpu.device.startswith("cuda") and on_gpu.tensors()[0].is_cuda
    for a, b in zip(on_gpu.maps, reference.maps, strict=True):
        assert pearson(a, b) >= 0.9999


@CUDA
def test_cuda_inputs_for_a_cpu_model_are_refused(model_and_inputs):
    model, x = model_and_inputs
    with pytest.raises(cnnvis.CnnvisError, match="inputs are on cuda"):
        cnnvis.explain(model, x.cuda())


@CUDA
@pytest.mark.parametrize("method", ["scorecam", "ablationcam", "gradcam++"])
def test_cuda_methods_equal_cpu(method):
    model, x = small_cnn(), torch.randn(3, 3, 32, 32)
    reference = cnnvis.explain(model, x, method=method, layer="2", progress=False)
    on_gpu = cnnvis.explain(small_cnn().cuda(), x, method=method, layer="2", progress=False)
    for a, b in zip(on_gpu.maps, reference.maps, strict=True):
        assert pearson(a, b) >= 0.9999


@CUDA
def test_cuda_statistics_equal_cpu(model_and_inputs):
    model, x = model_and_inputs
    reference = cnnvis.activations(model, x, stats=True)
    on_gpu = cnnvis.activations(small_cnn().cuda(), x, stats=True)
    for name, stats in reference.items():
        np.testing.assert_allclose(on_gpu[name]["mean"], stats["mean"], atol=1e-4)


@CUDA
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA GPUs")
def test_inputs_on_another_gpu_are_refused(model_and_inputs):
    model, x = model_and_inputs
    with pytest.raises(cnnvis.CnnvisError, match="inputs are on cuda:1 and the model on cuda:0"):
        cnnvis.explain(small_cnn().to("cuda:0"), x.to("cuda:1"))
