"""``%cnnvis [model] [--input x] [--logdir runs/] [--target k] [--classes names]``.

Names and expressions are evaluated in the user's namespace, so ``--input x[:4]`` works.
"""

from __future__ import annotations

import argparse
import os
import shlex
from typing import Any

from .widget import CnnvisWidget, show


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would exit the kernel's process
        from IPython.core.error import UsageError

        raise UsageError(f"%cnnvis: {message}\n{self.format_usage()}")


def _parser() -> _Parser:
    p = _Parser(prog="%cnnvis", add_help=False,
                description="Show the cnnvis panel: graph, activations, explanations and training curves.")
    p.add_argument("model", nargs="?", help="a model variable, or a quoted file path")
    p.add_argument("--input", "--inputs", dest="inputs", help="example inputs (framework layout)")
    p.add_argument("--logdir", help="TensorBoard logdir (path or variable)")
    p.add_argument("--target", help="class index to explain (default: each input's top class)")
    p.add_argument("--classes", help="a list of class names")
    p.add_argument("--method", help="CAM method (default: gradcam; eigencam for ONNX and TensorRT)")
    p.add_argument("--layer", help="CAM layer (default: the last spatial layer)")
    p.add_argument("--theme", default="auto", choices=["auto", "light", "dark"])
    return p


def _resolve(expr: str | None, namespace: dict) -> Any:
    if expr is None:
        return None
    if expr in namespace:
        return namespace[expr]
    try:
        return eval(expr, namespace)  # the user's own expression, in the user's own kernel
    except Exception as exc:
        from IPython.core.error import UsageError

        raise UsageError(f"%cnnvis: cannot resolve {expr!r}: {exc}") from None


def parse_line(line: str) -> argparse.Namespace:
    """The magic's arguments. IPython passes a trailing ``# comment`` along with the line; it is
    dropped here as in Python (a ``#`` inside quotes stays)."""
    return _parser().parse_args(shlex.split(line, comments=True))


def cnnvis_magic(line: str, namespace: dict) -> CnnvisWidget:
    args = parse_line(line)
    if args.model is None and args.logdir is None:
        _parser().error("give a model (and --input) or a --logdir")
    # A quoted file path that is no variable loads the file (``%cnnvis "model.onnx"``).
    is_path = args.model is not None and args.model not in namespace and os.path.exists(args.model)
    model = args.model if is_path else _resolve(args.model, namespace)
    logdir = namespace.get(args.logdir, args.logdir) if args.logdir else None
    target = _resolve(args.target, namespace)
    return show(model, inputs=_resolve(args.inputs, namespace), logdir=logdir,
                target=None if target is None else int(target), class_names=_resolve(args.classes, namespace),
                method=args.method, layer=args.layer, name=args.model, theme=args.theme)


def register_magic(ipython: Any) -> None:
    """Registers ``%cnnvis`` (called by ``%load_ext cnnvis``)."""

    def magic(line: str) -> CnnvisWidget:
        return cnnvis_magic(line, ipython.user_ns)

    magic.__doc__ = _parser().format_help()
    ipython.register_magic_function(magic, magic_kind="line", magic_name="cnnvis")
