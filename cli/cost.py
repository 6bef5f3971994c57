"""``ghbackup cost``: the monthly estimate from a deployed stack's run manifests (the work is
in ``ghbackup.cost``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console

from ghbackup import cost, operate
from ghbackup.deployment import aws_errors, resolve_deployment
from ghbackup.errors import UnknownRun

console = Console(stderr=True, soft_wrap=True)


def add_command(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register ``cost`` on the ``ghbackup`` subparsers."""
    parser = sub.add_parser(
        "cost", parents=parents, formatter_class=argparse.RawDescriptionHelpFormatter,
        help="estimate the monthly cost from the run manifests",
        description="Estimate the stack's monthly AWS bill (storage by class, S3 requests, "
        "Fargate, Step Functions) from the sizes and durations of its newest runs, "
        "and what getting data back out of Glacier costs. Prices are a built-in table "
        "(--prices for another region); the settings below must match the stack's.",
        epilog="examples:\n  ghbackup cost\n  ghbackup cost --runs 12 --json\n"
        "  ghbackup cost --prices eu-west-1-prices.json --on-demand\n",
    )  # fmt: skip
    parser.add_argument("--runs", type=int, default=6, help="read the newest N runs (default 6)")
    parser.add_argument("--prices", type=Path, help="JSON overriding the built-in price table")
    parser.add_argument("--runs-per-month", type=float, help="instead of the runs' spacing")
    parser.add_argument(
        "--retention-days", type=int, default=365, help="run_retention_days (default 365)"
    )
    parser.add_argument("--task-vcpu", type=float, default=1.0, help="task_cpu / 1024 (default 1)")
    parser.add_argument(
        "--task-memory-gb", type=float, default=2.0, help="task_memory / 1024 (default 2)"
    )
    parser.add_argument(
        "--on-demand", action="store_true", help="tasks on Fargate, not Fargate Spot"
    )
    parser.add_argument("--json", action="store_true", help="the estimate as JSON on stdout")
    parser.set_defaults(func=_cost)


def _cost(args: argparse.Namespace) -> int:
    prices = cost.load_prices(args.prices)
    deployment = resolve_deployment(args.bucket, args.state_machine)
    bucket = deployment.require_bucket()
    with aws_errors("cost"):
        s3 = deployment.client("s3")
        manifests = []
        for run_id in operate.list_run_ids(s3, bucket):
            if len(manifests) >= args.runs:
                break
            try:
                manifests.append(operate.load_manifest(s3, bucket, run_id))
            except UnknownRun:
                continue  # a run without a manifest: still running, or failed before Finalize
    settings = cost.Settings(
        task_vcpu=args.task_vcpu, task_memory_gb=args.task_memory_gb, spot=not args.on_demand,
        runs_per_month=args.runs_per_month, retention_days=args.retention_days,
    )  # fmt: skip
    result = cost.estimate(manifests, prices, settings)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return 0
    currency = prices["currency"]
    print(f"Monthly estimate for s3://{bucket} ({prices['region']} prices of {prices['date']}):")
    for name, amount in result.lines:
        print(f"  {name:<60} {amount:>10.4f} {currency}")
    print(f"  {'total':<60} {result.monthly_total:>10.4f} {currency}")
    print("Getting data back (restore request, restored copy, retrieval, transfer out):")
    for name, amount in result.retrieval:
        print(f"  {name:<60} {amount:>10.4f} {currency}")
    print("Assumptions:")
    for line in result.assumptions:
        print(f"  - {line}")
    console.print(f"[dim]from {result.runs} run manifests[/dim]")
    return 0
