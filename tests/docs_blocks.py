"""Collect the fenced code blocks of README.md and docs/*.md and run them as a reader would.

Collected: ``python`` blocks (one namespace per page, in order, IPython magics allowed), ``bash``/
``sh``/``shell``/``console`` blocks (through bash, the environment's ``bin`` first on PATH) and
``python signature`` blocks (a callable's documented signature, checked against the real one).
Markers, as HTML comments on the lines just above a block:

- ``<!-- skip: needs a GPU -->``: the block is reported as skipped with that reason;
- an ``output`` block right after a code block holds what it prints; ``...`` matches anything
  (doctest's ELLIPSIS) and runs of whitespace compare equal.

Every page runs in a fresh working directory holding ``examples/demo`` (the demo's files) and the
other example data the repository ships, in its own Python process (``python docs_blocks.py SPEC``
is that process), so a page cannot see another page's state.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ("python", "py")
SHELL = ("bash", "sh", "shell", "console")
FENCE = re.compile(r"^(`{3,}|~{3,})\s*([\w+-]*)\s*(.*)$")
SKIP = re.compile(r"^<!--\s*skip:\s*(.+?)\s*-->\s*$")
# What a block may be skipped for: what the test machine cannot have or do.
ALLOWED_SKIPS = ("GPU", "TensorRT", "Jetson", "VS Code", "download", "long-running", "browser",
                 "whole test suite")


@dataclass
class Block:
    page: str  # path relative to the repository root
    line: int  # 1-based line of the opening fence
    lang: str  # "python", "bash", ... or "signature"
    code: str
    skip: str | None = None
    expected: str | None = None  # the ``output`` block that follows, if any

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def pages(root: Path = ROOT) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def _fences(text: str) -> list[tuple[int, str, str, str]]:
    """``(line, lang, info rest, body)`` of every fenced block, in order."""
    lines, found, i = text.splitlines(), [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, start = m.group(1), i
        i += 1
        while i < len(lines) and not lines[i].startswith(fence):
            i += 1
        found.append((start + 1, m.group(2).lower(), m.group(3).strip(), "\n".join(lines[start + 1:i]) + "\n"))
        i += 1
    return found


def _marker(lines: list[str], fence_line: int) -> str | None:
    """The skip reason in the HTML comment just above the fence (blank lines allowed between)."""
    i = fence_line - 2
    while i >= 0 and not lines[i].strip():
        i -= 1
    m = SKIP.match(lines[i].strip()) if i >= 0 else None
    return m.group(1) if m else None


def _between(lines: list[str], after: int, before: int) -> str:
    return "\n".join(lines[after:before - 1]).strip()


def collect_page(path: Path, root: Path = ROOT) -> tuple[list[Block], list[tuple[int, str]]]:
    """The page's runnable blocks, and ``(line, lang)`` of the fenced blocks that are not code."""
    text = path.read_text()
    lines = text.splitlines()
    blocks, other = [], []
    fences = _fences(text)
    for n, (line, lang, info, body) in enumerate(fences):
        if lang == "python" and info == "signature":
            lang = "signature"
        elif lang not in PYTHON + SHELL:
            if lang != "output":
                other.append((line, lang or "plain"))
            continue
        block = Block(str(path.relative_to(root)), line, "python" if lang == "py" else lang, body,
                      skip=_marker(lines, line))
        if n + 1 < len(fences) and fences[n + 1][1] == "output":
            end = line + body.count("\n") + 1  # the closing fence's line
            if not _between(lines, end, fences[n + 1][0]):
                block.expected = fences[n + 1][3]
        blocks.append(block)
    return blocks, other


def collect(root: Path = ROOT) -> list[Block]:
    return [block for page in pages(root) for block in collect_page(page, root)[0]]


def outputs_match(expected: str, got: str) -> bool:
    import doctest

    checker = doctest.OutputChecker()
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    return checker.check_output(expected.strip() + "\n", got.strip() + "\n", flags)


# -- preparing a page's working directory --------------------------------------------------------

def prepare_demo(target: Path) -> Path:
    """The demo's files, made once with ``python -m cnnvis.demo`` as the README says."""
    import subprocess

    if not (target / "demo.json").is_file():
        subprocess.run([sys.executable, "-m", "cnnvis.demo", str(target)], check=True, env=page_env(target.parent),
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=600)
    return target


def prepare_workdir(workdir: Path, demo: Path) -> Path:
    """``workdir/examples/demo`` (a copy, times kept so the demo counts as up to date) and every
    other folder of ``examples/`` the repository ships (linked: pages only read them)."""
    examples = workdir / "examples"
    examples.mkdir(parents=True, exist_ok=True)
    shutil.copytree(demo, examples / "demo", dirs_exist_ok=True)
    for entry in (ROOT / "examples").iterdir():
        if entry.is_dir() and entry.name != "demo" and not (examples / entry.name).exists():
            (examples / entry.name).symlink_to(entry)
    return workdir


def page_env(workdir: Path) -> dict[str, str]:
    """The reader's shell: this environment's ``bin`` first, Jupyter's files kept in ``workdir``."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.update(MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="2", PYTHONDONTWRITEBYTECODE="1",
               JUPYTER_DATA_DIR=str(workdir / ".jupyter-data"), JUPYTER_CONFIG_DIR=str(workdir / ".jupyter"),
               JUPYTER_RUNTIME_DIR=str(workdir / ".jupyter-runtime"), KERAS_HOME=str(workdir / ".keras"))
    env.pop("CNNVIS_DEVICES_DB", None)
    return env


def run_page(blocks: list[Block], workdir: Path, timeout: float = 600) -> dict[str, dict]:
    """Runs the page's blocks (those not skipped) in one new process; ``{block id: result}``."""
    import subprocess

    spec = workdir / ".docs-spec.json"
    results = workdir / ".docs-results.json"
    spec.write_text(json.dumps({"blocks": [asdict(b) | {"id": b.id} for b in blocks if not b.skip],
                                "results": str(results)}))
    proc = subprocess.run([sys.executable, __file__, str(spec)], cwd=workdir, env=page_env(workdir),
                          capture_output=True, text=True, timeout=timeout)
    done = json.loads(results.read_text()) if results.is_file() else {}
    if proc.returncode != 0:  # the process died: blocks without a result say how
        for b in blocks:
            done.setdefault(b.id, {"ok": False, "stdout": "", "error": f"the page's process ended with "
                                   f"{proc.returncode}:\n{proc.stderr[-4000:]}", "seconds": 0.0})
    return done


# -- inside the page's process -------------------------------------------------------------------

def _run_python(code: str, namespace: dict, shell: object | None, name: str) -> None:
    if shell is not None:  # IPython turns `%magic ...` lines into calls, as in a notebook
        code = shell.transform_cell(code)
    exec(compile(code, name, "exec"), namespace)


def _run_shell(code: str, lang: str) -> tuple[str, str | None]:
    import subprocess

    if lang == "console":  # `$ command` lines run; the other lines are what they print
        code = "\n".join(line[2:] for line in code.splitlines() if line.startswith("$ "))
    proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", code], capture_output=True, text=True,
                          timeout=300)
    error = None if proc.returncode == 0 else f"exit status {proc.returncode}\n{proc.stderr[-4000:]}"
    return proc.stdout, error


def _check_signature(text: str, namespace: dict) -> None:
    """``module.function(a, b=1, *, c=None) -> R`` against ``inspect.signature`` of the real one."""
    import ast
    import importlib
    import inspect

    head, _, rest = text.strip().partition("(")
    params = rest.rpartition(")")[0]
    args = ast.parse(f"def _f({params}): pass").body[0].args
    parts = head.strip().split(".")
    obj = importlib.import_module(parts[0])
    for part in parts[1:]:
        obj = getattr(obj, part)
    real = [p for p in inspect.signature(obj).parameters.values() if p.name != "self"]
    documented = _documented(args)
    got = [(p.name, p.kind.name, repr(p.default) if p.default is not p.empty else None) for p in real]
    if documented != got:
        raise AssertionError(f"documented signature of {head.strip()}:\n  {documented}\nreal one:\n  {got}")


def _documented(args) -> list[tuple[str, str, str | None]]:
    import ast

    out = []
    positional = args.posonlyargs + args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    for arg, default in zip(positional, defaults, strict=True):
        out.append((arg.arg, "POSITIONAL_OR_KEYWORD", None if default is None else repr(ast.literal_eval(default))))
    if args.vararg:
        out.append((args.vararg.arg, "VAR_POSITIONAL", None))
    for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        out.append((arg.arg, "KEYWORD_ONLY", None if default is None else repr(ast.literal_eval(default))))
    if args.kwarg:
        out.append((args.kwarg.arg, "VAR_KEYWORD", None))
    return out


def _cpu_seconds() -> float:
    """CPU time of this process and of the commands it ran (what a block costs on a busy machine)."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _worker(spec_path: str) -> int:
    import contextlib
    import io
    import traceback

    spec = json.loads(Path(spec_path).read_text())
    with contextlib.suppress(ImportError):  # as the test suite does: CUDA builds need triton first
        from cnnvis.adapters.keras import import_triton_before_tensorflow

        import_triton_before_tensorflow()
    namespace: dict = {"__name__": "__main__"}
    shell = None
    if any(re.search(r"^\s*%", b["code"], re.M) for b in spec["blocks"] if b["lang"] == "python"):
        from IPython.core.interactiveshell import InteractiveShell

        shell = InteractiveShell.instance()
        namespace = shell.user_ns
    results: dict[str, dict] = {}
    for b in spec["blocks"]:
        started, cpu, out, error = time.perf_counter(), _cpu_seconds(), io.StringIO(), None
        try:
            if b["lang"] in SHELL:
                text, error = _run_shell(b["code"], b["lang"])
                out.write(text)
            else:
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
                    if b["lang"] == "signature":
                        _check_signature(b["code"], namespace)
                    else:
                        _run_python(b["code"], namespace, shell, f"{b['page']}:{b['line']}")
        except BaseException:  # noqa: BLE001 - a block's failure, SystemExit included, is its result
            error = traceback.format_exc(limit=-8)
        results[b["id"]] = {"ok": error is None, "stdout": out.getvalue(), "error": error,
                            "seconds": round(time.perf_counter() - started, 2),
                            "cpu_seconds": round(_cpu_seconds() - cpu, 2)}
        Path(spec["results"]).write_text(json.dumps(results))  # kept if a later block kills the process
    return 0


if __name__ == "__main__":
    sys.exit(_worker(sys.argv[1]))
