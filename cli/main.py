"""The ghbackup command: back up one item, run the whole workflow locally, verify, restore,
and operate a deployed stack (cli/operate.py).

Credentials come from the environment only (GITHUB_TOKEN, or GITHUB_APP_ID +
GITHUB_APP_PRIVATE_KEY + GITHUB_APP_INSTALLATION_ID): never from an argument, which
every user of the machine could read in the process list.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from cli import drill as drill_cli
from cli import operate as operate_cli
from cli import restore_github as cli_restore_github
from ghbackup.credentials import DEFAULT_API_URL, Credentials, RedactingFilter, redact
from ghbackup.errors import BackupError, ConfigurationError, InvalidInput, exit_code_for
from ghbackup.records import default_run_id

console = Console(stderr=True, soft_wrap=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    try:
        return int(args.func(args))
    except BackupError as exc:
        # Escaped: a message quoting input ("repositories[1]: ...") is not rich markup.
        message = escape(redact(str(exc)))
        console.print(f"[red]ghbackup: {type(exc).__name__}: {message}[/red]")
        return exc.exit_code
    except OSError as exc:
        # A file the core did not expect to fail (disk, permissions): still one line.
        where = f": {exc.filename}" if exc.filename else ""
        message = escape(redact(f"{exc.strerror or type(exc).__name__}{where}"))
        console.print(f"[red]ghbackup: {message}[/red]")
        return 1
    except KeyboardInterrupt:
        console.print("[red]ghbackup: interrupted[/red]")
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ghbackup",
        description="Back up GitHub repositories, gists and accounts; verify and restore.",
        epilog="Credentials come from GITHUB_TOKEN (or GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY "
        "and GITHUB_APP_INSTALLATION_ID) in the environment, never from an argument.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    # What backup-item and run share: where it goes, which GitHub, which run.
    capture = argparse.ArgumentParser(add_help=False)
    capture.add_argument(
        "--out", type=Path, default=Path("backups"), help="output directory (default ./backups)"
    )
    capture.add_argument(
        "--api-url",
        default=os.environ.get("GITHUB_API_URL", DEFAULT_API_URL),
        help="the GitHub API (default $GITHUB_API_URL or https://api.github.com)",
    )
    capture.add_argument("--run-id", default=None, help="the run id (default: run-<UTC timestamp>)")

    item = _command(
        sub, "backup-item", "back up one repository, gist or account into a zip",
        "ghbackup backup-item --repo acme/api --out ./backups",
        "ghbackup backup-item --gist aa5a315d61ae9438b18d", parents=[capture],
    )  # fmt: skip
    what = item.add_mutually_exclusive_group(required=True)
    what.add_argument("--repo", metavar="OWNER/NAME", help="a repository")
    what.add_argument("--gist", metavar="ID", help="a gist")
    what.add_argument(
        "--account", metavar="LOGIN", help="an account's stars, follows and gists list"
    )
    what.add_argument("--item", metavar="JSON", help="an item as the workflow sends it")
    item.set_defaults(func=_backup_item)

    run = _command(
        sub, "run", "run the whole backup workflow (the state machine) on this machine",
        "ghbackup run --local --org acme --out ./backups",
        "ghbackup run --local --input selection.json", parents=[capture],
    )  # fmt: skip
    run.add_argument(
        "--local", action="store_true", required=True, help="execute it on this machine"
    )
    run.add_argument("--org", action="append", default=[], help="an organisation (repeatable)")
    run.add_argument("--user", action="append", default=[], help="a user (repeatable)")
    run.add_argument(
        "--repo", action="append", default=[], help="a repository owner/name (repeatable)"
    )
    run.add_argument("--input", type=Path, help="a JSON execution input file instead of the flags")
    run.set_defaults(func=_run)

    verify = _command(
        sub, "verify", "check an archive: checksums, bundles, refs, exactly as restore would",
        "ghbackup verify backups/run-1/ghbackup-run-1.zip",
        "ghbackup verify backups/run-1/ghbackup-run-1.zip --repo acme/api",
    )  # fmt: skip
    verify.add_argument("zip", type=Path)
    verify.add_argument("--repo", metavar="OWNER/NAME", help="only this repository")
    verify.set_defaults(func=_verify)

    restore = _command(
        sub, "restore", "verify, then rebuild mirrors, wiki, LFS and metadata",
        "ghbackup restore backups/run-1/ghbackup-run-1.zip --to ./restored --repo acme/api",
        "ghbackup restore ZIP --repo acme/api --to-github acme/api-restored --plan",
    )  # fmt: skip
    restore.add_argument("zip", nargs="?", help="a local zip, or s3://BUCKET/runs/R/ghbackup-R.zip")
    restore.add_argument("--to", type=Path, help="target directory (must not exist or be empty)")
    restore.add_argument("--repo", metavar="OWNER/NAME", help="only this repository")
    restore.add_argument(
        "--push", metavar="URL", help="push the restored mirror to this (new) remote"
    )
    cli_restore_github.add_arguments(restore)
    restore.set_defaults(func=_restore)
    operate_cli.add_restore_arguments(restore)
    operate_cli.add_commands(sub)
    drill_cli.add_commands(sub)
    return parser


def _command(
    sub: Any, name: str, summary: str, *examples: str, parents: Sequence[Any] = ()
) -> argparse.ArgumentParser:
    """A subcommand whose --help ends with example lines."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=summary,
        description=summary[0].upper() + summary[1:] + ".",
        parents=list(parents),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n" + "".join(f"  {line}\n" for line in examples),
    )
    return parser


def _backup_item(args: argparse.Namespace) -> int:
    from ghbackup.backup import backup_item
    from ghbackup.github import GitHubClient
    from ghbackup.records import BackupItem
    from ghbackup.store import DirectoryDestination

    if args.item:
        item = BackupItem.from_json(args.item)
    elif args.repo:
        item = BackupItem.from_json({"kind": "repository", "full_name": args.repo})
    elif args.gist:
        item = BackupItem.from_json({"kind": "gist", "id": args.gist})
    else:
        item = BackupItem.from_json({"kind": "account", "login": args.account})
    _check_api_url(args.api_url)
    credentials = Credentials.from_mapping(os.environ, api_url=args.api_url)
    client = GitHubClient(args.api_url, credentials)
    run_id = args.run_id or default_run_id()
    with _progress_bar() as report:
        result = backup_item(
            item, client, DirectoryDestination(args.out), run_id=run_id, progress=report
        )
    if result.status != "succeeded":
        console.print(f"[red]ghbackup: {item.key}: {result.error_type}: {result.error}[/red]")
        return exit_code_for(result.error_type)
    console.print(
        f"[green]{item.key}[/green]: {result.zip_bytes:,} bytes, {result.github_requests} GitHub requests "
        f"-> {result.zip_key}"
    )
    for what, why in sorted(result.skipped.items()):
        console.print(f"  skipped {what}: {why}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from workflow.local_runner import run_local

    _check_api_url(args.api_url)
    if args.input:
        execution_input: Any = _read_input(args.input)
    else:
        execution_input = {}
        for key, values in (("orgs", args.org), ("users", args.user), ("repositories", args.repo)):
            if values:
                execution_input[key] = values
    Credentials.from_mapping(
        os.environ, api_url=args.api_url
    )  # fail early, before any server starts
    run_id = args.run_id or default_run_id()
    # Transient: the bar gives way to the summary, or to the one line that says what failed.
    progress = _new_progress(TextColumn("{task.fields[failed]} failed"), transient=True)
    with progress:
        task = progress.add_task(f"run {run_id}", total=None, failed=0)

        def report(done: int, failed: int, total: int) -> None:
            progress.update(task, completed=done, total=total or None, failed=failed)

        outcome = run_local(
            execution_input,
            out_dir=args.out,
            github_api_url=args.api_url,
            progress=report,
            run_id=run_id,
        )
    if outcome.notification is not None:
        console.print(f"[bold]SNS message[/bold]: {outcome.notification.subject or ''}")
        print(outcome.notification.message or "")
    for path in outcome.files:
        console.print(f"  {path}")
    if outcome.status != "SUCCEEDED":
        console.print(
            f"[red]ghbackup: run {run_id} {outcome.status}: {outcome.error}: "
            f"{escape(redact(str(outcome.cause or '')))[:300]}[/red]"
        )
        return 1
    # The run's own status, from the manifest it stored (the published text may be cut).
    status = outcome.summary.status if outcome.summary is not None else "FAILED"
    colour = {"SUCCEEDED": "green", "PARTIAL": "yellow"}.get(status, "red")
    console.print(f"[{colour}]run {run_id}: {status}[/{colour}]")
    return {"SUCCEEDED": 0, "PARTIAL": 3}.get(status, 1)


def _check_api_url(url: str) -> None:
    """An http(s) URL with a host, or one line saying it is not (before anything starts)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        scheme, host = parts.scheme, parts.hostname
    except ValueError:  # an unparsable port or IPv6 literal
        scheme, host = "", None
    if scheme not in ("https", "http") or not host or any(c.isspace() for c in url):
        raise ConfigurationError(
            f"--api-url {url!r} is not an http(s) URL with a host, "
            "e.g. https://api.github.com or https://HOST/api/v3"
        )


def _read_input(path: Path) -> Any:
    """The JSON of ``--input``; a missing file or bad JSON is one line naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"--input {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"--input {path} is not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"--input {path} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None


def _verify(args: argparse.Namespace) -> int:
    from ghbackup.restore import verify_archive

    with _progress_bar(single=True) as report:
        result = verify_archive(args.zip, repo=args.repo, progress=report)
    console.print(
        f"[green]verified[/green] {args.zip}: {len(result.items)} items, {result.files} files, "
        f"{result.bytes:,} bytes, {result.bundles} bundles, {result.lfs_objects} LFS objects "
        f"in {result.seconds:.1f}s"
    )
    return 0


def _restore(args: argparse.Namespace) -> int:
    from ghbackup.push import needs_credentials
    from ghbackup.restore import restore_archive

    if operate_cli.is_remote_restore(args):
        args.zip = operate_cli.fetch_for_restore(args)
    elif not args.zip:
        raise ConfigurationError("what to restore? a zip, an s3:// URL or --run RUN")
    if args.to_github:
        args.zip = Path(args.zip)
        return cli_restore_github.run(args, console)
    if args.to is None:
        raise ConfigurationError("restore needs --to DIR, or --to-github OWNER/NAME")
    push_credentials = (
        Credentials.from_mapping(os.environ, api_url=args.api_url)
        if args.push and needs_credentials(args.push)
        else None
    )
    with _progress_bar(single=True) as report:
        result = restore_archive(
            Path(args.zip),
            args.to,
            repo=args.repo,
            push_url=args.push,
            push_credentials=push_credentials,
            progress=report,
        )
    console.print(
        f"[green]restored[/green] {len(result.items)} items into {result.target}: "
        f"{len(result.mirrors)} git mirrors, {result.files} files, {result.lfs_objects} LFS objects"
        + (f", pushed to {result.pushed_to}" if result.pushed_to else "")
    )
    for mirror in result.mirrors:
        console.print(f"  {mirror}")
    return 0


def _new_progress(*extra: TextColumn, transient: bool = False) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *extra,
        TimeElapsedColumn(),
        console=console,
        transient=transient,
    )


@contextmanager
def _progress_bar(single: bool = False) -> Iterator[Callable[[str, int, int | None], None]]:
    """Rich progress; the core calls report(phase, advance, total). ``single``: one bar
    whose description follows the phase (verify and restore report bytes of one total);
    otherwise one bar per phase (a capture's phases count different things)."""
    progress = _new_progress()
    tasks: dict[str, Any] = {}

    def report(phase: str, advance: int, total: int | None) -> None:
        key = "all" if single else phase
        if key not in tasks:
            tasks[key] = progress.add_task(phase, total=total)
        progress.update(
            tasks[key], description=phase, advance=advance, **({"total": total} if total else {})
        )

    with progress:
        yield report


def _configure_logging(verbose: bool) -> None:
    handler = RichHandler(console=console, show_path=False, show_time=False)
    handler.addFilter(RedactingFilter())
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        handlers=[handler],
        format="%(message)s",
    )
    for noisy in ("botocore", "urllib3", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


if __name__ == "__main__":
    sys.exit(main())
