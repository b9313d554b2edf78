"""Writing TensorBoard event files without TensorFlow: a small Event/Summary encoder.

The files are the standard format (TFRecord framing, ``brain.Event:2``) and open in TensorBoard
as well as in cnnvis. :class:`EventWriter` is the low-level writer; :class:`TorchLogger` and
:func:`KerasLogger` log the usual things for a training loop.
"""

from __future__ import annotations

import itertools
import os
import socket
import struct
import time
import zlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from cnnvis.scalars.crc import crc32c, mask

_COUNTER = itertools.count()
Snapshot = Callable[[Any], Any]  # model -> image, or {tag: image}


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int64 values are ten-byte varints
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _bytes_field(num: int, payload: bytes) -> bytes:
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def _double(num: int, x: float) -> bytes:
    return _varint(num << 3 | 1) + struct.pack("<d", x)


def _int(num: int, x: int) -> bytes:
    return _varint(num << 3) + _varint(int(x))


def encode_event(wall_time: float, step: int = 0, *, file_version: str | None = None,
                 values: list[bytes] | None = None) -> bytes:
    """A serialized ``Event`` with a ``Summary`` of already encoded ``Summary.Value``s."""
    out = _double(1, wall_time) + (_int(2, step) if step else b"")
    if file_version is not None:
        out += _bytes_field(3, file_version.encode())
    if values:
        out += _bytes_field(5, b"".join(_bytes_field(1, v) for v in values))
    return out


def scalar_value(tag: str, value: float) -> bytes:
    return _bytes_field(1, tag.encode()) + _varint(2 << 3 | 5) + struct.pack("<f", value)


def histogram_value(tag: str, values: Any, bins: int = 30) -> bytes:
    """A ``HistogramProto`` of ``values`` (any array-like) with ``bins`` equal-width buckets."""
    v = np.asarray(values, np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        v = np.zeros(1)
    counts, edges = np.histogram(v, bins=bins)
    proto = (_double(1, float(v.min())) + _double(2, float(v.max())) + _double(3, float(v.size))
             + _double(4, float(v.sum())) + _double(5, float(np.dot(v, v)))
             + _bytes_field(6, edges[1:].astype("<f8").tobytes())
             + _bytes_field(7, counts.astype("<f8").tobytes()))
    return _bytes_field(1, tag.encode()) + _bytes_field(5, proto)


def image_value(tag: str, image: Any) -> bytes:
    """An image summary from PNG bytes or an (H, W), (H, W, C) uint8/float array."""
    png = image if isinstance(image, bytes | bytearray) else encode_png(image)
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("image bytes must be a PNG file")
    width, height = struct.unpack(">II", png[16:24])
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(png[25], 3)
    proto = _int(1, height) + _int(2, width) + _int(3, channels) + _bytes_field(4, bytes(png))
    return _bytes_field(1, tag.encode()) + _bytes_field(4, proto)


def encode_png(image: Any) -> bytes:
    """PNG bytes of an (H, W), (H, W, 1|3|4) array; floats are taken as 0..1."""
    a = np.asarray(image)
    if a.dtype != np.uint8:
        a = (np.clip(a.astype(np.float64), 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise ValueError(f"an image must be (H, W) or (H, W, 3|4), got shape {a.shape}")
    color = 0 if a.ndim == 2 else (2 if a.shape[2] == 3 else 6)
    raw = b"".join(b"\x00" + row.tobytes() for row in a.reshape(a.shape[0], -1))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", a.shape[1], a.shape[0], 8, color, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def frame_record(data: bytes) -> bytes:
    """TFRecord framing: length, masked CRC of the length, data, masked CRC of the data."""
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", mask(crc32c(length))) + data + struct.pack("<I", mask(crc32c(data)))


class EventWriter:
    """Appends events to a new ``events.out.tfevents.*`` file in ``logdir`` (created if needed)."""

    def __init__(self, logdir: str | os.PathLike, filename_suffix: str = ""):
        os.makedirs(logdir, exist_ok=True)
        name = (f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}."
                f"{next(_COUNTER)}{filename_suffix}")
        self.path = os.path.join(os.fspath(logdir), name)
        self._file = open(self.path, "ab")
        self.write(encode_event(time.time(), file_version="brain.Event:2"))

    def write(self, event: bytes) -> None:
        self._file.write(frame_record(event))

    def add_values(self, values: list[bytes], step: int, wall_time: float | None = None) -> None:
        self.write(encode_event(time.time() if wall_time is None else wall_time, int(step), values=values))

    def add_scalar(self, tag: str, value: float, step: int, wall_time: float | None = None) -> None:
        self.add_values([scalar_value(tag, float(value))], step, wall_time)

    def add_histogram(self, tag: str, values: Any, step: int, bins: int = 30) -> None:
        self.add_values([histogram_value(tag, values, bins)], step)

    def add_image(self, tag: str, image: Any, step: int) -> None:
        self.add_values([image_value(tag, image)], step)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _log_snapshot(writer: EventWriter, snapshot: Snapshot | None, model: Any, step: int) -> None:
    if snapshot is None:
        return
    result = snapshot(model)
    items = result.items() if isinstance(result, Mapping) else [("snapshot", result)]
    for tag, image in items:
        arr = image if isinstance(image, bytes | bytearray) else np.asarray(image)
        if not isinstance(arr, bytes | bytearray) and arr.ndim == 4:  # a batch: one tag per image
            for i, one in enumerate(arr):
                writer.add_image(f"{tag}/{i}", one, step)
        else:
            writer.add_image(tag, arr, step)


class TorchLogger:
    """Log a PyTorch training loop in TensorBoard's format (no TensorBoard needed).

    ``log_scalars({"loss": ..., "lr": ...}, step)``; ``log_model(model, step)`` after
    ``loss.backward()`` writes weight and gradient histograms and the gradient norms
    (``grad_norm/total`` and one per parameter) that the health checks read. ``snapshot`` is an
    optional callable ``model -> image`` (or ``{tag: image}``) logged by ``log_model``, e.g. a
    CAM overlay of fixed images.
    """

    def __init__(self, logdir: str | os.PathLike, snapshot: Snapshot | None = None):
        self.writer = EventWriter(logdir)
        self.snapshot = snapshot

    def log_scalar(self, tag: str, value: Any, step: int) -> None:
        self.writer.add_scalar(tag, float(value), step)

    def log_scalars(self, scalars: Mapping[str, Any], step: int, prefix: str = "") -> None:
        values = [scalar_value(prefix + tag, float(v)) for tag, v in scalars.items()]
        for v in values:  # one event per value, like SummaryWriter.add_scalar
            self.writer.add_values([v], step)

    def log_image(self, tag: str, image: Any, step: int) -> None:
        self.writer.add_image(tag, image, step)

    def log_model(self, model: Any, step: int, *, histograms: bool = True) -> None:
        norms = []
        for name, p in model.named_parameters():
            w = p.detach().float().cpu().numpy()
            if histograms:
                self.writer.add_histogram(f"weights/{name}", w, step)
            if p.grad is not None:
                g = p.grad.detach().float().cpu().numpy()
                if histograms:
                    self.writer.add_histogram(f"grads/{name}", g, step)
                norm = float(np.linalg.norm(g.ravel()))
                norms.append(norm)
                self.writer.add_scalar(f"grad_norm/{name}", norm, step)
        if norms:
            self.writer.add_scalar("grad_norm/total", float(np.sqrt(np.sum(np.square(norms)))), step)
        _log_snapshot(self.writer, self.snapshot, model, step)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()

    def __enter__(self) -> TorchLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def KerasLogger(logdir: str | os.PathLike, *, histogram_freq: int = 1,  # noqa: N802 - reads as a class
                snapshot: Snapshot | None = None) -> Any:
    """A ``keras.callbacks.Callback`` that logs like Keras' ``TensorBoard`` callback.

    Per epoch: ``epoch_<metric>`` into ``logdir/train`` and the ``val_`` metrics into
    ``logdir/validation`` (so train and validation curves pair up), ``epoch_learning_rate``,
    weight histograms every ``histogram_freq`` epochs (0 = never) and the optional ``snapshot``
    image (``model -> image``). Keras is imported only when this is called.
    """
    import keras

    class _KerasLogger(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.writers: dict[str, EventWriter] = {}

        def writer(self, run: str) -> EventWriter:
            # Opened on first use, so a fit() without validation data leaves no empty run.
            if run not in self.writers:
                self.writers[run] = EventWriter(os.path.join(os.fspath(logdir), run))
            return self.writers[run]

        def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
            for key, value in (logs or {}).items():
                if key.startswith("val_"):
                    self.writer("validation").add_scalar(f"epoch_{key[4:]}", float(value), epoch)
                elif key != "learning_rate":
                    self.writer("train").add_scalar(f"epoch_{key}", float(value), epoch)
            train = self.writer("train")
            lr = getattr(getattr(self.model, "optimizer", None), "learning_rate", None)
            if lr is not None:
                train.add_scalar("epoch_learning_rate", float(keras.ops.convert_to_numpy(lr)), epoch)
            if histogram_freq and epoch % histogram_freq == 0:
                for weight in self.model.weights:
                    tag = getattr(weight, "path", None) or weight.name
                    train.add_histogram(tag, keras.ops.convert_to_numpy(weight), epoch)
            _log_snapshot(train, snapshot, self.model, epoch)
            for w in self.writers.values():
                w.flush()

        def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
            for w in self.writers.values():  # a later fit() starts new files, as Keras does
                w.close()
            self.writers = {}

    return _KerasLogger()
