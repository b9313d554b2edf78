"""The ``cnnvis`` Jupyter server extension and the ``jupyter cnnvis`` command.

The extension owns the state the handlers share: one :class:`~cnnvis.services.Dispatcher` (the
same services the notebook widget uses), a thread pool for request work so that model passes and
file parsing never run on the tornado event loop, a :class:`~cnnvis.services.jobs.JobManager` for
long work, and the last explain results waiting to be fetched.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from jupyter_server.utils import url_path_join
from traitlets import Bool, Float, Int, List, Unicode, default

from .. import __version__
from ..services import Dispatcher, Reply, resolve_under_root
from ..services.errors import BadRequest, Forbidden, NotFound
from ..services.jobs import JobManager

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


class ResultStore:
    """The last ``capacity`` explain replies, so their PNG/.npy buffers can be fetched by URL."""

    def __init__(self, capacity: int = 32):
        self.capacity = capacity
        self._items: OrderedDict[str, tuple[str, Reply]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, key: str, owner: str, reply: Reply) -> None:
        with self._lock:
            self._items[key] = (owner, reply)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def get(self, key: str, owner: str) -> Reply:
        with self._lock:
            item = self._items.get(key)
        if item is None or item[0] != owner:
            raise NotFound(f"No result {key!r} for model {owner!r}; results are kept for the last "
                           f"{self.capacity} requests only: ask again.")
        return item[1]

    def drop(self, owner: str) -> None:
        """Forget the results of a closed model."""
        with self._lock:
            for key in [k for k, (o, _) in self._items.items() if o == owner]:
                del self._items[key]


class ReplyCache:
    """Encoded scalar replies, least recently used first out, bounded in bytes.

    Keys include the series' point count, so a reply is never served after the run grew: many
    viewers polling the same chart cost one downsample + JSON encoding per new data, not per request.
    """

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: tuple) -> bytes | None:
        with self._lock:
            body = self._items.get(key)
            if body is not None:
                self._items.move_to_end(key)
            return body

    def put(self, key: tuple, body: bytes) -> None:
        if len(body) > self.max_bytes // 4:
            return
        with self._lock:
            old = self._items.pop(key, None)
            self._size += len(body) - (len(old) if old else 0)
            self._items[key] = body
            while self._size > self.max_bytes and self._items:
                self._size -= len(self._items.popitem(last=False)[1])


class CnnvisExtension(ExtensionApp):
    """REST + WebSocket API over models, logdirs and jobs, and the cnnvis page."""

    name = "cnnvis"
    description = "cnnvis: see inside CNNs (graphs, activations, CAM heatmaps, training curves)."
    version = __version__
    extension_url = "/cnnvis/"
    load_other_extensions = True

    logdir_roots = List(Unicode(), help=(
        "Absolute directories (besides the server's root_dir) in which logdirs may be read. "
        "Relative logdirs always resolve under root_dir.")).tag(config=True)
    allow_fsspec_urls = Bool(False, help=(
        "Accept logdirs given as fsspec URLs (s3://, gs://, ...). Off by default: it lets clients "
        "make the server read any location its credentials reach.")).tag(config=True)
    job_concurrency = Int(1, help="Jobs that run at once; the others wait in a queue.").tag(config=True)
    worker_threads = Int(4, help="Threads answering requests off the event loop.").tag(config=True)
    max_request_bytes = Int(16 * 2**20, help="Larger request bodies are refused with 413.").tag(config=True)
    max_scalar_points = Int(10_000, help="Most points one scalars reply holds (requests ask for fewer).").tag(
        config=True)
    scalars_max_age = Float(1.0, help="Seconds a logdir's cached points serve plain queries before a re-read.").tag(
        config=True)
    stream_interval = Float(0.5, help="Seconds between logdir polls of a scalar stream.").tag(config=True)
    job_poll_interval = Float(0.1, help="Seconds between progress checks of a job stream.").tag(config=True)
    scalar_cache_bytes = Int(32 * 2**20, help="Memory for encoded scalar replies (0 turns the cache off).").tag(
        config=True)
    max_input_bytes = Int(128 * 2**20, help=(
        "Most bytes one inputs array read from a .npy/.npz file may take; its header is checked before "
        "anything is decompressed, and inputs_limit= reads only the first entries.")).tag(config=True)
    max_sessions = Int(8, help=(
        "Models open at once; opening one more closes the least recently used (0: no limit).")).tag(config=True)
    max_session_bytes = Int(4 * 2**30, help=(
        "Memory the open models may hold (model file or weights plus inputs, estimated); beyond it the least "
        "recently used are closed (0: no limit).")).tag(config=True)
    kept_results = Int(32, help="Explain results kept for their follow-up GETs.").tag(config=True)
    devices_db = Unicode("", help=(
        "SQLite file of Jetson device history and device tokens (default: cnnvis/devices.sqlite under the "
        "Jupyter data dir, where `jupyter cnnvis token` writes).")).tag(config=True)
    device_max_samples = Int(200_000, help="Samples kept per device; older ones are dropped.").tag(config=True)
    token_check_interval = Float(0.5, help="Seconds between checks for revoked device tokens.").tag(config=True)

    @default("static_url_prefix")
    def _default_static_url_prefix(self) -> str:
        return url_path_join(self.serverapp.base_url, "cnnvis/static/")

    # -- state shared by the handlers -------------------------------------------------------------

    def initialize_settings(self) -> None:
        from ..services.device_store import DeviceStore
        from ..services.devices import DeviceService
        from .device_hub import DeviceHub

        self.device_store = DeviceStore(self.devices_db or None, self.device_max_samples)
        devices = DeviceService(self.device_store)
        self.dispatcher = Dispatcher(resolve_logdir=self.resolve_logdir, devices=devices)
        self.dispatcher.scalars.max_age = self.scalars_max_age
        self.dispatcher.sessions.max_count = self.max_sessions or None
        # Event files are read only where logdirs may be: symlinks out of these are skipped.
        self.dispatcher.scalars.roots = tuple(self.readable_roots())
        self.dispatcher.sessions.max_bytes = self.max_session_bytes or None
        self.executor = ThreadPoolExecutor(max_workers=max(1, self.worker_threads),
                                           thread_name_prefix="cnnvis-request")
        self.device_hub = DeviceHub(self.device_store, self.executor, devices.connected, self.log,
                                    self.token_check_interval)
        self.jobs = JobManager(concurrency=max(1, self.job_concurrency))
        self.results = ResultStore(self.kept_results)
        self.scalar_replies = ReplyCache(max(0, self.scalar_cache_bytes))
        self.log.info("cnnvis %s: API at %s", __version__, url_path_join(self.serverapp.base_url, "cnnvis/api/"))

    def initialize_handlers(self) -> None:
        from .routes import routes

        self.handlers.extend(routes(str(STATIC_DIR)))

    async def stop_extension(self) -> None:
        hub = getattr(self, "device_hub", None)
        if hub is not None:
            hub.stop()
        jobs = getattr(self, "jobs", None)
        if jobs is not None:
            jobs.shutdown()
        executor = getattr(self, "executor", None)
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    # -- client paths -----------------------------------------------------------------------------

    @property
    def root_dir(self) -> str:
        return os.path.realpath(os.path.expanduser(self.serverapp.root_dir))

    def resolve_path(self, client_path: Any, *, kind: str = "file") -> Path:
        """A client's path under root_dir (403 outside it, 404 missing, 400 wrong kind)."""
        path = resolve_under_root(self.root_dir, client_path)
        if kind == "file" and not path.is_file():
            raise BadRequest(f"{client_path!r} is not a file.")
        if kind == "dir" and not path.is_dir():
            raise BadRequest(f"{client_path!r} is not a directory.")
        return path

    def readable_roots(self) -> list[str]:
        """The directories clients may read in, as given and with symlinks resolved."""
        roots = [self.serverapp.root_dir, *self.logdir_roots]
        return [p for r in roots for p in (os.path.expanduser(r), os.path.realpath(os.path.expanduser(r)))]

    def resolve_logdir(self, logdir: str) -> str:
        if "://" in logdir or logdir.startswith(("s3:", "gs:", "gcs:", "az:", "memory:")):
            if not self.allow_fsspec_urls:
                raise Forbidden("This server does not read logdir URLs; ask its administrator to set "
                                "CnnvisExtension.allow_fsspec_urls = True.")
            return logdir
        if os.path.isabs(logdir):
            real = os.path.realpath(logdir)
            for root in self.logdir_roots:
                base = os.path.realpath(os.path.expanduser(root))
                if real == base or real.startswith(base.rstrip(os.sep) + os.sep):
                    if not os.path.isdir(real):
                        raise NotFound(f"{logdir!r} is not a directory.")
                    return real
            raise Forbidden(f"Absolute logdir {logdir!r} is outside the allowed roots; give a path "
                            "relative to the server's root directory.")
        return str(self.resolve_path(logdir, kind="dir"))


launch_instance = CnnvisExtension.launch_instance


USAGE = """usage: jupyter cnnvis [SERVER OPTIONS]            a Jupyter server that opens the cnnvis page
       jupyter cnnvis token {create,list,revoke} ...  device tokens for Jetson agents
       jupyter cnnvis --help-all                      every server option"""


def _usage_error(message: str) -> None:
    import sys

    print(USAGE, file=sys.stderr)
    print(f"jupyter cnnvis: error: {message}", file=sys.stderr)
    sys.exit(2)


def _unknown_option(args: list[str]) -> str | None:
    """The first option no part of the server knows (traitlets would warn and carry on).
    ``--Class.trait=value`` is configuration and always passes."""
    from jupyter_server.serverapp import ServerApp

    server = ServerApp()  # not the singleton: only its option tables are read
    known = {"h", "help", "help-all", "V", "version", "generate-config"}
    for table in (server.flags, server.aliases, CnnvisExtension.flags, CnnvisExtension.aliases):
        for key in table if isinstance(table, dict) else ():
            known.update(key if isinstance(key, tuple) else (key,))
    for arg in args:
        if arg == "--":
            break
        name = arg.lstrip("-").split("=", 1)[0]
        if arg.startswith("-") and name and not name[0].isdigit() and "." not in name and name not in known:
            return arg
    return None


def main(argv: list[str] | None = None) -> Any:
    """``jupyter cnnvis``: the server with the panel; ``jupyter cnnvis token ...``: device tokens.
    Anything else that is no server option prints the usage and exits with status 2."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["token"]:
        from .tokens_cli import main as tokens_main

        sys.exit(tokens_main(args[1:]))
    if args and not args[0].startswith("-"):  # jupyter_server would fail on it with a TypeError
        _usage_error(f"unknown command {args[0]!r}")
    unknown = _unknown_option(args)
    if unknown is not None:
        _usage_error(f"unknown option {unknown!r}")
    return launch_instance(argv)
