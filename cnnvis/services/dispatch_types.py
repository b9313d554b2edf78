"""The reply half of the message protocol."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Reply:
    """A JSON-able result and the binary buffers it refers to by position."""

    result: dict
    buffers: list[bytes] = field(default_factory=list)
