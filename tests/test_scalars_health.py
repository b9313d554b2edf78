"""health_alerts on generated logs: planted faults fire, a clean run is silent."""

from __future__ import annotations

import numpy as np
import pytest

from cnnvis.scalars import EventWriter, health_alerts, read_histograms, read_scalars

STEPS = 400


def curves(seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(STEPS)
    return {
        "loss": np.exp(-t / 150) + 0.02 * rng.normal(size=STEPS) + 0.1,
        "grad_norm": 1.0 + 0.1 * rng.normal(size=STEPS),
        "lr": np.full(STEPS, 0.1),
    }


def write_run(logdir, train: dict, val: dict | None = None, every=40):
    with EventWriter(logdir / "train") as w:
        for step in range(STEPS):
            for tag, values in train.items():
                w.add_scalar(tag, values[step], step)
    if val is not None:
        with EventWriter(logdir / "validation") as w:
            for i, step in enumerate(range(0, STEPS, every)):
                w.add_scalar("loss", val["loss"][i], step)


def clean_val():
    return {"loss": 0.3 + np.exp(-np.arange(10) / 3.0)}


def kinds(alerts):
    return sorted({a.kind for a in alerts})


def test_clean_run_is_silent(tmp_path):
    write_run(tmp_path, curves(), clean_val())
    with EventWriter(tmp_path / "other") as w:  # in-run pairs too: loss / val_loss
        for epoch in range(10):
            w.add_scalar("epoch_loss", 1.0 / (epoch + 1), epoch)
            w.add_scalar("val_loss", 1.2 / (epoch + 1), epoch)
    assert health_alerts(read_scalars(tmp_path)) == []
    assert health_alerts(str(tmp_path)) == []


def test_nan_loss(tmp_path):
    c = curves()
    c["loss"][300:] = np.nan
    write_run(tmp_path, c)
    alerts = health_alerts(read_scalars(tmp_path))
    assert kinds(alerts) == ["nan"]
    a = alerts[0]
    assert (a.run, a.tag, a.first_step, a.last_step) == ("train", "loss", 300, STEPS - 1)
    assert a.severity == "error" and "NaN" in a.message


def test_loss_spike(tmp_path):
    c = curves()
    c["loss"][250] = 5.0
    write_run(tmp_path, c)
    alerts = health_alerts(read_scalars(tmp_path))
    assert kinds(alerts) == ["spike"]
    assert alerts[0].first_step == 250 and alerts[0].last_step == 250


def test_validation_rising_while_training_falls(tmp_path):
    val = {"loss": np.array([1.0, 0.8, 0.6, 0.5, 0.45, 0.5, 0.56, 0.6, 0.7, 0.8])}
    write_run(tmp_path, curves(), val)
    alerts = health_alerts(read_scalars(tmp_path))
    assert kinds(alerts) == ["overfitting"]
    a = alerts[0]
    assert (a.run, a.tag, a.first_step, a.last_step) == ("validation", "loss", 160, 360)


def test_overfitting_between_tags_of_one_run(tmp_path):
    with EventWriter(tmp_path) as w:
        for epoch in range(12):
            w.add_scalar("loss", 1.0 / (epoch + 1), epoch)
            w.add_scalar("val_loss", 1.0 / (epoch + 1) if epoch < 6 else 0.1 * epoch, epoch)
    alerts = health_alerts(read_scalars(tmp_path))
    assert [(a.kind, a.tag, a.first_step) for a in alerts] == [("overfitting", "val_loss", 5)]


def test_exploding_and_vanishing_gradient_norms(tmp_path):
    c = curves()
    c["grad_norm"][380:] = 1e4
    write_run(tmp_path / "explode", c)
    c = curves()
    c["grad_norm"][300:] = 1e-7
    write_run(tmp_path / "vanish", c)
    alerts = health_alerts(read_scalars(tmp_path))
    found = {(a.run, a.kind, a.first_step) for a in alerts}
    assert found == {("explode/train", "exploding_gradient", 380), ("vanish/train", "vanishing_gradient", 300)}


def test_zero_learning_rate(tmp_path):
    c = curves()
    c["lr"][200:] = 0.0
    write_run(tmp_path, c)
    alerts = health_alerts(read_scalars(tmp_path))
    assert kinds(alerts) == ["zero_lr"]
    assert alerts[0].first_step == 200


def test_gradient_histograms(tmp_path):
    rng = np.random.default_rng(0)
    with EventWriter(tmp_path) as w:
        for step in range(20):
            scale = 1e5 if step >= 15 else 1.0
            w.add_histogram("grads/conv1.weight", rng.normal(size=200) * scale, step)
    alerts = health_alerts(read_scalars(tmp_path), read_histograms(tmp_path))
    assert [(a.kind, a.first_step) for a in alerts] == [("exploding_gradient", 15)]


def test_torch_logger_exploding_grad(tmp_path):
    torch = pytest.importorskip("torch")
    from cnnvis.scalars import TorchLogger

    model = torch.nn.Linear(3, 1)
    with TorchLogger(tmp_path) as log:
        for step in range(30):
            model.zero_grad()
            x = torch.ones(4, 3) * (1e6 if step >= 25 else 1.0)
            model(x).sum().backward()
            log.log_model(model, step, histograms=False)
    alerts = health_alerts(read_scalars(tmp_path))
    assert {(a.kind, a.tag) for a in alerts} >= {("exploding_gradient", "grad_norm/total")}
    assert alerts[0].to_dict()["first_step"] == 25
