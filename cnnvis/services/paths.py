"""Client paths resolve under a root directory; nothing outside it is reachable."""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import BadRequest, Forbidden, NotFound


def resolve_under_root(root: str | os.PathLike, client_path: str, *, must_exist: bool = True) -> Path:
    """The real path of ``client_path`` (relative to ``root``), refused if it leaves ``root``.

    Symlinks are resolved first, so a link pointing out of the root is refused as well.
    """
    if not isinstance(client_path, str) or not client_path.strip():
        raise BadRequest("A path is required.")
    if "\x00" in client_path:
        raise BadRequest("Paths may not contain NUL bytes.")
    if os.path.isabs(client_path) or client_path.startswith(("~", "\\")):
        raise Forbidden(f"Absolute paths are not accepted ({client_path!r}); give a path relative to the root.")
    base = Path(root).resolve()
    target = (base / client_path).resolve()
    if target != base and base not in target.parents:
        raise Forbidden(f"{client_path!r} is outside the server's root directory.")
    if must_exist and not target.exists():
        raise NotFound(f"{client_path!r} does not exist under the root directory.")
    return target


def redact_paths(message: str, roots: list[str]) -> str:
    """``message`` with every absolute path under one of ``roots`` written relative to it (the root
    itself as ``.``): error replies name files as the client knows them, never the server's layout."""
    for root in sorted({r.rstrip(os.sep) for r in roots if r and r.rstrip(os.sep)}, key=len, reverse=True):
        # The root followed by a separator, or by what ends a path in prose (not "/srv/a" in "/srv/ab").
        pattern = re.escape(root) + r"(?:(" + re.escape(os.sep) + r")|(?=[\s'\"),;:\]]|\.(?!\w)|$))"
        message = re.sub(pattern, lambda m: "" if m.group(1) else ".", message)
    return message
