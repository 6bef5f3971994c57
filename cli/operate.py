"""The CLI commands that operate a deployed stack: configure, start, watch, runs, show, get,
cost, and ``restore`` from a run in S3. ``cli.main`` registers them; the work is in
``ghbackup.operate``, ``ghbackup.deployment`` and ``ghbackup.cost``."""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

from cli import common as cli_common
from cli import cost as cli_cost
from cli import selection as cli_selection
from cli import tables
from ghbackup import executions, glacier, operate
from ghbackup.credentials import DEFAULT_API_URL
from ghbackup.deployment import (
    Deployment,
    aws_errors,
    deployment_from_arguments,
    deployment_from_terraform,
    resolve_deployment,
    stack_defaults,
    write_config,
)
from ghbackup.errors import BackupError, ConfigurationError
from ghbackup.records import default_run_id
from ghbackup.wording import counted

console = Console(stderr=True, soft_wrap=True)
# Tests replace these to run without waiting.
sleep: Callable[[float], None] = time.sleep
clock: Callable[[], float] = time.monotonic

RAW = argparse.RawDescriptionHelpFormatter


def _deployment_args(parent: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parent = parent or argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--bucket", help="backup bucket (default: $GHBACKUP_BUCKET, then the config file)"
    )
    parent.add_argument(
        "--state-machine",
        metavar="ARN",
        help="state machine (default: $GHBACKUP_STATE_MACHINE_ARN, then the config file)",
    )
    return parent


def _get_args(parent: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parent = parent or argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--tier", choices=glacier.TIERS, default=glacier.DEFAULT_TIER,
        help="Glacier retrieval tier for the restore request (default Standard)",
    )  # fmt: skip
    parent.add_argument(
        "--days", type=int, default=glacier.DEFAULT_RESTORE_DAYS,
        help="how many days the restored copy stays readable (default 7)",
    )  # fmt: skip
    parent.add_argument(
        "--wait", action="store_true",
        help="poll until the restore is done instead of exiting 75",
    )  # fmt: skip
    return parent


def _deployment(args: argparse.Namespace) -> Deployment:
    return resolve_deployment(getattr(args, "bucket", None), getattr(args, "state_machine", None))


def add_commands(sub: Any) -> None:
    """Register the operating commands on the ``ghbackup`` subparsers."""
    deployment = _deployment_args()

    configure = sub.add_parser(
        "configure", help="remember which deployed stack to use", formatter_class=RAW,
        description="Write the bucket and state machine of a deployed stack to "
        "$XDG_CONFIG_HOME/ghbackup/config.json (default ~/.config/ghbackup/).",
        epilog="examples:\n  ghbackup configure --from-terraform terraform/examples/complete\n"
        "  ghbackup configure --bucket acme-backups \\\n"
        "      --state-machine arn:aws:states:eu-west-1:123456789012:stateMachine:ghbackup\n",
    )  # fmt: skip
    configure.add_argument(
        "--from-terraform", metavar="DIR", type=Path,
        help="a directory where `terraform output -json` shows bucket_name and state_machine_arn",
    )  # fmt: skip
    configure.add_argument("--bucket", help="the backup bucket of a stack deployed elsewhere")
    configure.add_argument(
        "--state-machine", metavar="ARN", help="its state machine (with --bucket)"
    )
    configure.set_defaults(func=_configure)

    start = sub.add_parser(
        "start", parents=[deployment], help="start a backup run on AWS", formatter_class=RAW,
        description="Start an execution of the deployed state machine (its name is the run "
        "id) and print the run id. With no --org, --user or --repo the run backs up the "
        "stack's defaults (its default_input), which start prints first.",
        epilog="examples:\n  ghbackup start --org acme --wait\n"
        "  ghbackup start --org acme --skip-forks --exclude '^acme/archive-' --dry-run\n"
        "  ghbackup start --repo acme/api --repo acme/web --run-id run-api-fix\n"
        "  ghbackup start --input selection.json\n",
    )  # fmt: skip
    cli_selection.add_arguments(start)
    start.add_argument(
        "--api-url", default=os.environ.get("GITHUB_API_URL", DEFAULT_API_URL),
        help="the GitHub API --dry-run asks, with GITHUB_TOKEN from this environment "
        "(default $GITHUB_API_URL or https://api.github.com)",
    )  # fmt: skip
    start.add_argument("--run-id", help="the execution name (default: run-<UTC timestamp>)")
    start.add_argument("--wait", action="store_true", help="watch the run until it ends")
    start.add_argument("--json", action="store_true", help="print the run id and ARN as JSON")
    start.set_defaults(func=_start)

    watch = sub.add_parser(
        "watch", parents=[deployment], help="follow a run until it ends", formatter_class=RAW,
        description="Exit codes as `run --local`: 0 SUCCEEDED, 3 PARTIAL, 1 FAILED "
        "(all codes: `ghbackup --help`).",
        epilog="examples:\n  ghbackup watch run-20261201T100000Z\n",
    )  # fmt: skip
    watch.add_argument("run_id", metavar="RUN")
    watch.set_defaults(func=_watch)

    runs = sub.add_parser(
        "runs", parents=[deployment], help="list the runs in the bucket", formatter_class=RAW,
        description="The newest runs first: status, items that succeeded and failed, bytes, "
        "and where the run zip is (its storage class, and until when a Glacier copy is "
        "readable). On a terminal a table that fits its width; in a pipe one tab-separated "
        "line per run: run, started, status, ok, failed, bytes, class, run zip.",
        epilog="examples:\n  ghbackup runs\n  ghbackup runs | grep FAILED\n"
        "  ghbackup runs --limit 3 --json\n",
    )  # fmt: skip
    runs.add_argument("--limit", type=int, default=20, help="newest N runs (default 20)")
    runs.add_argument("--json", action="store_true", help="one JSON array on stdout")
    runs.set_defaults(func=_runs)

    show = sub.add_parser(
        "show", parents=[deployment], help="per item of a run: status, bytes, errors, skips",
        formatter_class=RAW,
        description="One run's items, read from its run manifest: status, bytes, the error "
        "of a failed item and what was skipped. On a terminal a table that fits its width; "
        "in a pipe one tab-separated line per item: item, status, bytes, error, skipped.",
        epilog="examples:\n  ghbackup show run-20261201T100000Z\n"
        "  ghbackup show run-20261201T100000Z | grep failed\n"
        "  ghbackup show run-20261201T100000Z --json\n",
    )  # fmt: skip
    show.add_argument("run_id", metavar="RUN")
    show.add_argument("--json", action="store_true", help="the rows as JSON on stdout")
    show.set_defaults(func=_show)

    get = sub.add_parser(
        "get", parents=[deployment, _get_args()], formatter_class=RAW,
        help="get a repository (or a whole run) back out of S3 / Glacier",
        description="A run zip in GLACIER or DEEP_ARCHIVE must be restored by S3 first. The "
        "first call requests that restore and exits 75 (run the same command later); a "
        "restore in progress is reported, never requested twice. Expected waits: GLACIER "
        "Expedited 1-5 min (objects under 250 MB), Standard 3-5 h, Bulk 5-12 h; "
        "DEEP_ARCHIVE Standard up to 12 h, Bulk up to 48 h.",
        epilog="examples:\n"
        "  ghbackup get run-20261201T100000Z --repo acme/api --out ./got\n"
        "  ghbackup get run-20261201T100000Z --repo acme/api --tier Bulk --wait\n"
        "  ghbackup get run-20261201T100000Z --out ./got          # the whole run zip\n"
        "  ghbackup get --latest --repo acme/api                  # warm copy, no restore\n"
        "\nexit codes: 0 done, 75 restore in progress (run it again later); the others as\n"
        "for every command (`ghbackup --help`)\n",
    )  # fmt: skip
    get.add_argument("run_id", metavar="RUN", nargs="?")
    what = get.add_mutually_exclusive_group()
    what.add_argument("--repo", metavar="OWNER/NAME", help="only this repository")
    what.add_argument("--item", metavar="KEY", help="only this item (e.g. gist/abc123)")
    get.add_argument("--latest", action="store_true", help="the warm copy of --repo, no run id")
    get.add_argument(
        "--out", type=Path, default=Path("restores"), help="directory (default ./restores)"
    )
    get.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    get.set_defaults(func=_get)

    cli_cost.add_command(sub, parents=[deployment])


def add_restore_arguments(restore: argparse.ArgumentParser) -> None:
    """What ``restore`` needs to take a run from S3 instead of a local zip."""
    restore.add_argument("--run", metavar="RUN", help="restore from this run in the bucket")
    _deployment_args(restore)
    _get_args(restore)
    restore.epilog = (restore.epilog or "examples:\n") + (
        "  ghbackup restore s3://my-backups/runs/run-1/ghbackup-run-1.zip --repo acme/api --to ./restored\n"
        "  ghbackup restore --run run-1 --repo acme/api --to ./restored --wait\n"
    )
    restore.formatter_class = RAW


def is_remote_restore(args: argparse.Namespace) -> bool:
    return bool(args.run) or str(args.zip or "").startswith("s3://")


def fetch_for_restore(args: argparse.Namespace) -> Path:
    """``restore s3://...`` / ``restore --run R``: get the repository's zip (or the whole
    run) into a folder beside the target; returns the local zip to restore from."""
    if args.run and args.zip:
        raise ConfigurationError("give either an s3:// URL or --run, not both")
    bucket = args.bucket
    run_id = args.run
    if args.zip:
        bucket, run_id = operate.parse_s3_run_url(str(args.zip))
    deployment = resolve_deployment(bucket, args.state_machine)
    beside = Path(args.to).resolve().parent if args.to else Path.cwd()  # --to-github: here
    out = beside / f".ghbackup-get-{run_id}"
    path = _fetch(deployment, run_id, args.repo, None, out, args)
    console.print(f"fetched {path} ({path.stat().st_size:,} bytes; delete it when done)")
    return path


def _fetch(
    deployment: Deployment,
    run_id: str,
    repo: str | None,
    item: str | None,
    out: Path,
    args: argparse.Namespace,
) -> Path:
    if args.days < 1:
        raise ConfigurationError("--days must be at least 1")
    bucket = deployment.require_bucket()
    s3 = deployment.client("s3")
    options = operate.GetOptions(tier=args.tier, days=args.days, wait=args.wait)
    report = _report
    with aws_errors("get"):
        if repo or item:
            return operate.get_item(s3, bucket, run_id, operate.item_key_for(repo, item), out,
                                    options, report=report, sleep=sleep, clock=clock)  # fmt: skip
        with _byte_progress("run zip") as bar:
            return operate.get_run(s3, bucket, run_id, out, options, report=report,
                                   progress=bar.update, sleep=sleep, clock=clock)  # fmt: skip


def _report(message: str) -> None:
    console.print(message)


class _LazyBar:
    """A rich progress bar shown from its first update, so a command that ends before
    anything moves (a restore still in progress, an unknown run) prints only its message."""

    def __init__(self, label: str, *columns: Any, **fields: Any) -> None:
        self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), *columns,
                            TimeElapsedColumn(), console=console,
                            disable=cli_common.quiet)  # fmt: skip
        self.label, self.fields = label, fields
        self.task: Any = None

    def update(self, completed: int, total: int | None, **fields: Any) -> None:
        if self.task is None:
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=total, **self.fields)
        self.bar.update(self.task, completed=completed, total=total, **fields)

    def __enter__(self) -> _LazyBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.task is not None:
            self.bar.stop()


def _byte_progress(label: str) -> _LazyBar:
    return _LazyBar(label, DownloadColumn(), TransferSpeedColumn())


# --------------------------------------------------------------------------- handlers


def _configure(args: argparse.Namespace) -> int:
    if args.from_terraform and (args.bucket or args.state_machine):
        raise ConfigurationError("give either --from-terraform DIR or --bucket and --state-machine")
    if args.from_terraform:
        deployment = deployment_from_terraform(args.from_terraform)
    elif args.bucket and args.state_machine:
        deployment = deployment_from_arguments(args.bucket, args.state_machine)
    else:
        raise ConfigurationError(
            "configure needs --from-terraform DIR, or both --bucket B and --state-machine ARN"
        )
    path = write_config(deployment)
    console.print(f"[green]configured[/green] {path}")
    print(f"bucket: {deployment.bucket}\nstate machine: {deployment.state_machine_arn}")
    return 0


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigurationError(f"{path}: not readable JSON: {exc}") from None


def _start(args: argparse.Namespace) -> int:
    execution_input = cli_selection.execution_input(args, _read_json)
    deployment = _deployment(args)
    machine = deployment.require_state_machine()
    defaults = _say_what_defaults_mean(deployment, execution_input, dry_run=args.dry_run)
    if args.dry_run:
        return cli_selection.dry_run(execution_input, args.api_url, defaults)
    run_id = args.run_id or default_run_id()
    with aws_errors("start"):
        arn = executions.start_run(
            deployment.client("stepfunctions"), machine, execution_input, run_id
        )
    if args.json:
        print(
            json.dumps(
                {"run_id": run_id, "execution_arn": arn, "console_url": executions.console_url(arn)}
            )
        )
    else:
        print(run_id)
        console.print(f"started run [bold]{run_id}[/bold]\n  {executions.console_url(arn)}")
    if args.wait:
        return _watch_execution(deployment, arn)
    return 0


def _say_what_defaults_mean(
    deployment: Deployment, execution_input: Any, *, dry_run: bool
) -> dict[str, Any]:
    """With no target in the input, say on stderr (before anything starts) what ``{}`` means
    for this stack. Returns its defaults, read when needed ({} when unreadable)."""
    names_targets = any(execution_input.get(key) for key in ("orgs", "users", "repositories"))
    if names_targets and not dry_run:
        return {}
    try:
        defaults = stack_defaults(deployment)
    except BackupError as exc:
        if not names_targets:
            console.print(
                "no --org, --user or --repo: the run backs up this stack's defaults (its "
                f"default_input), which could not be read ({exc}); an empty default means "
                "the GitHub account of the stack's credential"
            )
        return {}
    if not names_targets:
        targets = {k: v for k, v in defaults.items() if k in ("orgs", "users", "repositories")}
        meaning = (
            json.dumps(targets)
            if targets
            else "the GitHub account of the stack's credential (its repositories, gists "
            "and account)"
        )
        console.print(
            f"no --org, --user or --repo: the run backs up this stack's defaults: {meaning}"
        )
    return defaults


def _watch(args: argparse.Namespace) -> int:
    deployment = _deployment(args)
    operate.check_run_id(args.run_id)
    arn = executions.execution_arn(deployment.require_state_machine(), args.run_id)
    return _watch_execution(deployment, arn)


def _watch_execution(deployment: Deployment, arn: str) -> int:
    run_id = arn.rsplit(":", 1)[-1]
    bar = _LazyBar(f"run {run_id}", MofNCompleteColumn(), TextColumn("{task.fields[failed]} failed"),
                   failed=0)  # fmt: skip

    def progress(found: executions.RunProgress) -> None:
        bar.update(found.done, found.total or None, failed=found.failed)

    with aws_errors("watch"), bar:
        status, manifest = executions.watch_run(
            deployment.client("stepfunctions"),
            deployment.client("s3") if deployment.bucket else None,
            deployment.bucket,
            arn,
            progress=progress,
            sleep=sleep,
        )
    if manifest is None:
        console.print(f"[red]run {run_id}: execution {status}, no run manifest[/red]")
        return 1
    summary_status = manifest.status
    colour = {"SUCCEEDED": "green", "PARTIAL": "yellow"}.get(summary_status, "red")
    counts = manifest.counts
    console.print(
        f"[{colour}]run {run_id}: {summary_status}[/{colour}]: {counts.succeeded:,} of "
        f"{counted(counts.total, 'item')}, {counted(manifest.bytes, 'byte')}"
    )
    for line in manifest.items:
        if line.status != "succeeded":
            console.print(f"  failed {line.item_key}: {line.error_type}: {line.error}")
    return executions.run_exit_code(manifest)


def _runs(args: argparse.Namespace) -> int:
    deployment = _deployment(args)
    bucket = deployment.require_bucket()
    with aws_errors("runs"):
        rows = operate.run_rows(deployment.client("s3"), bucket, limit=args.limit)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        console.print(f"no runs in s3://{bucket}")
        return 0
    columns = (
        tables.Column("run"), tables.Column("started", keep=60), tables.Column("status"),
        tables.Column("ok", keep=70, right=True), tables.Column("failed", keep=80, right=True),
        tables.Column("bytes", keep=50, right=True), tables.Column("class", keep=40),
        tables.Column("run zip", keep=30, wrap=True), tables.Column("proven", keep=45),
    )  # fmt: skip
    lines = []
    for row in rows:
        archive = row["archive"]
        if row["readable_until"]:
            archive += f" until {row['readable_until']}"
        lines.append([
            row["run_id"], (row["started_at"] or "")[:16].replace("T", " "), row["status"],
            _num(row["succeeded"]), _num(row["failed"]), _num(row["bytes"]),
            row["storage_class"] or "", archive,
            (row.get("proven_at") or "never")[:16].replace("T", " "),
        ])  # fmt: skip
    tables.print_rows(columns, lines)
    return 0


def _show(args: argparse.Namespace) -> int:
    deployment = _deployment(args)
    bucket = deployment.require_bucket()
    with aws_errors("show"):
        manifest = operate.load_manifest(deployment.client("s3"), bucket, args.run_id)
    rows = operate.show_rows(manifest)
    if args.json:
        print(
            json.dumps(
                {"run_id": manifest.run_id, "status": manifest.status, "items": rows}, indent=2
            )
        )
        return 0
    console.print(
        f"run {manifest.run_id}: {manifest.status}, {manifest.counts.succeeded:,} of "
        f"{counted(manifest.counts.total, 'item')}, {counted(manifest.bytes, 'byte')}"
    )
    columns = (
        tables.Column("item"), tables.Column("status"),
        tables.Column("bytes", keep=50, right=True),
        tables.Column("error", keep=40, wrap=True), tables.Column("skipped", keep=30, wrap=True),
    )  # fmt: skip
    lines = []
    for row in rows:
        skipped = "; ".join(f"{what}: {why}" for what, why in sorted(row["skipped"].items()))
        lines.append([row["item"], row["status"], _num(row["bytes"]), row["error"] or "", skipped])
    tables.print_rows(columns, lines)
    return 0


def _get(args: argparse.Namespace) -> int:
    deployment = _deployment(args)
    if args.latest:
        if args.run_id or not (args.repo or args.item):
            raise ConfigurationError(
                "--latest takes --repo OWNER/NAME (or --item KEY) and no run id"
            )
        bucket = deployment.require_bucket()
        with aws_errors("get --latest"), _byte_progress("warm copy") as bar:
            path = operate.get_latest(deployment.client("s3"), bucket,
                                      operate.item_key_for(args.repo, args.item), args.out,
                                      progress=bar.update)  # fmt: skip
    else:
        if not args.run_id:
            raise ConfigurationError("which run? give a run id (see `ghbackup runs`) or --latest")
        path = _fetch(deployment, args.run_id, args.repo, args.item, args.out, args)
    size = path.stat().st_size
    if args.json:
        print(json.dumps({"path": str(path), "bytes": size}))
    else:
        print(path)
        console.print(
            f"[green]got[/green] {path} ({size:,} bytes); check it with `ghbackup verify {path}`"
        )
    return 0


def _num(value: int | None) -> str:
    return "" if value is None else f"{value:,}"
