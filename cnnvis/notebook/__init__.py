"""The notebook panel: ``cnnvis.show(...)`` and the ``%cnnvis`` magic, as an anywidget."""

from .widget import CnnvisWidget, show

__all__ = ["CnnvisWidget", "show"]
