"""The route table, gathered in one place from each route module (as Jupyter server extensions do).

Order matters only where patterns overlap; every pattern is relative to base_url, and ``openapi.py``
documents each one (a test checks it).
"""

from __future__ import annotations

from .attribution_handlers import attribution_routes
from .base import ID
from .batch_handlers import batch_routes
from .browse_handlers import browse_routes
from .compare_handlers import compare_routes
from .device_handlers import device_routes
from .engine_handlers import engine_routes
from .handlers import core_routes
from .page import PageHandler, StaticHandler
from .training_handlers import training_routes
from .trust_handlers import trust_routes
from .websockets import JobStreamHandler, ScalarStreamHandler

API = "cnnvis/api/"

# Each route module's list of routes; a new module adds its function here.
ROUTE_SOURCES = (core_routes, training_routes, engine_routes, trust_routes, batch_routes, device_routes,
                 browse_routes, compare_routes, attribution_routes)


def routes(static_dir: str) -> list[tuple]:
    """``(pattern, handler[, kwargs])`` for every cnnvis route."""
    table: list[tuple] = [
        (r"cnnvis/?", PageHandler),
        (r"cnnvis/static/(?P<path>.*)", StaticHandler, {"path": static_dir}),
    ]
    for source in ROUTE_SOURCES:
        table.extend(source(API))
    table += [
        (API + "stream/scalars", ScalarStreamHandler),
        (API + f"stream/jobs/{ID.format('job_id')}", JobStreamHandler),
    ]
    return table
