"""The plugin hooks. Built-in adapters, loaders and CAM methods implement these too.

Every hook here is documented in ``docs/plugins.md``; ``tests/test_plugins.py`` fails if one is not.
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("cnnvis")
hookimpl = pluggy.HookimplMarker("cnnvis")


@hookspec(firstresult=True)
def cnnvis_adapter(model: Any) -> Any:
    """Return a model adapter for ``model`` if this plugin understands it, else None."""


@hookspec(firstresult=True)
def cnnvis_load(path: str, options: dict) -> Any:
    """Open the file at ``path`` as a model handle if this plugin reads its format, else None."""


@hookspec
def cnnvis_cam_methods() -> dict:
    """Return ``{name: CAMMethod subclass}`` for the CAM methods this plugin provides."""


@hookspec(firstresult=True)
def cnnvis_architecture(model: Any, framework: str) -> Any:
    """Return ``Architecture(layer=..., reshape=...)`` hints for a model this plugin knows, else None."""
