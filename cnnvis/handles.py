"""What ``cnnvis.load`` returns: the native model plus where it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class LoadedModel:
    """A model opened from a file. ``model`` is the framework object adapters work on."""

    model: Any
    path: str
    format: str
    framework: str
    info: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"LoadedModel({self.format} from {self.path!r}, framework={self.framework})"
