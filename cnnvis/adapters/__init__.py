"""Framework adapters. Each module imports its framework lazily and registers through the plugin hooks."""

from .base import LayerPass, ModelAdapter, resolve_adapter

__all__ = ["LayerPass", "ModelAdapter", "resolve_adapter"]
