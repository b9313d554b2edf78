"""``jupyter cnnvis token create NAME | list | revoke NAME``: device tokens for Jetson agents.

A token is bound to the device name it was created for: its agent connects as that device only.
The tokens live hashed in the same SQLite file the server reads, so a token revoked here closes
the agent's connection on a running server within a second.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from ..errors import CnnvisError
from ..services.device_store import DeviceStore


def _when(stamp: float | None) -> str:
    return datetime.fromtimestamp(stamp).isoformat(" ", "seconds") if stamp else "-"


def _create(store: DeviceStore, args: argparse.Namespace) -> int:
    token = store.create_token(args.name)
    print(f"Device token {args.name!r} created. It is shown only this once; on the device run", file=sys.stderr)
    print(f"  CNNVIS_AGENT_TOKEN=<token> python3 cnnvis_agent.py --server URL --name {args.name}", file=sys.stderr)
    print(f"The token is valid for device {args.name!r} only.", file=sys.stderr)
    print("or put it in a file readable only by you and pass --token-file FILE.", file=sys.stderr)
    print(token)  # alone on the last line, for scripts
    return 0


def _list(store: DeviceStore, args: argparse.Namespace) -> int:
    tokens = store.tokens()
    if not tokens:
        print("No device tokens; create one with `jupyter cnnvis token create NAME`.")
    for t in tokens:
        state = "active" if t["active"] else f"revoked {_when(t['revoked'])}"
        print(f"{t['name']:<24} created {_when(t['created'])}  last used {_when(t['last_used'])}  {state}")
    return 0


def _revoke(store: DeviceStore, args: argparse.Namespace) -> int:
    store.revoke_token(args.name)
    print(f"Device token {args.name!r} revoked; its agents are disconnected.")
    return 0


def main(argv: list[str] | None = None) -> int:
    db_help = ("the device database (default: $CNNVIS_DEVICES_DB, else cnnvis/devices.sqlite under the "
               "Jupyter data dir)")
    parser = argparse.ArgumentParser(prog="jupyter cnnvis token", description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help=db_help)
    # --db is also taken after the subcommand (`token list --db PATH`); SUPPRESS keeps one given before.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=argparse.SUPPRESS, help=db_help)
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", parents=[common], help="issue a token for one device and print it")
    create.add_argument("name", help="the device's name: the token lets an agent connect as this device only")
    create.set_defaults(run=_create)
    sub.add_parser("list", parents=[common], help="tokens, when last used, revoked or not").set_defaults(run=_list)
    revoke = sub.add_parser("revoke", parents=[common], help="revoke a token; its agents are disconnected")
    revoke.add_argument("name")
    revoke.set_defaults(run=_revoke)
    args = parser.parse_args(argv)
    try:
        return args.run(DeviceStore(args.db), args)
    except CnnvisError as exc:
        print(f"jupyter cnnvis token: {exc}", file=sys.stderr)
        return 2
