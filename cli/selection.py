"""What to back up, as flags of ``run`` and ``start``, and ``--dry-run``.

The flags are the execution input's own fields (ghbackup/input.schema.json) and go through
its validation: ``--org acme --skip-forks`` is ``{"orgs": ["acme"], "skip_forks": true}``.
With ``--input FILE`` the flags are laid over the file's object (a flag replaces its key).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from cli import common as cli_common
from ghbackup.credentials import Credentials
from ghbackup.execution_input import validate_selection
from ghbackup.run_plan import BackupPlan, plan_backup

console = Console(stderr=True, soft_wrap=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The selection flags, ``--input`` and ``--dry-run``."""
    group = parser.add_argument_group(
        "what to back up", "With none of --org, --user, --repo: the defaults (see --dry-run)."
    )
    group.add_argument("--org", action="append", default=[], help="an organisation (repeatable)")
    group.add_argument("--user", action="append", default=[], help="a user (repeatable)")
    group.add_argument(
        "--repo", action="append", default=[], metavar="OWNER/NAME",
        help="a repository (repeatable)",
    )  # fmt: skip
    group.add_argument(
        "--include", metavar="REGEX",
        help="keep only listed repositories whose owner/name matches (RE2 syntax)",
    )  # fmt: skip
    group.add_argument(
        "--exclude", metavar="REGEX",
        help="leave out listed repositories whose owner/name matches (RE2 syntax)",
    )  # fmt: skip
    group.add_argument("--skip-forks", action="store_true", help="leave out forks")
    group.add_argument("--skip-archived", action="store_true", help="leave out archived ones")
    group.add_argument(
        "--input", type=Path, metavar="FILE",
        help="a JSON execution input (the flags above replace the keys they set)",
    )  # fmt: skip
    group.add_argument(
        "--dry-run", action="store_true",
        help="list what would be backed up (items, sizes, batches) from GitHub; "
        "write and start nothing",
    )  # fmt: skip


def execution_input(args: argparse.Namespace, read_input: Callable[[Path], Any]) -> Any:
    """The execution input the flags (over ``--input``) describe, validated as the state
    machine's first step validates it (InvalidInput naming the field)."""
    data: Any = read_input(args.input) if args.input else {}
    if not isinstance(data, dict):
        return validate_selection(data)  # names what is wrong with it
    flags: dict[str, Any] = {
        "orgs": args.org,
        "users": args.user,
        "repositories": args.repo,
        "include": args.include,
        "exclude": args.exclude,
        "skip_forks": args.skip_forks or None,
        "skip_archived": args.skip_archived or None,
    }
    data = {**data, **{key: value for key, value in flags.items() if value}}
    return validate_selection(data)


def dry_run(selection: Any, api_url: str, defaults: dict[str, Any] | None = None) -> int:
    """Ask GitHub what ``selection`` (over ``defaults``) means and print it: one line per
    item (batch, item, GitHub's size), then the totals. Writes nothing."""
    from ghbackup.github import GitHubClient

    credentials = Credentials.from_mapping(os.environ, api_url=api_url)
    client = GitHubClient.from_credentials(api_url, credentials)
    if cli_common.quiet:
        plan = plan_backup(client, selection, defaults)
    else:
        with console.status(f"asking {api_url} what the selection holds"):
            plan = plan_backup(client, selection, defaults)
    print_plan(plan)
    return 0


def print_plan(plan: BackupPlan) -> None:
    """Tab-separated lines ``batch, item key, bytes`` (empty when GitHub gives no size),
    then one summary line."""
    batch_of: dict[int, int] = {}
    for batch in plan.batches:
        for index in range(batch.first, batch.first + batch.count):
            batch_of[index] = batch.batch
    for index, item in enumerate(plan.items):
        size = plan.sizes.get(item.key)
        print(f"{batch_of.get(index, '')}\t{item.key}\t{'' if size is None else size}")
    kinds = ", ".join(_count(n, noun) for noun, n in plan.counts().items() if n)
    print(
        f"would back up {_count(len(plan.items), 'item')}"
        + (f" ({kinds})" if kinds else "")
        + f", {plan.known_bytes:,} bytes of repositories by GitHub's sizes, in "
        f"{_count(len(plan.batches), 'batch')}; nothing was written"
    )


def _count(n: int, noun: str) -> str:
    plural = {"repository": "repositories", "batch": "batches"}.get(noun, noun + "s")
    return f"{n:,} {noun if n == 1 else plural}"
