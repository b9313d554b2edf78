"""``CnnvisWidget``: the cnnvis panel as an anywidget, speaking the services' message protocol.

Requests arrive as anywidget custom messages and are answered by
:class:`~cnnvis.notebook.protocol.MessageProtocol` (worker threads, progress, cancel), the same
code that answers the JupyterLab sidebar's kernel comm (:mod:`cnnvis.notebook.kernel`).
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from ..services import Dispatcher, ModelSession
from .protocol import MessageProtocol

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent.parent / "static"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"

# Shown instead of the panel when the frontend bundle was not built (a source checkout).
_MISSING_BUNDLE_ESM = """
export default { render({ el }) {
  el.textContent = "cnnvis: the frontend bundle is missing (cnnvis/static/widget.js). Run `make frontend`.";
} };
"""


def _asset(name: str, fallback: str) -> Path | str:
    """A Path makes anywidget read the file (and watch it in development)."""
    path = STATIC / name
    return path if path.exists() else fallback


class CnnvisWidget(anywidget.AnyWidget):
    """The panel. Traitlets carry small UI state only; data goes over custom messages."""

    _esm = _asset("widget.js", _MISSING_BUNDLE_ESM)
    _css = _asset("widget.css", "")

    summary = traitlets.Dict().tag(sync=True)
    theme = traitlets.Unicode("auto").tag(sync=True)  # "auto" follows JupyterLab / VS Code
    selected_layer = traitlets.Unicode("").tag(sync=True)
    method = traitlets.Unicode("gradcam").tag(sync=True)
    target = traitlets.Int(None, allow_none=True).tag(sync=True)

    def __init__(self, dispatcher: Dispatcher, *, snapshot: dict[str, Any] | None = None,
                 max_workers: int = 2, **kwargs: Any):
        super().__init__(**kwargs)
        self.dispatcher = dispatcher
        self.snapshot: dict[str, Any] = dict(snapshot or {})
        self.protocol = MessageProtocol(dispatcher, _weak_sender(self), max_workers=max_workers,
                                        thread_name="cnnvis-widget")
        # A widget that is never closed must not keep its threads: stop them when it is collected.
        weakref.finalize(self, self.protocol.close)
        self.on_msg(self._on_message)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """The widget view plus a static snapshot for renderers without a kernel (GitHub, nbconvert)."""
        bundle = super()._repr_mimebundle_(**kwargs)
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle, None)
        if data is None:
            return bundle
        data = {**self.snapshot, **data}
        return (data, metadata) if metadata is not None else data

    # --- message protocol -------------------------------------------------------------------------

    def _on_message(self, _widget: Any, content: Any, buffers: Sequence[Any]) -> None:
        self.protocol.on_message(content, buffers)

    def handle_request(self, request_id: str, kind: str, args: dict | None = None,
                       buffers: Sequence[bytes] = (), cancel: threading.Event | None = None) -> None:
        """Answers one request on the calling thread (tests use this)."""
        self.protocol.handle_request(request_id, kind, args, buffers, cancel)

    def close(self) -> None:
        self.protocol.close()
        super().close()


def _weak_sender(widget: CnnvisWidget) -> Callable[[dict, list], None]:
    """Sends through ``widget.send`` (looked up per call, so tests can stand in for the comm)
    without keeping the widget alive: its finalizer shuts the protocol's workers down."""
    ref = weakref.ref(widget)

    def send(content: dict, buffers: list) -> None:
        target = ref()
        if target is not None:
            target.send(content, buffers=buffers)

    return send


def show(model: Any = None, inputs: Any = None, logdir: str | None = None, target: int | None = None,
         class_names: Sequence[str] | None = None, *, method: str | None = None, layer: str | None = None,
         name: str | None = None, preprocess: Any = None, mean: Any = None, std: Any = None,
         theme: str = "auto", snapshot: bool = True) -> CnnvisWidget:
    """The cnnvis panel for ``model`` (a framework model, a ``cnnvis.load`` handle or a file path).

    ``inputs`` (the framework's layout) enable activations and explanations; ``target`` sets the
    class explained (default: each input's top class). ``logdir`` (a TensorBoard logdir) adds the
    training section: live curves, alerts, histograms and images; with ``model=None`` the panel
    shows only that. The returned widget also carries a static snapshot (graph summary and a
    Grad-CAM overlay) for notebooks viewed without a kernel.
    """
    from .snapshot import build_snapshot

    if isinstance(model, (str, Path)):
        from ..api import load

        name = name or Path(model).stem
        model = load(str(model))
    dispatcher = Dispatcher()
    logdir = None if logdir is None else str(logdir)
    summary: dict[str, Any] = {"name": name or ("model" if model is not None else "training"), "logdir": logdir,
                               "has_model": model is not None}
    if logdir:
        # Read the logdir while the frontend loads, so the first curves request finds it in memory.
        threading.Thread(target=_warm_logdir, args=(dispatcher, logdir), daemon=True,
                         name="cnnvis-logdir").start()
    session = None
    if model is not None:
        session = ModelSession(model, inputs, name=name or "model", class_names=class_names,
                               preprocess=preprocess, mean=mean, std=std)
        dispatcher.add_session(session.name, session)
        summary.update(session.summary())
    method = method or (session.summary()["default_method"] if session else "gradcam")  # eigencam for ONNX
    data = build_snapshot(session, target=target, method=method, layer=layer) if snapshot else {}
    return CnnvisWidget(dispatcher, snapshot=data, summary=summary, theme=theme, method=method,
                        target=target, selected_layer=layer or "")


def _warm_logdir(dispatcher: Dispatcher, logdir: str) -> None:
    try:
        dispatcher.scalars.cache(logdir)
    except Exception:  # the view's own request reports the problem to the user
        log.debug("cnnvis: pre-reading %s failed", logdir, exc_info=True)
