"""The one message protocol: ``handle(kind, args, buffers) -> Reply``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .. import __version__
from . import media
from .attribution import AttributionKinds, explain_options, method_catalog
from .batch_results import BatchResultKinds
from .compare import CompareKinds
from .devices import DeviceService
from .dispatch_types import Reply
from .engines import EngineKinds
from .errors import BadRequest, NotFound
from .models import ModelSession
from .scalars import ScalarService
from .sessions import SessionTable
from .trust import TrustKinds

__all__ = ["Dispatcher", "Reply"]

# Groups of request kinds kept in modules of their own; each registers its kinds on the dispatcher
# (profile, run_profile, source_graph, compare; sanity, faithfulness; batch_results;
# compare_models, quantize; attribute, concepts).
KIND_GROUPS = (EngineKinds, TrustKinds, BatchResultKinds, CompareKinds, AttributionKinds)


class Dispatcher:
    """Routes request kinds to services. Transports (widget comm, HTTP) only encode and decode.

    ``resolve_logdir`` turns a client's logdir into a readable location (the server refuses
    paths outside its root there); the widget passes the user's own logdir unchanged.
    """

    def __init__(self, resolve_logdir: Callable[[str], str] = str, devices: DeviceService | None = None):
        self.sessions = SessionTable()  # servers cap it (max_count / max_bytes)
        self.scalars = ScalarService()
        self.devices = devices or DeviceService()
        self.resolve_logdir = resolve_logdir
        self._kinds: dict[str, Callable[..., Reply]] = {
            "status": self._status,
            "models": self._models,
            "close": self._close,
            "graph": self._graph,
            "activations": self._activations,
            "explain": self._explain,
            "runs": lambda args, buffers, **_: self.scalars.runs(self._logdir(args)),
            "scalars": self._scalars,
            "alerts": lambda args, buffers, **_: self.scalars.alerts(self._logdir(args)),
            "scalar_updates": lambda args, buffers, **_: media.scalar_updates(self.scalars, self._logdir(args), args),
            "histograms": lambda args, buffers, **_: media.histograms(self._logdir(args), args, self.scalars.roots),
            "images": lambda args, buffers, **_: media.images(self._logdir(args), args, self.scalars.roots),
            "devices": self.devices.devices,
            "device_samples": self.devices.samples,
        }
        for group in KIND_GROUPS:
            group(self).register()

    @property
    def kinds(self) -> list[str]:
        return sorted(self._kinds)

    def add_kind(self, kind: str, handler: Callable[..., Reply]) -> None:
        """Answer ``kind`` with ``handler(args, buffers, **context)`` (a transport's own requests,
        such as the kernel comm's ``attach``)."""
        self._kinds[kind] = handler

    def add_session(self, session_id: str, session: ModelSession) -> str:
        self.open_session(session_id, session)
        return session_id

    def open_session(self, session_id: str, session: ModelSession) -> list[str]:
        """Add a session; return the ids of the least recently used ones closed to stay within the caps."""
        return self.sessions.open(session_id, session)

    def handle(self, kind: str, args: dict | None = None, buffers: Sequence[bytes] = (),
               **context: Any) -> Reply:
        """Answer one request. ``context`` may carry ``progress`` and ``cancel`` for long work."""
        handler = self._kinds.get(kind)
        if handler is None:
            raise BadRequest(f"Unknown request kind {kind!r}; known: {', '.join(self.kinds)}.")
        if args is not None and not isinstance(args, dict):
            raise BadRequest("Request arguments must be a JSON object.")
        return handler(args or {}, list(buffers), **context)

    def session(self, args: dict) -> ModelSession:
        model_id = args.get("model")
        if model_id is None and len(self.sessions) == 1:
            return next(iter(self.sessions.values()))
        try:
            return self.sessions.use(str(model_id))
        except KeyError:
            raise NotFound(f"No model {model_id!r} is open (closed, or closed for newer ones when too many were "
                           f"open): open it again. Open ones: {', '.join(self.sessions) or 'none'}.") from None

    def _status(self, args, buffers, **_) -> Reply:
        from ..cam.engine import available_methods
        from ..plugins import plugin_manager

        pm = plugin_manager()
        return Reply({
            "version": __version__,
            "plugins": sorted(pm.get_name(p) for p in pm.get_plugins()),
            "methods": sorted({cls.name for cls in available_methods().values()}),
            "method_info": method_catalog(),  # gradients needed and passes per image, for the views
            "kinds": self.kinds,
        })

    def _models(self, args, buffers, **_) -> Reply:
        sessions = list(self.sessions.items())  # other threads may open models meanwhile
        return Reply({"models": [{"id": k, **s.summary()} for k, s in sessions]})

    def _close(self, args, buffers, **_) -> Reply:
        model_id = args.get("model")
        if not isinstance(model_id, str) or not model_id:
            raise BadRequest("close needs model= (the id of an open model).")
        self.sessions.close(model_id)
        return Reply({"closed": model_id, "models": list(self.sessions)})

    def _graph(self, args, buffers, **_) -> Reply:
        return self.session(args).graph()

    def _activations(self, args, buffers, **_) -> Reply:
        if args.get("stats"):  # statistics of many layers, no tensors: layers= a list, or every layer
            layers = args.get("layers")
            if layers is not None and not (isinstance(layers, list) and all(isinstance(n, str) for n in layers)):
                raise BadRequest("activations with stats takes layers= as a list of layer names.")
            return self.session(args).activation_stats(layers, int(args.get("index", 0)), buffers)
        layer = args.get("layer")
        if not isinstance(layer, str):
            raise BadRequest("activations needs a layer name.")
        return self.session(args).activations(layer, int(args.get("index", 0)), buffers)

    def _explain(self, args, buffers, progress: bool = False, cancel: Any = None, **_) -> Reply:
        options = {k: args[k] for k in ("method", "target", "layer", "indices", "alpha", "colormap", "top_k")
                   if args.get(k) is not None}
        options.update(explain_options(args))
        return self.session(args).explain(**options, buffers=buffers, progress=progress, cancel=cancel)

    def _scalars(self, args, buffers, **_) -> Reply:
        for key in ("run", "tag"):
            if not isinstance(args.get(key), str):
                raise BadRequest(f"scalars needs {key}=.")
        options = {k: args[k] for k in ("points", "smoothing", "since") if args.get(k) is not None}
        return self.scalars.scalars(self._logdir(args), args["run"], args["tag"], **options)

    def _logdir(self, args: dict) -> str:
        logdir = args.get("logdir")
        if not isinstance(logdir, str) or not logdir:
            raise BadRequest("A logdir is required.")
        return self.resolve_logdir(logdir)
