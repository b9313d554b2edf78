"""Targets beyond a class index: what to explain in segmentation and detection outputs.

A target is a callable on the (selected) model output returning one score per input; the CAM
explains that score. These follow pytorch-grad-cam's ``SemanticSegmentationTarget`` and
``FasterRCNNBoxScoreTarget`` and work on a whole batch at once.

What ``Explanation`` holds with them: ``targets`` is None (the score is not a class index), and
``outputs`` is the selected output as an array, ``(N, classes, H, W)`` logits for segmentation; for
a detector, whose output is a list of per-image dicts, ``outputs`` is ``(N, 1)``: each input's
target score.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import TargetError


class Segmentation:
    """The sum of class ``class_index``'s logits over ``mask``.

    ``mask``: ``(H, W)`` for every input or ``(N, H, W)``, 0/1 or weights, at the output's
    resolution; None means the pixels each input's output predicts as that class (its argmax).
    Outputs are ``(N, classes, H, W)`` (PyTorch) or ``(N, H, W, classes)`` (Keras).
    """

    def __init__(self, class_index: int, mask: Any = None):
        self.class_index = int(class_index)
        self.mask = None if mask is None else np.asarray(mask, dtype=np.float32)

    def __call__(self, output: Any) -> Any:
        if not hasattr(output, "shape") or len(output.shape) != 4:
            raise TargetError("targets.Segmentation needs per-pixel class scores (N, classes, H, W); select them "
                              "with output= if the model returns several outputs.")
        if _is_torch(output):
            return self._torch(output)
        return self._tensorflow(output)

    def _check_class(self, classes: int) -> None:
        if not -classes <= self.class_index < classes:
            raise TargetError(f"Segmentation class {self.class_index} is out of range: the model has {classes}.")

    def _torch(self, output: Any) -> Any:
        import torch

        self._check_class(output.shape[1])
        scores = output[:, self.class_index]
        if self.mask is None:
            mask = (output.detach().argmax(dim=1) == self.class_index).to(output.dtype)
        else:
            mask = torch.as_tensor(self._mask_for(scores.shape), dtype=output.dtype, device=output.device)
        return (scores * mask).sum(dim=(1, 2))

    def _tensorflow(self, output: Any) -> Any:
        import tensorflow as tf

        self._check_class(output.shape[-1])
        scores = output[..., self.class_index]
        if self.mask is None:
            predicted = tf.argmax(tf.stop_gradient(output), axis=-1, output_type="int32")
            mask = tf.cast(tf.equal(predicted, self.class_index % output.shape[-1]), output.dtype)
        else:
            mask = tf.cast(self._mask_for(tuple(scores.shape)), output.dtype)
        return tf.reduce_sum(scores * mask, axis=(1, 2))

    def _mask_for(self, shape: tuple) -> np.ndarray:
        if self.mask.shape[-2:] != tuple(shape[-2:]):
            raise TargetError(f"The segmentation mask is {self.mask.shape[-2:]}, the output {tuple(shape[-2:])} "
                              "(H, W): give the mask at the output's resolution.")
        return self.mask


class Detection:
    """For each reference box: the IoU plus the score of the best same-label detection, if IoU > 0.5.

    Summed over the reference boxes, per input. ``boxes``: ``(M, 4)`` as ``x1, y1, x2, y2`` in input
    pixels and ``labels`` ``(M,)`` for every input, or one such pair per input (lists). The model
    output is what torchvision detectors return in eval mode: per image a dict with ``boxes``,
    ``labels`` and ``scores``. When the reference boxes are the model's own detections (the usual
    use) this equals pytorch-grad-cam's ``FasterRCNNBoxScoreTarget``, which takes the best match of
    any label and counts it only if the labels agree.
    """

    def __init__(self, boxes: Any, labels: Any, iou_threshold: float = 0.5):
        per_input = len(boxes) > 0 and np.asarray(boxes[0], dtype=np.float64).ndim == 2
        self.boxes = [np.asarray(b, np.float64).reshape(-1, 4) for b in (boxes if per_input else [boxes])]
        self.labels = [np.asarray(x, np.int64).reshape(-1) for x in (labels if per_input else [labels])]
        if any(len(b) != len(x) for b, x in zip(self.boxes, self.labels, strict=False)) or \
                len(self.boxes) != len(self.labels):
            raise TargetError("Detection needs one label per reference box.")
        empty = [b for boxes_ in self.boxes for b in boxes_ if not (b[2] > b[0] and b[3] > b[1])]
        if empty:
            raise TargetError(f"Detection's reference boxes are x1, y1, x2, y2 with x2 > x1 and y2 > y1; "
                              f"{empty[0].tolist()} has no area.")
        self.per_input = per_input
        self.iou_threshold = float(iou_threshold)

    def __call__(self, outputs: Sequence[dict]) -> Any:
        import torch

        if not isinstance(outputs, list | tuple) or not all(isinstance(o, dict) and "boxes" in o for o in outputs):
            raise TargetError("targets.Detection reads a detector's output: a list of per-image dicts with "
                              "'boxes', 'labels' and 'scores' (torchvision detection models in eval mode).")
        if self.per_input and len(self.boxes) != len(outputs):
            raise TargetError(f"Detection has reference boxes for {len(self.boxes)} inputs, the batch has {len(outputs)}.")
        scored = [self._image_score(o, i if self.per_input else 0) for i, o in enumerate(outputs)]
        unmatched = [i for i, (_, matched) in enumerate(scored) if not matched]
        if unmatched:  # a constant score: its map would be blank, not an explanation
            raise TargetError(f"No reference box matched a detection of its label with IoU > {self.iou_threshold} "
                              f"in input(s) {unmatched[:8]}: pass boxes and labels the model detects there (its own "
                              "output's boxes, labels) or lower iou_threshold.")
        return torch.stack([score for score, _ in scored])

    def _image_score(self, output: dict, index: int) -> tuple[Any, bool]:
        import torch

        predicted = output["boxes"]
        total, matched = predicted.new_zeros(()), False
        for box, label in zip(self.boxes[index], self.labels[index], strict=True):
            same = output["labels"] == int(label)
            if not bool(same.any()):
                continue
            # a box of no area (random weights make them) has no IoU with anything
            ious = torch.nan_to_num(_iou(torch.as_tensor(box, dtype=predicted.dtype, device=predicted.device),
                                         predicted[same]), nan=0.0)
            best = ious.argmax()
            if ious[best] > self.iou_threshold:
                total, matched = total + ious[best] + output["scores"][same][best], True
        return total, matched


def _iou(box: Any, boxes: Any) -> Any:
    """IoU of one ``x1, y1, x2, y2`` box with each of ``boxes`` (differentiable in ``boxes``)."""
    import torch

    top_left = torch.maximum(box[:2], boxes[:, :2])
    bottom_right = torch.minimum(box[2:], boxes[:, 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(dim=1)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / (area + areas - inter)


def _is_torch(value: Any) -> bool:
    return type(value).__module__.startswith("torch")
