"""Batch explanation runs over whole datasets (``cnnvis.batch``, ``cnnvis batch``)."""

from .runner import BatchResult, batch

__all__ = ["BatchResult", "batch"]
