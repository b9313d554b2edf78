"""``CnnvisWidget``: the cnnvis panel as an anywidget, speaking the services' message protocol.

Requests arrive as custom messages ``{id, kind, args}`` with binary buffers and are answered from a
worker thread, so the kernel keeps reading messages (a ``{cancel: id}`` can stop ScoreCAM midway):
``{id, ok: true, result}`` + buffers, ``{id, ok: false, error: {type, message}}``, and
``{id, progress: {done, total}}`` while long work runs. Arrays travel as binary buffers, never as
base64 inside JSON.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from ..errors import CnnvisError
from ..services import Dispatcher, ModelSession

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent.parent / "static"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
PROGRESS_INTERVAL_S = 0.1

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
        self._cancels: dict[str, threading.Event] = {}
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="cnnvis-widget")
        # A widget that is never closed must not keep its threads: stop them when it is collected.
        weakref.finalize(self, self._pool.shutdown, wait=False, cancel_futures=True)
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
        if not isinstance(content, dict):
            return
        if "cancel" in content:
            event = self._cancels.get(str(content["cancel"]))
            if event is not None:
                event.set()
            return
        request_id = content.get("id")
        kind = content.get("kind")
        if request_id is None or not isinstance(kind, str):
            self._reply_error(request_id, "BadRequest", "A request needs an id and a kind.")
            return
        request_id = str(request_id)
        cancel = threading.Event()
        self._cancels[request_id] = cancel
        args = content.get("args") or {}
        data = [bytes(b) for b in buffers or ()]
        self._pool.submit(self._answer, request_id, kind, args, data, cancel)

    def handle_request(self, request_id: str, kind: str, args: dict | None = None,
                       buffers: Sequence[bytes] = (), cancel: threading.Event | None = None) -> None:
        """Answers one request on the calling thread (the worker threads and tests use this)."""
        self._answer(request_id, kind, args or {}, list(buffers), cancel or threading.Event())

    def _answer(self, request_id: str, kind: str, args: Any, buffers: list[bytes],
                cancel: threading.Event) -> None:
        self._cancels[request_id] = cancel
        try:
            progress = _ThrottledProgress(lambda done, total: self._send_progress(request_id, done, total))
            reply = self.dispatcher.handle(kind, args, buffers, progress=progress, cancel=cancel)
            self.send({"id": request_id, "ok": True, "result": reply.result}, buffers=reply.buffers)
        except CnnvisError as exc:
            self._reply_error(request_id, type(exc).__name__, str(exc))
        except Exception as exc:  # a view must get an answer, never a silent hang
            log.exception("cnnvis widget request %s failed", kind)
            self._reply_error(request_id, type(exc).__name__, f"{kind} failed: {exc}")
        finally:
            self._cancels.pop(request_id, None)

    def _reply_error(self, request_id: Any, kind: str, message: str) -> None:
        self.send({"id": request_id, "ok": False, "error": {"type": kind, "message": message}})

    def _send_progress(self, request_id: str, done: int, total: int) -> None:
        self.send({"id": request_id, "progress": {"done": done, "total": total}})

    def close(self) -> None:
        for event in list(self._cancels.values()):  # workers remove entries as they finish
            event.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        super().close()


class _ThrottledProgress:
    """The engine's ``progress(done, total)`` callable, forwarded at most every PROGRESS_INTERVAL_S."""

    def __init__(self, report: Callable[[int, int], None]):
        self.report = report
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last >= PROGRESS_INTERVAL_S or done >= total:
            self.last = now
            self.report(done, total)


def show(model: Any = None, inputs: Any = None, logdir: str | None = None, target: int | None = None,
         class_names: Sequence[str] | None = None, *, method: str = "gradcam", layer: str | None = None,
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
    data = build_snapshot(session, target=target, method=method, layer=layer) if snapshot else {}
    return CnnvisWidget(dispatcher, snapshot=data, summary=summary, theme=theme, method=method,
                        target=target, selected_layer=layer or "")


def _warm_logdir(dispatcher: Dispatcher, logdir: str) -> None:
    try:
        dispatcher.scalars.cache(logdir)
    except Exception:  # the view's own request reports the problem to the user
        log.debug("cnnvis: pre-reading %s failed", logdir, exc_info=True)
