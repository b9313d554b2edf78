"""The reply half of the message protocol, and what a group of request kinds needs from its host."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class Reply:
    """A JSON-able result and the binary buffers it refers to by position."""

    result: dict
    buffers: list[bytes] = field(default_factory=list)


class KindHost(Protocol):
    """The dispatcher as a group of request kinds sees it: groups register here and never import it."""

    resolve_logdir: Callable[[str], str]

    def add_kind(self, kind: str, handler: Callable[..., Reply]) -> None: ...

    def session(self, args: dict) -> Any: ...


class KindGroup:
    """A group of request kinds, each answered by the method of the same name; ``register`` adds
    them all to the host."""

    kinds: tuple[str, ...] = ()

    def __init__(self, dispatcher: KindHost):
        self.dispatcher = dispatcher

    def register(self) -> None:
        for kind in self.kinds:
            self.dispatcher.add_kind(kind, getattr(self, kind))
