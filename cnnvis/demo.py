"""The bundled demo: a small CNN trained on scikit-learn's digits, ready for the demo notebook.

``python -m cnnvis.demo [DIR]`` (default ``examples/demo``) writes into DIR:

- ``runs/train`` and ``runs/validation``: TensorBoard event files (loss, accuracy, learning rate,
  gradient norm per epoch);
- ``model.pt2`` (``torch.export``), ``model.onnx`` and ``model.int8.onnx`` (static INT8
  quantization of ``model.onnx``, calibrated on training digits);
- ``samples.npz``: held-out test digits, ``inputs`` float32 ``(N, 1, H, W)`` in [0, 1] and
  ``labels`` int64 ``(N,)``, readable with ``np.load(..., allow_pickle=False)``;
- ``demo.json``: how the model was trained and its test accuracy.

The data ship with scikit-learn, so nothing is downloaded. Training takes about ten seconds on one
CPU core and is skipped when the outputs are newer than this file (``--force`` retrains).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

DEFAULT_DIR = Path("examples") / "demo"
DEFAULT_EPOCHS = 10
IMAGE_SIZE = 16  # the 8x8 digits, upsampled bilinearly so CAMs have room
NUM_SAMPLES = 64  # held-out test digits saved for the notebook
SEED = 0
CLASS_NAMES = [str(d) for d in range(10)]

# Required outputs; model.onnx is extra (its exporter depends on optional packages).
_REQUIRED = ("model.pt2", "samples.npz", "demo.json")


class DigitsNet(nn.Module):
    """A small CNN for 1x16x16 digits.

    ``stem`` (conv-bn-relu, 16x16) -> ``features`` (conv-bn-relu, max-pool, conv-bn-relu; 64
    channels at 8x8, the block CAMs look at by default) -> global average pool -> ``classifier``
    (10 logits).
    """

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=3, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(),
        )
        self.features = nn.Sequential(
            nn.Conv2d(16, 32, kernel_size=3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, kernel_size=3, padding=1),
            nn.BatchNorm2d(64),
            nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(self.stem(x))
        return self.classifier(torch.flatten(self.pool(x), 1))


def load_digits_dataset(size: int = IMAGE_SIZE, seed: int = SEED) -> dict[str, np.ndarray]:
    """scikit-learn's digits as float32 ``(N, 1, size, size)`` in [0, 1], split 80/20 (stratified)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = torch.from_numpy(digits.images.astype(np.float32) / 16.0)[:, None]
    if size != images.shape[-1]:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    images = images.clamp_(0.0, 1.0).numpy()
    labels = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=0.2, random_state=seed, stratify=labels
    )
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def prepare_demo(
    directory: str | os.PathLike = DEFAULT_DIR,
    epochs: int = DEFAULT_EPOCHS,
    force: bool = False,
    progress: bool = True,
) -> dict[str, Path | None]:
    """Train the demo model (unless up to date) and write its files into ``directory``.

    Returns ``{"directory", "runs", "pt2", "onnx", "int8", "keras", "samples", "metadata"}``; ``onnx``
    (and ``int8``) is None when the ONNX exporter (or onnxruntime) is not available here, ``keras`` is None until cnnvis gains its
    Keras adapter.
    """
    directory = Path(directory)
    paths = _paths(directory)
    if not force and _up_to_date(directory, epochs):
        if progress:
            print(f"Demo in {directory} is up to date (use --force to retrain).")
        return paths

    directory.mkdir(parents=True, exist_ok=True)
    if paths["runs"].exists():
        shutil.rmtree(paths["runs"])  # one training, one set of curves
    for stale in ("model.pt2", "model.onnx", "model.int8.onnx", "model.keras", "demo.json"):
        (directory / stale).unlink(missing_ok=True)

    with _threads(1):
        started = time.perf_counter()
        data = load_digits_dataset()
        model, accuracy = _train(data, epochs, paths["runs"], progress)
        seconds = time.perf_counter() - started

        model.eval()
        example = torch.from_numpy(data["x_test"][:8])
        _export_pt2(model, example, paths["pt2"])
        paths["onnx"] = _export_onnx(model, example, directory / "model.onnx")
        paths["int8"] = _quantize(paths["onnx"], directory / "model.int8.onnx", data["x_train"])
        paths["keras"] = export_keras(model, directory)

    np.savez(
        paths["samples"],
        inputs=np.ascontiguousarray(data["x_test"][:NUM_SAMPLES], dtype=np.float32),
        labels=np.ascontiguousarray(data["y_test"][:NUM_SAMPLES], dtype=np.int64),
    )
    paths["metadata"].write_text(json.dumps({
        "dataset": "sklearn.datasets.load_digits",
        "image_size": IMAGE_SIZE,
        "epochs": epochs,
        "seed": SEED,
        "test_accuracy": round(accuracy, 4),
        "train_seconds": round(seconds, 2),
        "class_names": CLASS_NAMES,
        "files": {k: v.name for k, v in paths.items() if v is not None and k != "directory"},
    }, indent=2) + "\n")
    if progress:
        print(f"Trained DigitsNet in {seconds:.1f} s: test accuracy {accuracy:.1%}. Files in {directory}/")
    return paths


def export_keras(model: nn.Module, directory: Path) -> Path | None:
    """Save a Keras twin of the trained model (same weights, channels-last) as ``model.keras``.

    Returns the file written, or None when Keras is not installed.
    """
    if importlib.util.find_spec("keras") is None:
        return None
    from .adapters.keras import import_triton_before_tensorflow

    import_triton_before_tensorflow()
    import keras

    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name="digits")
    x, copies = inputs, []
    # Keras names mirror the PyTorch modules: stem.0 -> "stem_0", features.6 -> "features_6".
    named = [(f"{block}_{i}", layer) for block in ("stem", "features") for i, layer in enumerate(getattr(model, block))]
    for name, layer in named:
        twin = _keras_twin(keras.layers, layer, name)
        x = twin(x)
        copies.append((layer, twin))
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    dense = keras.layers.Dense(model.classifier.out_features, name="classifier")
    twin_model = keras.Model(inputs, dense(x), name="digits_net")
    copies.append((model.classifier, dense))
    for layer, twin in copies:
        weights = _keras_weights(layer)
        if weights:
            twin.set_weights(weights)
    path = directory / "model.keras"
    twin_model.save(path)
    return path


def _keras_twin(layers: Any, layer: nn.Module, name: str) -> Any:
    if isinstance(layer, nn.Conv2d):
        return layers.Conv2D(layer.out_channels, layer.kernel_size, padding="same", name=name)
    if isinstance(layer, nn.BatchNorm2d):
        return layers.BatchNormalization(epsilon=layer.eps, name=name)
    if isinstance(layer, nn.ReLU):
        return layers.ReLU(name=name)
    if isinstance(layer, nn.MaxPool2d):
        return layers.MaxPooling2D(layer.kernel_size, name=name)
    raise TypeError(f"no Keras twin for {type(layer).__name__}")


def _keras_weights(layer: nn.Module) -> list[np.ndarray]:
    """PyTorch weights in Keras's order and layout (kernels HWIO, dense kernels transposed)."""
    def arr(t: torch.Tensor) -> np.ndarray:
        return t.detach().cpu().numpy()

    if isinstance(layer, nn.Conv2d):
        return [arr(layer.weight).transpose(2, 3, 1, 0), arr(layer.bias)]
    if isinstance(layer, nn.BatchNorm2d):
        return [arr(layer.weight), arr(layer.bias), arr(layer.running_mean), arr(layer.running_var)]
    if isinstance(layer, nn.Linear):
        return [arr(layer.weight).T, arr(layer.bias)]
    return []


def _paths(directory: Path) -> dict[str, Path | None]:
    onnx = directory / "model.onnx"
    keras = directory / "model.keras"
    int8 = directory / "model.int8.onnx"
    return {
        "directory": directory,
        "runs": directory / "runs",
        "pt2": directory / "model.pt2",
        "onnx": onnx if onnx.exists() else None,
        "int8": int8 if int8.exists() else None,
        "keras": keras if keras.exists() else None,
        "samples": directory / "samples.npz",
        "metadata": directory / "demo.json",
    }


def _up_to_date(directory: Path, epochs: int) -> bool:
    """True when every required output exists, is newer than this file, and used ``epochs``."""
    source_time = Path(__file__).stat().st_mtime
    for name in _REQUIRED:
        file = directory / name
        if not file.is_file() or file.stat().st_mtime < source_time:
            return False
    for run in ("train", "validation"):
        if not any((directory / "runs" / run).glob("events.out.tfevents.*")):
            return False
    try:
        meta = json.loads((directory / "demo.json").read_text())
    except (OSError, ValueError):
        return False
    return meta.get("epochs") == epochs


@contextlib.contextmanager
def _threads(count: int):
    """Use at most ``count`` intra-op threads for a while (the demo runs on small shared machines)."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, min(count, before)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _train(data: dict[str, np.ndarray], epochs: int, logdir: Path, progress: bool) -> tuple[nn.Module, float]:
    from tqdm.auto import tqdm

    from .scalars import EventWriter, TorchLogger

    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED)
    x_train, y_train = torch.from_numpy(data["x_train"]), torch.from_numpy(data["y_train"])
    x_test, y_test = torch.from_numpy(data["x_test"]), torch.from_numpy(data["y_test"])

    model = DigitsNet()
    batch_size = 64
    steps_per_epoch = -(-len(x_train) // batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=1e-2, epochs=epochs, steps_per_epoch=steps_per_epoch, pct_start=0.2, div_factor=5.0
    )
    # cnnvis's own writers: the standard event format, with no TensorFlow import.
    train_writer = TorchLogger(logdir / "train")
    val_writer = EventWriter(logdir / "validation")
    accuracy = 0.0
    bar = tqdm(range(1, epochs + 1), desc="Training DigitsNet", unit="epoch", disable=not progress)
    try:
        for epoch in bar:
            lr = optimizer.param_groups[0]["lr"]
            model.train()
            total_loss, correct, grad_norms = 0.0, 0, []
            order = torch.randperm(len(x_train), generator=generator)
            for start in range(0, len(order), batch_size):
                index = order[start:start + batch_size]
                inputs, labels = x_train[index], y_train[index]
                logits = model(inputs)
                loss = F.cross_entropy(logits, labels)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                grad_norms.append(float(nn.utils.clip_grad_norm_(model.parameters(), max_norm=10.0)))
                optimizer.step()
                scheduler.step()
                total_loss += float(loss.detach()) * len(index)
                correct += int((logits.argmax(1) == labels).sum())
            train_loss, train_acc = total_loss / len(x_train), correct / len(x_train)

            model.eval()
            with torch.no_grad():
                logits = model(x_test)
                val_loss = float(F.cross_entropy(logits, y_test))
                accuracy = float((logits.argmax(1) == y_test).float().mean())

            train_writer.log_scalars({"loss": train_loss, "accuracy": train_acc, "learning_rate": lr,
                                      "grad_norm": float(np.mean(grad_norms))}, epoch)
            train_writer.log_model(model, epoch)  # weight and gradient histograms
            val_writer.add_scalar("loss", val_loss, epoch)
            val_writer.add_scalar("accuracy", accuracy, epoch)
            bar.set_postfix(loss=f"{train_loss:.3f}", val_acc=f"{accuracy:.3f}")
    finally:
        bar.close()
        train_writer.close()
        val_writer.close()
    return model, accuracy


def _export_pt2(model: nn.Module, example: torch.Tensor, path: Path) -> None:
    batch = torch.export.Dim("batch", min=1, max=4096)
    program = torch.export.export(model, (example,), dynamic_shapes={"x": {0: batch}})
    torch.export.save(program, str(path))


def _export_onnx(model: nn.Module, example: torch.Tensor, path: Path) -> Path | None:
    """ONNX with a dynamic batch axis; a warning (not an error) when this environment cannot export."""
    attempts: list[dict[str, Any]] = [
        {"dynamo": True, "dynamic_shapes": {"x": {0: torch.export.Dim("batch", min=1, max=4096)}}},
        {"dynamo": False, "dynamic_axes": {"input": {0: "batch"}, "logits": {0: "batch"}}},
    ]
    errors = []
    for options in attempts:
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
                warnings.simplefilter("ignore")
                torch.onnx.export(model, (example,), str(path), input_names=["input"],
                                  output_names=["logits"], **options)
            return path
        except Exception as exc:  # a missing onnx/onnxscript, or an exporter that rejects this setup
            errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            path.unlink(missing_ok=True)
    warnings.warn(f"Skipped model.onnx: the ONNX export failed here ({'; '.join(errors)}).", stacklevel=2)
    return None


def _quantize(onnx_path: Path | None, path: Path, calibration: np.ndarray) -> Path | None:
    """INT8 twin of the ONNX model, calibrated on 256 training digits; a warning where it cannot be built."""
    if onnx_path is None:
        return None
    try:
        from .precision import quantize_onnx

        with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
            warnings.simplefilter("ignore")
            return quantize_onnx(onnx_path, path, calibration[:256])
    except Exception as exc:  # onnxruntime missing, or its quantizer rejects this graph
        path.unlink(missing_ok=True)
        warnings.warn(f"Skipped model.int8.onnx: quantization failed here ({type(exc).__name__}: {exc}).",
                      stacklevel=2)
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cnnvis.demo",
        description="Train the demo CNN on scikit-learn's digits and write its TensorBoard logdir, "
        "model.pt2, model.onnx, model.int8.onnx and samples.npz.",
    )
    parser.add_argument("directory", nargs="?", default=str(DEFAULT_DIR),
                        help=f"where to write the demo files (default: {DEFAULT_DIR})")
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, help="training epochs (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="retrain even if the files are up to date")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorBoard may load TensorFlow: keep it quiet
    prepare_demo(args.directory, epochs=args.epochs, force=args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
