"""The JupyterLab sidebar's way into a notebook's kernel: a comm with target name ``cnnvis``.

The sidebar runs ``import cnnvis.notebook.kernel as _k; _k.register()`` silently in the kernel, then
opens a comm to ``cnnvis``. The comm carries exactly the widget's message protocol (see
:mod:`cnnvis.notebook.protocol`), answered by a :class:`~cnnvis.services.Dispatcher` of its own
with two more kinds:

- ``kernel_models`` → ``{"models": [{name, framework, type, params}], "inputs": [{name, shape,
  dtype, framework}]}``: the namespace's models and 4-D batches, in definition order.
- ``attach`` ``{"name": "net", "inputs": "x" | null, "class_names": "labels" | null}`` → ``{"model":
  "net", ...summary}``: opens the variable as a model; later requests name it with ``args.model``.
"""

from __future__ import annotations

import logging
from typing import Any

from ..errors import UnsupportedModelError
from ..services import BadRequest, Dispatcher, ModelSession, NotFound, Reply
from .namespace import find_inputs, find_models, user_variables
from .protocol import MessageProtocol

log = logging.getLogger(__name__)

TARGET = "cnnvis"

# Open comms by comm id: the comm manager holds the comms, this holds their dispatchers' state.
_open_comms: dict[str, KernelComm] = {}


def register(ipython: Any = None) -> None:
    """Registers the ``cnnvis`` comm target on the running IPython kernel (once; repeats are no-ops)."""
    shell = ipython if ipython is not None else _current_shell()
    manager = _comm_manager(shell)
    existing = manager.targets.get(TARGET)
    if isinstance(existing, _Opener) and existing.shell is shell:
        return
    manager.register_target(TARGET, _Opener(shell))


def open_comms() -> list[KernelComm]:
    """The sidebar connections now open in this kernel."""
    return list(_open_comms.values())


class _Opener:
    """The comm target: one :class:`KernelComm` per comm the frontend opens."""

    def __init__(self, shell: Any):
        self.shell = shell

    def __call__(self, comm: Any, open_msg: dict) -> None:
        connection = KernelComm(comm, self.shell)
        _open_comms[comm.comm_id] = connection


class KernelComm:
    """One sidebar connection: its own dispatcher (models attached here stay here) and workers."""

    def __init__(self, comm: Any, shell: Any):
        self.comm = comm
        self.shell = shell
        self.dispatcher = Dispatcher()
        self.dispatcher.add_kind("kernel_models", self._kernel_models)
        self.dispatcher.add_kind("attach", self._attach)
        self.protocol = MessageProtocol(self.dispatcher, self._send, thread_name="cnnvis-comm")
        comm.on_msg(self._on_msg)
        comm.on_close(self._on_close)

    def _send(self, content: dict, buffers: list) -> None:
        self.comm.send(content, buffers=buffers)

    def _on_msg(self, msg: dict) -> None:
        self.protocol.on_message(msg.get("content", {}).get("data"), msg.get("buffers") or [])

    def _on_close(self, msg: dict) -> None:
        self.protocol.close()
        _open_comms.pop(self.comm.comm_id, None)

    # --- the comm's own kinds ---------------------------------------------------------------------

    def _variables(self) -> list[tuple[str, Any]]:
        return user_variables(self.shell.user_ns, getattr(self.shell, "user_ns_hidden", None))

    def _kernel_models(self, args: dict, buffers: list, **_: Any) -> Reply:
        variables = self._variables()
        return Reply({"models": find_models(variables), "inputs": find_inputs(variables)})

    def _attach(self, args: dict, buffers: list, **_: Any) -> Reply:
        name = args.get("name")
        if not isinstance(name, str) or not name:
            raise BadRequest('attach needs the name of a model variable: {"name": "net", "inputs": "x"}.')
        model = self._lookup(name)
        inputs = self._lookup(args["inputs"]) if args.get("inputs") else None
        class_names = self._class_names(args.get("class_names"))
        try:
            session = ModelSession(model, inputs, name=name, class_names=class_names)
        except UnsupportedModelError as exc:
            raise BadRequest(f"{name!r} is not a model cnnvis can open: {exc}") from None
        self.dispatcher.add_session(name, session)  # attaching a name again replaces the old model
        return Reply({"model": name, **session.summary()})

    def _lookup(self, name: Any) -> Any:
        if not isinstance(name, str):
            raise BadRequest(f"Variable names are strings, not {name!r}.")
        namespace = self.shell.user_ns
        if name not in namespace:
            found = find_models(self._variables())
            known = ", ".join(m["name"] for m in found) or "none"
            raise NotFound(f"No variable {name!r} in this kernel (models defined here: {known}).")
        return namespace[name]

    def _class_names(self, name: Any) -> list[str] | None:
        if name is None:
            return None
        value = self._lookup(name)
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise BadRequest(f"class_names: {name!r} must be a list of strings.")
        return list(value)


def _current_shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:  # IPython is how kernels run Python: without it there is no kernel here
        get_ipython = None
    shell = get_ipython() if get_ipython is not None else None
    if shell is None or getattr(shell, "kernel", None) is None:
        raise RuntimeError("cnnvis.notebook.kernel.register() needs a running IPython kernel.")
    return shell


def _comm_manager(shell: Any) -> Any:
    manager = getattr(getattr(shell, "kernel", None), "comm_manager", None)
    if manager is None:  # kernels that leave comms to the ``comm`` package
        import comm

        manager = comm.get_comm_manager()
    return manager
