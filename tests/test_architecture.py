"""The house plan, read statically from the sources: arrows point one way.

No import circle inside ``cnnvis`` (a package's ``__init__`` importing its own submodules does not
count), adapters and the core never import the server or the notebook, and nothing outside a
framework's adapter package imports its insides.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import cnnvis

PACKAGE_ROOT = Path(cnnvis.__file__).parent
FRAMEWORKS = ("torch", "keras", "onnx", "tensorrt")
# The two front doors: only they (and their own modules) import each other.
UPPER_PARTS = ("cnnvis.server", "cnnvis.notebook")


def _modules() -> dict[str, tuple[Path, bool]]:
    found = {}
    for path in PACKAGE_ROOT.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _imported_names(path: Path, package: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def import_graph() -> dict[str, set[str]]:
    """``module -> modules of cnnvis it imports``, read from the source (every import, even lazy ones)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, (path, is_package) in modules.items():
        package = name if is_package else name.rpartition(".")[0]
        targets = {t for t in _imported_names(path, package) if t in modules and t != name}
        graph[name] = {t for t in targets if not (is_package and t.startswith(name + "."))}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph[succ]))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_circle_finder_finds_a_planted_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert circles(graph) == [["a", "b", "c"]]


def test_no_import_circles():
    assert circles(import_graph()) == []


def _is_upper(module: str) -> bool:
    return any(module == part or module.startswith(part + ".") for part in UPPER_PARTS)


def test_adapters_and_core_never_import_server_or_notebook():
    offenders = [
        (module, target)
        for module, targets in import_graph().items()
        if not _is_upper(module)
        for target in targets
        if target.startswith(("cnnvis.server", "cnnvis.notebook"))
    ]
    assert offenders == []


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_framework_insides_stay_inside(framework):
    package = f"cnnvis.adapters.{framework}"
    offenders = [
        (module, target)
        for module, targets in import_graph().items()
        if not module.startswith(package + ".") and module != package
        for target in targets
        if target.startswith(package + ".")
    ]
    assert offenders == []


def test_one_package_per_framework():
    adapters = PACKAGE_ROOT / "adapters"
    flat = sorted(p.name for p in adapters.glob("*.py") if p.name.startswith(tuple(f + "_" for f in FRAMEWORKS)))
    assert flat == []
    for framework in FRAMEWORKS:
        assert (adapters / framework / "__init__.py").is_file()
