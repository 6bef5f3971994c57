"""``ghbackup restore ARCHIVE --repo OWNER/NAME --to-github NEW_OWNER/NEW_NAME``: the flags
and the handler, kept apart from cli.py's other commands."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from cli import common as cli_common
from ghbackup.credentials import DEFAULT_API_URL, Credentials
from ghbackup.errors import ConfigurationError
from ghbackup.wording import counted


def add_arguments(restore: argparse.ArgumentParser) -> None:
    restore.add_argument(
        "--to-github",
        metavar="NEW_OWNER/NEW_NAME",
        help="restore --repo to this GitHub repository: git, LFS, wiki, issues, pulls, releases",
    )
    restore.add_argument(
        "--api-url", default=os.environ.get("GITHUB_API_URL", DEFAULT_API_URL),
        help="the GitHub API --to-github writes to, and where GitHub App credentials for "
        "--push get their token (default $GITHUB_API_URL or https://api.github.com; "
        "GitHub Enterprise: https://HOST/api/v3)",
    )  # fmt: skip
    restore.add_argument(
        "--plan",
        action="store_true",
        help="print what would be created and how long; write nothing",
    )
    closed = restore.add_mutually_exclusive_group()
    closed.add_argument(
        "--include-closed", dest="include_closed", action="store_true", default=True,
        help="restore closed issues and pull requests too (default)",
    )  # fmt: skip
    closed.add_argument(
        "--open-only", dest="include_closed", action="store_false",
        help="restore open ones only (closed ones keep their numbers as closed placeholders)",
    )  # fmt: skip
    restore.add_argument(
        "--journal", type=Path, help="the resumable journal (default: beside the archive)"
    )
    restore.add_argument(
        "--into-existing", action="store_true", help="restore into a target that has content"
    )
    restore.add_argument(
        "--protection", action="store_true", help="apply branch protection (can lock you out)"
    )


def run(args: argparse.Namespace, console: Console) -> int:
    from ghbackup.github_writes import GitHubWriter
    from ghbackup.restore_github import restore_to_github

    if not args.repo:
        raise ConfigurationError("--to-github needs --repo OWNER/NAME: the repository to restore")
    credentials = Credentials.from_mapping(os.environ, api_url=args.api_url)
    client = GitHubWriter(args.api_url, credentials)
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=console,
        transient=True,  # the summary below stays; an error stays one line
        disable=cli_common.quiet,
    )
    tasks: dict[int | None, Any] = {}

    def report(step: str, advance: int, total: int | None) -> None:
        # Verifying counts archive bytes, restoring counts writes: one bar for each.
        if total not in tasks:
            for task in tasks.values():
                progress.update(task, visible=False)
            tasks[total] = progress.add_task(step, total=total)
        progress.update(tasks[total], description=step, advance=advance)

    with progress:
        result = restore_to_github(
            args.zip,
            args.repo,
            args.to_github,
            client,
            credentials,
            journal_path=args.journal,
            plan_only=args.plan,
            include_closed=args.include_closed,
            into_existing=args.into_existing,
            protection=args.protection,
            progress=report,
        )
    # The result on stdout, diagnostics (refs left behind, warnings) on stderr.
    if args.json:
        data = {"ok": True, "source": args.repo, "planned_only": args.plan, **asdict(result)}
        print(json.dumps(data, indent=2))
    elif args.plan:
        print(f"plan {args.repo} -> {args.to_github} (nothing written):")
        for what, n in result.plan.items():
            print(f"  {n:6d} writes  {what}")
        print(
            f"  {sum(result.plan.values()):6d} writes in all ({result.estimated_requests} "
            f"requests), about {_duration(result.estimated_seconds)} under GitHub's content-creation "
            "limits (80 a minute, 500 an hour)"
        )
    else:
        made = ", ".join(f"{n} {what}" for what, n in result.created.items()) or "nothing new"
        print(
            f"restored {args.repo} -> {args.to_github}: {made}; "
            f"{counted(result.writes, 'write')}, {counted(result.requests, 'request')} in "
            f"{result.seconds:.0f}s"
        )
    if result.local_refs:
        console.print(
            f"  {len(result.local_refs)} refs GitHub does not accept stay in the archive "
            f"(e.g. {result.local_refs[0]})"
        )
    for warning in result.warnings:
        console.print(f"[yellow]  {warning}[/yellow]")
    return 0


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 2:
        return f"{seconds:.0f} s"
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"
