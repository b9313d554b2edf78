"""NVIDIA Jetson support: read the board statistics that ``tegrastats`` logs."""

from __future__ import annotations

from .tegrastats import INPUT_RAILS, TegrastatsError, parse_line, read_tegrastats

__all__ = ["INPUT_RAILS", "TegrastatsError", "parse_line", "read_tegrastats"]
