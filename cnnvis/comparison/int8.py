"""INT8 builds of an ONNX model: onnxruntime's static quantization (QDQ), calibrated on real
inputs, optionally keeping some nodes in float."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from ..errors import CnnvisError

PROTOBUF_LIMIT = 2**31  # bytes in one serialised protobuf message


def quantize_onnx(fp32_path: str | os.PathLike, int8_path: str | os.PathLike, calibration: np.ndarray, *,
                  per_channel: bool = True, batch: int = 32, nodes_to_exclude: Sequence[str] = ()) -> Path:
    """Static INT8 quantization (QDQ, onnxruntime's ``quantize_static``) calibrated on ``calibration``
    (real inputs in the model's layout). Node names stay those of the FP32 model, so
    :func:`cnnvis.compare_precision` and :func:`cnnvis.compare` can pair every node.
    ``nodes_to_exclude``: node names left in float."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    model = onnx.load(str(fp32_path), load_external_data=False)
    _check_size(model, Path(fp32_path).name)
    name = model.graph.input[0].name
    data = np.ascontiguousarray(calibration, dtype=np.float32)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(data[i:i + batch] for i in range(0, len(data), batch))

        def get_next(self) -> dict | None:
            chunk = next(self.batches, None)
            return None if chunk is None else {name: chunk}

    with _quiet():
        quantize_static(str(fp32_path), str(int8_path), Reader(), quant_format=QuantFormat.QDQ,
                        per_channel=per_channel, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        nodes_to_exclude=list(nodes_to_exclude))
    return Path(int8_path)


def _check_size(model: object, name: str) -> None:
    """onnxruntime's quantizer reads the whole model into one protobuf message."""
    from ..adapters.onnx import serialized_bytes

    size = serialized_bytes(model)
    if size >= PROTOBUF_LIMIT:
        raise CnnvisError(
            f"{name} holds {size / 2**30:.1f} GiB with its external weights; INT8 quantization here reads the "
            "whole model into one protobuf message, which holds at most 2 GiB. Quantize it with onnxruntime's "
            "quantize_static(..., use_external_data_format=True), then cnnvis.load the INT8 model.")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The quantizer's advice (pre-processing, bias initializers) goes to the root logger and
    stdout on every call; a search calls it a dozen times."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)
