"""``python -m tests.standin serve ...``: run a stand-in until SIGTERM/SIGINT.

Prints one JSON line when ready (api_url, login, owner, ca_bundle; the token only with
--print-token, so it is not left in logs by accident).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from tests.standin import AccountSpec, GitHubStandIn


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.standin")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve a generated account")
    serve.add_argument("--owner", default="acme")
    serve.add_argument("--owner-type", default="Organization", choices=["Organization", "User"])
    serve.add_argument("--repositories", type=int, default=50)
    serve.add_argument("--seed", type=int, default=1)
    serve.add_argument("--gists", type=int, default=2)
    serve.add_argument("--no-lfs", action="store_true")
    serve.add_argument("--tls", action="store_true")
    serve.add_argument("--port", type=int, default=0)
    serve.add_argument("--root", type=Path, required=True)
    serve.add_argument("--print-token", action="store_true")
    args = parser.parse_args(argv)

    spec = AccountSpec(
        owner=args.owner,
        owner_type=args.owner_type,
        repositories=args.repositories,
        seed=args.seed,
        gists=args.gists,
        lfs=not args.no_lfs,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with GitHubStandIn(root=args.root, account=spec, tls=args.tls, port=args.port) as gh:
        ready = {
            "api_url": gh.api_url,
            "login": gh.login,
            "owner": gh.owner,
            "ca_bundle": str(gh.ca_bundle_path) if gh.ca_bundle_path else None,
        }
        if args.print_token:
            ready["token"] = gh.token
        sys.stdout.write(json.dumps(ready) + "\n")
        sys.stdout.flush()
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
