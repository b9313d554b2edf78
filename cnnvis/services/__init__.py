"""Services: the one place that answers graph / activations / explain / scalars requests.

The notebook widget and the Jupyter server extension both call :class:`Dispatcher`, with the same
message protocol: a request kind, JSON arguments and binary buffers in; a JSON result and binary
buffers out. Views never know which transport carried them.
"""

from .dispatch import Dispatcher, Reply
from .errors import BadRequest, NotFound, PayloadTooLarge, ServiceError
from .models import ModelSession
from .paths import resolve_under_root

__all__ = [
    "BadRequest", "Dispatcher", "ModelSession", "NotFound", "PayloadTooLarge", "Reply", "ServiceError",
    "resolve_under_root",
]
