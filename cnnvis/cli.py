"""The ``cnnvis`` command line: quick looks at a model file without opening a notebook."""

from __future__ import annotations

import argparse
import json
import sys

from . import __version__
from .errors import CnnvisError


def _info(args: argparse.Namespace) -> int:
    from .cam.engine import available_methods
    from .plugins import plugin_manager

    pm = plugin_manager()
    print(f"cnnvis {__version__}")
    print("plugins: " + ", ".join(sorted(pm.get_name(p) for p in pm.get_plugins())))
    print("CAM methods: " + ", ".join(sorted({cls.name for cls in available_methods().values()})))
    return 0


def _graph(args: argparse.Namespace) -> int:
    from .api import graph, load

    g = graph(load(args.path))
    if args.json:
        json.dump(g.to_dict(), sys.stdout)
        print()
        return 0
    print(g)
    for node in g.roots():
        print(f"  {node['id']:<32} {node['type']:<24} {node['kind']:<6} params={node['params']}")
    return 0


def _agent(argv: list[str]) -> int:
    """``cnnvis agent --write PATH`` copies the Jetson agent out; ``cnnvis agent ARGS`` runs it."""
    import shutil
    from pathlib import Path

    from .jetson import cnnvis_agent

    if argv[:1] == ["--write"]:
        if len(argv) != 2:
            print("usage: cnnvis agent --write PATH", file=sys.stderr)
            return 2
        target = Path(argv[1])
        if target.is_dir():
            target = target / "cnnvis_agent.py"
        shutil.copyfile(cnnvis_agent.__file__, target)
        target.chmod(0o755)
        print(f"wrote {target}; copy it to the device and run: python3 {target.name} --server URL")
        return 0
    return cnnvis_agent.main(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["agent"]:  # the agent parses its own arguments
        return _agent(argv[1:])
    parser = argparse.ArgumentParser(prog="cnnvis", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("agent", help="run the Jetson agent (ARGS as cnnvis_agent.py), or --write PATH to copy it")
    sub.add_parser("info", help="version, plugins and CAM methods").set_defaults(run=_info)
    g = sub.add_parser("graph", help="summarise a model file's graph")
    g.add_argument("path")
    g.add_argument("--json", action="store_true", help="print the whole graph as JSON")
    g.set_defaults(run=_graph)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except CnnvisError as exc:
        print(f"cnnvis: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
