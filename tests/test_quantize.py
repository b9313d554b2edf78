"""cnnvis.quantize on the demo's small CNN, trained here on the digits in a second, with an
outlier channel that per-tensor INT8 activations cannot hold."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest

import cnnvis

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

OUTLIER = 100.0  # the stem's channel 0 made this much larger, its reader scaled down to match


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    from cnnvis.demo import DigitsNet, load_digits_dataset

    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 64-image batch trains fastest on one thread of a busy machine
    data = load_digits_dataset(size=8)
    model = DigitsNet()
    optimizer = torch.optim.Adam(model.parameters(), 1e-2)
    x, y = torch.from_numpy(data["x_train"]), torch.from_numpy(data["y_train"])
    for _ in range(3):
        for batch in torch.randperm(len(x)).split(64):
            loss = torch.nn.functional.cross_entropy(model(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    torch.set_num_threads(threads)
    model.eval()
    with torch.no_grad():  # the same function in float; an activation range INT8 spends on one channel
        model.stem[1].weight[0] *= OUTLIER
        model.stem[1].bias[0] *= OUTLIER
        model.features[0].weight[:, 0] /= OUTLIER
    path = tmp_path_factory.mktemp("quantize") / "digits.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.zeros(1, 1, 8, 8), str(path), dynamo=False, input_names=["input"],
                          output_names=["logits"], dynamic_axes={"input": {0: "n"}, "logits": {0: "n"}})
    return path, data["x_test"], data["y_test"]


def _accuracy(path, x, labels) -> float:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logits = session.run(None, {"input": x})[0]
    return float((logits.argmax(1) == labels).mean())


def test_fewest_float_layers_reach_the_target(digits, tmp_path):
    path, x, labels = digits
    out = tmp_path / "digits.mixed.onnx"
    seen = []
    result = cnnvis.quantize(path, x, labels, target_retention=0.98, out=out, progress=lambda d, t: seen.append(d))
    print(result, result.kept_float, [(c["kept_float"], round(c["retention"], 4)) for c in result.candidates])
    full_int8 = result.candidates[0]
    assert full_int8["kept_float"] == [] and full_int8["retention"] < 0.98  # the outlier channel costs accuracy
    assert result.reached and result.path == out and out.is_file()
    assert 0 < len(result.kept_float) < len(result.flagged)  # fewer than keeping every flagged layer
    assert set(result.kept_float) <= set(result.ranked)
    remeasured = _accuracy(out, x, labels) / _accuracy(path, x, labels)
    assert remeasured == pytest.approx(result.retention, abs=1e-12)
    assert result.rounds <= 12 and seen == list(range(1, result.rounds + 1))
    assert all(c["size_bytes"] > 0 and c["latency_ms"] > 0 for c in result.candidates) and result.latency_fp32_ms > 0
    fewer = [c for c in result.candidates if c["passed"] and len(c["kept_float"]) < len(result.kept_float)]
    assert not fewer  # no candidate that passed kept fewer layers


def test_already_good_and_cancelled_and_bad_input(digits, tmp_path):
    path, x, labels = digits
    easy = cnnvis.quantize(path, x, labels, target_retention=0.5, out=tmp_path / "easy.onnx", progress=False)
    assert easy.kept_float == [] and easy.rounds == 1 and easy.reached
    stop = threading.Event()
    stop.set()
    with pytest.raises(cnnvis.CancelledError):
        cnnvis.quantize(path, x, labels, out=tmp_path / "never.onnx", cancel=stop, progress=False)
    assert not (tmp_path / "never.onnx").exists()
    with pytest.raises(cnnvis.CnnvisError, match="labels has 5 entries"):
        cnnvis.quantize(path, x, labels[:5], progress=False)
    with pytest.raises(cnnvis.CnnvisError, match="No ONNX model"):
        cnnvis.quantize(tmp_path / "missing.onnx", x, labels, progress=False)
    wrong = np.zeros_like(labels) + 99
    with pytest.raises(cnnvis.CnnvisError, match="none of the labelled images"):
        cnnvis.quantize(path, x, wrong, progress=False)
