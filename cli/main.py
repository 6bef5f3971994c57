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

from cli import common as cli_common
from cli import contents as cli_contents
from cli import drill as drill_cli
from cli import local_run, tables
from cli import operate as operate_cli
from cli import restore_github as cli_restore_github
from cli import results as cli_results
from cli import selection as cli_selection
from ghbackup import exit_codes
from ghbackup.credentials import DEFAULT_API_URL, Credentials, RedactingFilter, redact
from ghbackup.errors import BackupError, ConfigurationError, InvalidInput, exit_code_for
from ghbackup.records import default_run_id

console = Console(stderr=True, soft_wrap=True)
stdout = Console(soft_wrap=True)  # what a command produces (a run's summary), for pipes


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for "continue with: ..."
    _configure_logging(args.verbose, args.quiet)
    try:
        return int(args.func(args))
    except BackupError as exc:
        if getattr(args, "json", False):
            cli_results.print_failure(exc)  # a script reading stdout learns it failed, and why
        # Escaped: a message quoting input ("repositories[1]: ...") is not rich markup, and
        # one quoting an archive's names shows their control characters, never runs them.
        message = escape(tables.printable(redact(str(exc))))
        console.print(f"[red]ghbackup: {type(exc).__name__}: {message}[/red]")
        return exc.exit_code
    except OSError as exc:
        # A file the core did not expect to fail (disk, permissions): still one line.
        where = f": {exc.filename}" if exc.filename else ""
        message = escape(tables.printable(redact(f"{exc.strerror or type(exc).__name__}{where}")))
        console.print(f"[red]ghbackup: {message}[/red]")
        return 1
    except KeyboardInterrupt:
        console.print("[red]ghbackup: interrupted[/red]")
        return exit_codes.INTERRUPTED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ghbackup",
        description="Back up GitHub repositories, gists and accounts; verify and restore.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Credentials come from GITHUB_TOKEN (or GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY\n"
        "and GITHUB_APP_INSTALLATION_ID) in the environment, never from an argument.\n\n"
        "exit codes (the same for every command):\n" + exit_codes.table(),
    )
    parser.add_argument("--version", action="version", version=f"ghbackup {_version()}")
    cli_common.add_verbosity(parser, top_level=True)
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
        "ghbackup run --local --input selection.json",
        "ghbackup run --local --org acme --out ./backups --resume run-20260101T020000Z",
        parents=[capture],
    )  # fmt: skip
    run.add_argument(
        "--local",
        action="store_true",
        help="execute it on this machine, on a local stand-in for AWS (moto); `run` has no "
        "other mode: `ghbackup start` runs a deployed stack on AWS",
    )
    cli_selection.add_arguments(run)
    local_run.add_arguments(run)
    run.set_defaults(func=_run)

    verify = _command(
        sub, "verify", "check an archive: checksums, bundles, refs, exactly as restore would",
        "ghbackup verify backups/run-1/ghbackup-run-1.zip",
        "ghbackup verify backups/run-1/ghbackup-run-1.zip --repo acme/api",
    )  # fmt: skip
    verify.add_argument(
        "zip", type=Path, metavar="ARCHIVE",
        help="a run zip (ghbackup-RUN.zip) or an item zip (item.zip) on this machine",
    )  # fmt: skip
    verify.add_argument("--repo", metavar="OWNER/NAME", help="only this repository")
    verify.add_argument("--json", action="store_true", help="the result as JSON on stdout")
    verify.set_defaults(func=_verify)

    restore = _command(
        sub, "restore", "verify, then rebuild mirrors, wiki, LFS and metadata",
        "ghbackup restore backups/run-1/ghbackup-run-1.zip --to ./restored --repo acme/api",
        "ghbackup restore ZIP --repo acme/api --to-github acme/api-restored --plan",
    )  # fmt: skip
    restore.add_argument("zip", nargs="?", help="a local zip, or s3://BUCKET/runs/R/ghbackup-R.zip")
    restore.add_argument(
        "--to", type=Path,
        help="target directory: new, empty, or one where the restored items' own paths are free",
    )  # fmt: skip
    restore.add_argument("--repo", metavar="OWNER/NAME", help="only this repository")
    restore.add_argument(
        "--push", metavar="URL", help="push the restored mirror to this (new) remote"
    )
    restore.add_argument("--json", action="store_true", help="the result as JSON on stdout")
    cli_restore_github.add_arguments(restore)
    restore.set_defaults(func=_restore)
    operate_cli.add_restore_arguments(restore)
    operate_cli.add_commands(sub)
    cli_contents.add_commands(sub)
    drill_cli.add_commands(sub)
    for command in sub.choices.values():
        cli_common.add_verbosity(command, top_level=False)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ghbackup")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


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
    _check_out_folder(args.out)  # before the capture, not after it
    credentials = Credentials.from_mapping(os.environ, api_url=args.api_url)
    client = GitHubClient(args.api_url, credentials)
    run_id = args.run_id or default_run_id()
    with _progress_bar() as report, _quiet_item_log(args.verbose):
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
    if not args.local:
        raise ConfigurationError(
            "run executes the workflow on this machine: add --local "
            "(to run a deployed stack on AWS, use `ghbackup start`)"
        )
    _check_api_url(args.api_url)
    execution_input = cli_selection.execution_input(args, _read_input)
    if args.dry_run:
        Credentials.from_mapping(os.environ, api_url=args.api_url)
        return cli_selection.dry_run(execution_input, args.api_url)
    return local_run.run_command(args, execution_input, console, stdout)


def _check_out_folder(out: Path) -> None:
    """``--out`` is a folder, or a path where one can be made: not a file, nor under one."""
    for place in (out, *out.parents):
        if place.exists():
            if not place.is_dir():
                raise ConfigurationError(f"--out {out}: {place} is a file; --out is a folder")
            return


@contextmanager
def _quiet_item_log(verbose: bool) -> Iterator[None]:
    """The capture logs its failure for the container's log; here the same failure is the
    one line printed after it, so the log line is left out (kept with -v)."""
    item_log = logging.getLogger("ghbackup.backup")
    previous = item_log.level
    if not verbose:
        item_log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        item_log.setLevel(previous)


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
    from ghbackup.restore import ArchiveDamaged, verify_archive

    damaged: ArchiveDamaged | None = None
    with _progress_bar(single=True) as report:
        try:
            result = verify_archive(args.zip, repo=args.repo, progress=report)
        except ArchiveDamaged as exc:
            damaged = exc
    # After the bar is gone: rich would route stdout through its (stderr) console.
    if damaged is not None:
        return cli_results.print_damaged(damaged, as_json=args.json)
    return cli_results.print_verified(result, as_json=args.json)


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
    return cli_results.print_restored(result, as_json=args.json)


def _new_progress(*extra: TextColumn, transient: bool = True) -> Progress:
    # Transient: a finished bar gives way to the result (left in place, its last frame is a
    # frozen spinner line; without a terminal, a blank line).
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *extra,
        TimeElapsedColumn(),
        console=console,
        transient=transient,
        disable=cli_common.quiet or not console.is_terminal,  # a pipe gets results, not frames
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


def _configure_logging(verbose: bool, quiet: bool) -> None:
    cli_common.quiet = quiet and not verbose
    handler = RichHandler(console=console, show_path=False, show_time=False)
    handler.addFilter(RedactingFilter())
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.ERROR if quiet else logging.WARNING,
        handlers=[handler],
        format="%(message)s",
    )
    for noisy in ("botocore", "urllib3", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


if __name__ == "__main__":
    sys.exit(main())
