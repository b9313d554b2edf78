"""The CAM engine: one pass through the model, then each method says how channels are weighted."""

from .engine import CamContext, CAMMethod, CamResult, available_methods, get_method, run_cam

__all__ = ["CAMMethod", "CamContext", "CamResult", "available_methods", "get_method", "run_cam"]
