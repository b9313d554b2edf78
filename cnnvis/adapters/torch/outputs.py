"""The part of a PyTorch model's output that targets score, pre-softmax."""

from __future__ import annotations

from typing import Any

from ...outputs import Selector, is_tensor, select_output


class SoftmaxBypass:
    """Scores are pre-softmax: when the model ends in a Softmax module, use that module's input."""

    def __init__(self, model: Any, selector: Selector = None):
        import torch

        self.softmaxes = [m for m in model.modules() if isinstance(m, torch.nn.Softmax | torch.nn.LogSoftmax)]
        self.selector = selector
        self.seen: list[tuple[Any, Any]] = []
        self.handles: list[Any] = []

    def __enter__(self):
        for module in self.softmaxes:
            self.handles.append(module.register_forward_hook(
                lambda mod, args, out: self.seen.append((args[0], out))))
        return self

    def __exit__(self, *exc):
        for handle in self.handles:
            handle.remove()

    def logits(self, output: Any) -> Any:
        """The selected output (see ``cnnvis.outputs``); a tensor that came out of a softmax is undone."""
        output = select_output(output, self.selector)
        if not is_tensor(output):
            return output  # a detector's per-image dicts: only a callable target can read them
        for before, after in self.seen:
            if after is output:
                return before
        return output
