"""``ghbackup drill`` and ``ghbackup drills``: start a restore drill (on the deployed stack,
or ``--local`` over the runs a local run exported) and list the drills' reports. The work
is in ``ghbackup.drill``; ``cli.main`` registers these commands."""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from cli.tables import printable
from ghbackup import drill
from ghbackup.deployment import aws_errors, read_config, resolve_deployment
from ghbackup.executions import console_url
from ghbackup.records import DrillReport, DrillRequest
from ghbackup.records.drills import DEFAULT_DRILL_ITEMS, MAX_DRILL_ITEMS

console = Console(stderr=True, soft_wrap=True)
sleep: Callable[[float], None] = time.sleep  # tests replace it

RAW = argparse.RawDescriptionHelpFormatter


def _deployment_args() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--bucket", help="backup bucket (default: $GHBACKUP_BUCKET, then the "
                        "config file)")  # fmt: skip
    parent.add_argument("--state-machine", metavar="ARN", help="the backup state machine "
                        "(default: $GHBACKUP_STATE_MACHINE_ARN, then the config file)")  # fmt: skip
    return parent


def add_commands(sub: Any) -> None:
    """Register ``drill`` and ``drills`` on the ``ghbackup`` subparsers."""
    deployment_args = _deployment_args()
    start = sub.add_parser(
        "drill", parents=[deployment_args], formatter_class=RAW,
        help="prove a run restores: restore a sample of its items out of Glacier and check them",
        description="Start a restore drill: a run (default: a random one older than a week) "
        "and a sample of its items (always the largest) restored from the stored run zip, "
        "with every check of restore, git fsck and the manifests. Exit 0 when it passed.",
        epilog="examples:\n  ghbackup drill --wait\n  ghbackup drill --run run-20261201T100000Z "
        "--items 10\n  ghbackup drill --local --out ./backups\n",
    )  # fmt: skip
    start.add_argument("--run", help='a run id, or "newest" (default: a random run older than '
                       "a week, the newest when none is)")  # fmt: skip
    start.add_argument("--items", type=int, default=None, metavar="N",
                       help=f"items to restore (1-{MAX_DRILL_ITEMS}, default "
                       f"{DEFAULT_DRILL_ITEMS}; the largest always among them)")  # fmt: skip
    start.add_argument("--tier", choices=("Expedited", "Standard", "Bulk"), default=None,
                       help="Glacier retrieval tier (default Bulk: free from GLACIER)")  # fmt: skip
    start.add_argument("--wait", action="store_true",
                       help="wait for the drill's end (hours for a Glacier restore)")  # fmt: skip
    start.add_argument("--drill-state-machine", metavar="ARN",
                       help="the drill's state machine (default: $GHBACKUP_DRILL_STATE_MACHINE_"
                       "ARN, the config file, then the backup machine's ARN + -drill)")  # fmt: skip
    start.add_argument("--local", action="store_true",
                       help="run the drill state machine on this machine over --out's runs")  # fmt: skip
    start.add_argument("--out", type=Path, default=Path("backups"),
                       help="with --local: where `run --local` exported its runs")  # fmt: skip
    start.add_argument("--drill-id", help="the drill id (default: drill-<UTC timestamp>)")
    start.add_argument("--json", action="store_true", help="print the report as JSON")
    start.set_defaults(func=_drill)

    listing = sub.add_parser(
        "drills", parents=[deployment_args], formatter_class=RAW,
        help="list the restore drills' reports, newest first",
        description="List the restore drills' reports (drills/<id>/report.json), newest first.",
        epilog="examples:\n  ghbackup drills\n  ghbackup drills --json\n",
    )  # fmt: skip
    listing.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    listing.add_argument("--json", action="store_true", help="print JSON records")
    listing.set_defaults(func=_drills)


def _request(args: argparse.Namespace) -> DrillRequest:
    given = {"run": args.run, "items": args.items, "tier": args.tier}
    return drill.parse_request({key: value for key, value in given.items() if value is not None})


def _drill(args: argparse.Namespace) -> int:
    request = _request(args)
    drill_id = args.drill_id or drill.default_drill_id()
    if args.local:
        from workflow.local_drill import run_local_drill

        outcome = run_local_drill(
            request.model_dump(exclude_unset=True), out_dir=args.out, drill_id=drill_id
        )
        if outcome.report is None:
            why = printable(f"{outcome.status}: {outcome.error}: {outcome.cause}")
            console.print(f"drill {drill_id}: {why}", style="red", markup=False, highlight=False)
            return 1
        return _print_report(outcome.report, args.json, outcome.report_path)
    deployment = resolve_deployment(args.bucket, args.state_machine)
    given = (args.drill_state_machine or os.environ.get("GHBACKUP_DRILL_STATE_MACHINE_ARN")
             or read_config().get("drill_state_machine_arn"))  # fmt: skip
    machine = drill.drill_state_machine_arn(deployment.state_machine_arn, given)
    sfn = deployment.client("stepfunctions")
    arn = drill.start_drill(sfn, machine, request, drill_id)
    console.print(f"started drill [bold]{drill_id}[/bold]\n  {console_url(arn)}")
    if not args.wait:
        # stdout is the drill id, or with --json one object a script can parse.
        started = {"drill_id": drill_id, "execution_arn": arn, "console_url": console_url(arn)}
        print(json.dumps(started) if args.json else drill_id)
        return 0
    bucket = deployment.require_bucket()
    status, report = drill.wait_for_drill(
        sfn, deployment.client("s3"), bucket, arn, sleep=sleep, report=console.print
    )
    if report is None:
        console.print(f"[red]drill {drill_id}: execution {status}, no report[/red]")
        return 1
    return _print_report(report, args.json, None)


def _print_report(report: DrillReport, as_json: bool, path: Path | None) -> int:
    if as_json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        colour = "green" if report.status == "SUCCEEDED" else "red"
        passed = sum(1 for item in report.items if item.status == "passed")
        console.print(
            f"[{colour}]drill {report.drill_id}: {report.status}[/{colour}]: run "
            f"{report.run_id or '-'}, {passed} of {len(report.items)} items restored, "
            f"{report.bytes_read:,} bytes read"
        )
        for line in report.failures():
            # An item's failure quotes names from the archive: shown, never markup or escapes.
            console.print(f"  failed {printable(line)}", markup=False, highlight=False)
        if path is not None:
            console.print(f"  report: {path}")
    return 0 if report.status == "SUCCEEDED" else 1


def _drills(args: argparse.Namespace) -> int:
    deployment = resolve_deployment(args.bucket, args.state_machine)
    bucket = deployment.require_bucket()
    with aws_errors("drills"):
        reports = drill.list_reports(deployment.client("s3"), bucket, limit=args.limit)
    if args.json:
        print(json.dumps([report.to_json() for report in reports], indent=2))
        return 0
    if not reports:
        console.print(f"no drill reports in s3://{bucket}")
        return 0
    table = Table("drill", "started", "run", "status", "items", "restore", "to restored")
    for report in reports:
        passed = sum(1 for item in report.items if item.status == "passed")
        table.add_row(
            report.drill_id, report.started_at[:16].replace("T", " "), report.run_id or "",
            report.status, f"{passed}/{len(report.items)}",
            f"{report.restore or ''} {report.restore_tier or ''}".strip(),
            _duration(report.time_to_restored_seconds),
        )  # fmt: skip
    out = Console(soft_wrap=True)
    out.print(table)
    for report in reports:
        for line in report.failures():
            out.print(f"{report.drill_id} failed: {printable(line)}", markup=False, highlight=False)
    return 0


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = int(seconds)
    return (
        f"{whole // 3600}h{whole % 3600 // 60:02d}m"
        if whole >= 3600
        else f"{whole // 60}m{whole % 60:02d}s"
    )
