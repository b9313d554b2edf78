"""Whether the trust checks (sanity check and faithfulness) can run on a model, for the panel to
offer "Check evidence" or say why not before anyone waits for it."""

from __future__ import annotations

from typing import Any

from .randomize import can_randomise


def trust_capability(adapter: Any) -> dict:
    """``{"can_check": bool, "why": str}``; ``why`` is empty when the checks can run."""
    problem = getattr(adapter, "_input_problem", None)  # an ONNX model without one image input
    if problem:
        return {"can_check": False, "why": problem}
    able, why = can_randomise(adapter.framework)
    return {"can_check": able, "why": why}
