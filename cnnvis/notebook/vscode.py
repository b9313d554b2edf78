"""The VS Code sidebar's way into a notebook's kernel, where there are no comms to open.

VS Code's Jupyter extension lets another extension run code in a notebook's kernel and read the
outputs back (``kernels.getKernel(uri).executeCode``), and nothing more. So each protocol message
travels as one execute of::

    import cnnvis.notebook.vscode as _cnnvis_vscode
    _cnnvis_vscode.handle("<base64 frame>")

The frame is the panel's reply framing (``CNVR``, see :func:`cnnvis.services.codec.to_reply_frames`)
holding the request ``{id, kind, args}`` and its buffers. Every message the protocol sends back —
progress, then the reply — is displayed as one output of mime type :data:`MIME` whose value is the
base64 of a frame of the same kind, so arrays stay bytes end to end.

The kinds are the sidebar comm's (:mod:`cnnvis.notebook.kernel`): the widget's protocol plus
``kernel_models`` and ``attach``. Models attached here live for the kernel's lifetime, shared by
the executes. Requests are answered on the executing thread: the kernel runs one execute at a
time, so a ``{cancel: id}`` cannot overtake the work it would stop and is acknowledged only.
"""

from __future__ import annotations

import base64
import binascii
import struct
from typing import Any

from ..services import BadRequest
from ..services.codec import from_reply_frames, to_reply_frames
from .kernel import KernelComm

MIME = "application/x-cnnvis-frame"

_connection: KernelComm | None = None


class _Outputs:
    """Stands in for a comm: what the protocol sends becomes this execute's outputs."""

    comm_id = "vscode"

    def send(self, content: dict, buffers: list | None = None) -> None:
        from IPython.display import display

        frame = to_reply_frames(content, [bytes(b) for b in buffers or []])
        display({MIME: base64.b64encode(frame).decode("ascii")}, raw=True)

    def on_msg(self, callback: Any) -> None:  # messages arrive through handle(), not a comm
        pass

    def on_close(self, callback: Any) -> None:
        pass


def _shared_connection() -> KernelComm:
    global _connection
    if _connection is None:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is None:
            raise RuntimeError("cnnvis.notebook.vscode.handle() runs inside an IPython kernel.")
        _connection = KernelComm(_Outputs(), shell)
    return _connection


def handle(payload: str) -> None:
    """Answers one protocol message given as the base64 of its frame (see the module docstring)."""
    connection = _shared_connection()
    try:
        content, buffers = from_reply_frames(base64.b64decode(payload, validate=True))
    except (binascii.Error, ValueError, struct.error, BadRequest) as exc:
        connection.comm.send({"id": None, "ok": False,
                              "error": {"type": "BadRequest", "message": f"Unreadable cnnvis frame: {exc}"}})
        return
    if not isinstance(content, dict) or "cancel" in content:
        return
    request_id, kind = content.get("id"), content.get("kind")
    if request_id is None or not isinstance(kind, str):
        connection.comm.send({"id": request_id, "ok": False,
                              "error": {"type": "BadRequest", "message": "A request needs an id and a kind."}})
        return
    connection.protocol.handle_request(str(request_id), kind, content.get("args") or {}, buffers)
