"""The ``cnnvis`` command line: quick looks at a model file without opening a notebook."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

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


def _batch(args: argparse.Namespace) -> int:
    from .batching import batch

    result = batch(args.source, args.model, methods=_names(args.methods), metrics=_names(args.metrics),
                   out=args.out, workers=args.workers, ray=args.ray, address=args.address,
                   resume=not args.no_resume, layer=args.layer, chunk_size=args.chunk_size, device=args.device)
    for line in _batch_summary(result.rows, result.computed, args.out):
        print(line)
    return 0


def _batch_summary(rows: Any, computed: int, out: str) -> list[str]:
    """Items and methods counted apart: one bad file failing with every method is one failed item."""
    methods = list(dict.fromkeys(row["method"] for row in rows))
    items = list(dict.fromkeys(row["key"] for row in rows))
    failed: dict[Any, list[dict]] = {}
    for row in rows:
        if row["status"] != "ok":
            failed.setdefault(row["key"], []).append(row)
    lines = [f"{_count(len(items), 'item')} x {_count(len(methods), 'method')} ({', '.join(methods)}): "
             f"{_count(len(rows), 'row')} in {out}/results.parquet",
             f"{_count(computed, 'item')} explained now; {_count(len(failed), 'item')} failed"]
    for key, bad in list(failed.items())[:10]:
        lines.append(f"  failed {key} [{', '.join(r['method'] for r in bad)}]: {bad[0]['error']}")
    return lines


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _add_batch(sub: Any) -> None:
    b = sub.add_parser("batch", help="explain every image of a folder or .npz; results in OUT/results.parquet")
    b.add_argument("source", help="a folder of images or an .npz file")
    b.add_argument("--model", required=True, help="a model file cnnvis.load opens (.pt2, TorchScript, .keras, .onnx)")
    b.add_argument("--methods", default="gradcam", help="comma-separated CAM methods (default gradcam)")
    b.add_argument("--metrics", default="", help="comma-separated: deletion, insertion")
    b.add_argument("--out", default="results", help="results folder; a rerun with the same one resumes")
    b.add_argument("--workers", type=int, default=1, help="local processes, or Ray actors with --ray/--address")
    b.add_argument("--ray", action="store_true", help="run on a local Ray cluster")
    b.add_argument("--address", help="run on an existing Ray cluster at this address")
    b.add_argument("--no-resume", action="store_true", help="start over instead of skipping finished items")
    b.add_argument("--layer", help="the layer to explain (default: the model's last spatial layer)")
    b.add_argument("--chunk-size", type=int, default=64, help="items per unit of work (default 64)")
    b.add_argument("--device", help="where a PyTorch model runs: cuda (one GPU per worker), cuda:1, cpu")
    b.set_defaults(run=_batch)


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
    _add_batch(sub)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except CnnvisError as exc:
        print(f"cnnvis: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
