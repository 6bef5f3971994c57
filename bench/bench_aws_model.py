"""A model of what ghbackup costs on AWS, per run and per month, for each cost profile.

    .venv/bin/python -m bench.bench_aws_model [--repos 10000] [--seed 20261202]

Nothing is deployed or timed: the figures come from counting what one run does (tasks, Map
child executions, state transitions, S3 requests, billed Fargate seconds) for repository sizes
drawn from a stated distribution, times the unit prices below. The three account shapes:
  * the --repos organisation (default 10,000 repositories), one run;
  * a personal account: 1 GB in 50 repositories, monthly;
  * an organisation: 100 GB in 1,000 repositories, monthly and daily;
each per cost profile (terraform/profiles.tf). terraform/README.md's cost tables are this
script's output.

Batching follows issue 10 with its defaults: a repository above batch_max_bytes (2 GiB) runs
alone; the others are grouped in listing order up to batch_max_items (25) and batch_max_bytes.
One batch is one Map item: one child execution and one Fargate task. Every figure that counts
tasks, child executions or transitions depends on that batching.

Prints figures; it is not a pass/fail test.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MIB = 1024**2
GIB = 1024**3
GB = 10**9
REPO_ROOT = Path(__file__).resolve().parents[1]
STATE_MACHINE = REPO_ROOT / "workflow" / "state_machine.asl.json"

# --- Unit prices: us-east-1, AWS list prices as in terraform/README.md -------------------------
PRICES_AS_OF = "AWS list prices for us-east-1 as published mid-2026 (Fargate: June 2026)"
FARGATE_VCPU_HOUR = {"spot": 0.0121, "on_demand": 0.04048}  # Spot varies; README's assumption
FARGATE_GB_HOUR = {"spot": 0.0013, "on_demand": 0.004445}
FARGATE_MIN_BILLED_S = 60  # Linux tasks: per second, one-minute minimum
PUBLIC_IPV4_HOUR = 0.005
SFN_TRANSITION = 0.025 / 1000
SFN_FREE_TRANSITIONS = 4000  # per month
LAMBDA_GB_S = 0.0000166667
LAMBDA_REQUEST = 0.20 / 1_000_000
S3_PUT_STANDARD = 0.005 / 1000  # PUT, COPY, POST, LIST
S3_PUT_GLACIER = 0.03 / 1000  # requests writing GLACIER objects (create, parts, complete)
S3_GET = 0.0004 / 1000
S3_STANDARD_GB_MONTH = 0.023
S3_GLACIER_GB_MONTH = 0.0036  # Flexible Retrieval, 90-day minimum
S3_STANDARD_IA_GB_MONTH = 0.0125  # the warm copies under latest/ (issue 11), 30-day minimum
KMS_KEY_MONTH = 1.00
KMS_REQUEST = 0.03 / 10_000
KMS_FREE_REQUESTS = 20_000  # per month
LOGS_INGEST_GB = 0.50
LOGS_STORE_GB_MONTH = 0.03
ALARM_MONTH = 0.10
ECR_GB_MONTH = 0.10

# --- What one run does (assumptions, stated with the output) -----------------------------------
BATCH_MAX_ITEMS = 25
BATCH_MAX_BYTES = 2 * GIB
TASK_CONCURRENCY = 4  # GHBACKUP_CONCURRENCY default (issue 10)
TASK_STARTUP_S = 35.0  # image pull, ENI, interpreter: billed from the pull
ITEM_FIXED_S = 3.0  # metadata API calls per repository (I/O-bound)
CAPTURE_MIB_S_PER_VCPU = 30.0  # clone --mirror, bundle, zip and upload, CPU-bound
MULTIPART_THRESHOLD = 8 * MIB  # boto3 upload_file
MULTIPART_CHUNK = 8 * MIB
COPY_PART_MIN = 16 * MIB  # ghbackup.runarchive: small items are re-uploaded, large ones copied
FINALIZE_MEMORY_GB = 1.0
FINALIZE_COPY_MIB_S = 400.0  # server-side UploadPartCopy
FINALIZE_STREAM_MIB_S = 60.0  # small item zips read and re-uploaded
LOG_BYTES_PER_ITEM = 4_000
LOG_BYTES_PER_TASK = 6_000
IMAGE_GB = 0.09  # compressed: python:3.12-slim + git/git-lfs + locked deps; layers shared
IMAGE_APP_LAYER_GB = 0.002  # what a new tag adds on top of the shared layers
STAGING_DAYS = 1.5  # staged until Finalize, then 1 day (+ lifecycle lag) as noncurrent

PROFILES = {  # terraform/profiles.tf
    "minimal": {"vcpu": 0.5, "memory_gb": 1.0, "kms_key": False, "alarm": False,
                "log_days": 30, "images": 3, "flow_logs": False, "access_logs": False},
    "standard": {"vcpu": 0.5, "memory_gb": 1.0, "kms_key": False, "alarm": True,
                 "log_days": 90, "images": 5, "flow_logs": False, "access_logs": False},
    "hardened": {"vcpu": 1.0, "memory_gb": 2.0, "kms_key": True, "alarm": True,
                 "log_days": 365, "images": 10, "flow_logs": True, "access_logs": True},
}  # fmt: skip


# --- Sizes and batches ---------------------------------------------------------------------------
def repository_sizes(count: int, seed: int, total_bytes: int | None = None) -> list[int]:
    """Log-normal sizes (median 2 MiB, sigma 2.2, capped at 20 GiB) plus one multi-GB
    repository (2.5-10 GiB, uniform) per 2,000; scaled to total_bytes when given."""
    rng = random.Random(seed)
    sizes = [min(20 * GIB, int(math.exp(rng.gauss(math.log(2 * MIB), 2.2)))) for _ in range(count)]
    for index in rng.sample(range(count), count // 2000):
        sizes[index] = int(rng.uniform(2.5, 10) * GIB)
    if total_bytes is not None:
        scale = total_bytes / sum(sizes)
        sizes = [max(1, int(s * scale)) for s in sizes]
    return sizes


def batches(sizes: list[int]) -> list[list[int]]:
    """Issue 10's grouping, in listing order."""
    groups: list[list[int]] = []
    current: list[int] = []
    for size in sizes:
        if size > BATCH_MAX_BYTES:
            groups.append([size])
            continue
        if current and (len(current) == BATCH_MAX_ITEMS or sum(current) + size > BATCH_MAX_BYTES):
            groups.append(current)
            current = []
        current.append(size)
    if current:
        groups.append(current)
    return groups


def _happy_path(machine: dict) -> Iterator[dict]:
    """The states a successful execution enters, from StartAt (a Choice takes its Default)."""
    name = machine["StartAt"]
    while name:
        state = machine["States"][name]
        yield state
        name = state.get("Next") or state.get("Default")


def transitions_per_run() -> tuple[int, int]:
    """(parent transitions, transitions per child execution) of a successful run, read from
    workflow/state_machine.asl.json."""
    definition = json.loads(STATE_MACHINE.read_text())
    parent = list(_happy_path(definition))
    maps = [s for s in parent if s["Type"] == "Map"]
    child = sum(len(list(_happy_path(m.get("ItemProcessor") or m["Iterator"]))) for m in maps)
    return len(parent), child


# --- One run -------------------------------------------------------------------------------------
@dataclass
class Run:
    repositories: int
    bytes: int
    tasks: int
    children: int
    transitions: int
    vcpu_s: float
    gb_s: float
    task_s: float
    s3_standard_puts: int
    s3_glacier_puts: int
    s3_gets: int
    lambda_gb_s: float
    log_bytes: int
    cost: dict[str, float]

    @property
    def per_run(self) -> float:
        return sum(self.cost.values())


def model_run(sizes: list[int], profile: str, spot: bool = True) -> Run:
    """Count what one run does and price it (without storage and monthly fees)."""
    p = PROFILES[profile]
    groups = batches(sizes)
    parent, child = transitions_per_run()
    transitions = parent + child * len(groups)

    billed_s = task_s = 0.0
    for group in groups:
        items = [ITEM_FIXED_S + s / MIB / (CAPTURE_MIB_S_PER_VCPU * p["vcpu"]) for s in group]
        wall = TASK_STARTUP_S + max(max(items), sum(items) / min(TASK_CONCURRENCY, len(items)))
        task_s += wall
        billed_s += max(FARGATE_MIN_BILLED_S, wall)
    vcpu_s, gb_s = billed_s * p["vcpu"], billed_s * p["memory_gb"]

    def parts(size: int) -> int:
        return 1 if size < MULTIPART_THRESHOLD else math.ceil(size / MULTIPART_CHUNK) + 2

    # Tasks: each item's zip (multipart above 8 MiB) and result.json; the list step's
    # items.json; the Map's ResultWriter (manifest + one results file); the run manifest.
    standard_puts = sum(parts(s) + 1 for s in sizes) + 1 + 2 + 1
    # Finalize: the run zip in GLACIER: create, one copy per large item (16 MiB+), small items
    # re-uploaded in 16 MiB parts, complete; and one LIST per 1,000 staged keys to delete them.
    large = [s for s in sizes if s >= COPY_PART_MIN]
    small_bytes = sum(s for s in sizes if s < COPY_PART_MIN)
    glacier_puts = 2 + sum(math.ceil(s / (5 * GIB)) for s in large)
    glacier_puts += math.ceil(small_bytes / COPY_PART_MIN)
    standard_puts += math.ceil(2 * len(sizes) / 1000)
    # Tasks: HEAD of each zip; Finalize: result.json, the zip's tail and the small zips; Map:
    # the item list.
    gets = len(sizes) + len(sizes) * 2 + sum(1 for s in sizes if s < COPY_PART_MIN) + 1
    finalize_s = (
        5 + sum(large) / MIB / FINALIZE_COPY_MIB_S + small_bytes / MIB / FINALIZE_STREAM_MIB_S
    )
    lambda_gb_s = finalize_s * FINALIZE_MEMORY_GB + 2 * 2.0 * 0.5  # + validate, list
    log_bytes = LOG_BYTES_PER_ITEM * len(sizes) + LOG_BYTES_PER_TASK * len(groups)

    kind = "spot" if spot else "on_demand"
    cost = {
        "Fargate": billed_s / 3600 * (p["vcpu"] * FARGATE_VCPU_HOUR[kind] + p["memory_gb"] * FARGATE_GB_HOUR[kind]),
        "Public IPv4": task_s / 3600 * PUBLIC_IPV4_HOUR,
        "Step Functions": transitions * SFN_TRANSITION,
        "S3 requests": standard_puts * S3_PUT_STANDARD + glacier_puts * S3_PUT_GLACIER + gets * S3_GET,
        "Lambda": lambda_gb_s * LAMBDA_GB_S + 3 * LAMBDA_REQUEST,
        "CloudWatch Logs": log_bytes / GB * LOGS_INGEST_GB,
    }  # fmt: skip
    if p["flow_logs"]:  # about 1 MB of flow records per task-hour
        cost["VPC flow logs"] = task_s / 3600 * 0.001 * LOGS_INGEST_GB
    if p["kms_key"]:  # bucket keys: a handful per task; the credential once per task
        cost["KMS requests"] = (5 * len(groups) + 20) * KMS_REQUEST
    return Run(len(sizes), sum(sizes), len(groups), len(groups), transitions, vcpu_s, gb_s,
               task_s, standard_puts, glacier_puts, gets, lambda_gb_s, log_bytes, cost)  # fmt: skip


# --- One month -----------------------------------------------------------------------------------
def monthly(run: Run, profile: str, runs_per_month: float, archives_kept: int) -> dict[str, float]:
    """A month at steady state: the runs, the stored archives and the fixed fees. Free tiers
    that last (Step Functions' 4,000 transitions, Lambda's 400,000 GB-s, KMS's 20,000 requests)
    are applied; the 12-month ones are not."""
    p = PROFILES[profile]
    month = {k: v * runs_per_month for k, v in run.cost.items()}
    billable = max(0, run.transitions * runs_per_month - SFN_FREE_TRANSITIONS)
    month["Step Functions"] = billable * SFN_TRANSITION
    if run.lambda_gb_s * runs_per_month < 400_000:
        month["Lambda"] = 0.0
    if "KMS requests" in month and month["KMS requests"] / KMS_REQUEST < KMS_FREE_REQUESTS:
        month["KMS requests"] = 0.0
    gb = run.bytes / GB
    month["S3 Glacier (runs/)"] = archives_kept * gb * S3_GLACIER_GB_MONTH
    month["S3 Standard (staging/)"] = gb * STAGING_DAYS * runs_per_month / 30 * S3_STANDARD_GB_MONTH
    # One warm copy of every item's last capture (incremental runs reuse it; get --latest
    # reads it without a Glacier restore): about one run's bytes in STANDARD_IA.
    month["S3 Standard-IA (latest/)"] = gb * S3_STANDARD_IA_GB_MONTH
    month["CloudWatch Logs"] += (
        run.log_bytes * runs_per_month * min(p["log_days"], 365) / 30 / GB * LOGS_STORE_GB_MONTH
    )
    month["ECR"] = (IMAGE_GB + p["images"] * IMAGE_APP_LAYER_GB) * ECR_GB_MONTH
    if p["kms_key"]:
        month["KMS key"] = KMS_KEY_MONTH
    if p["alarm"]:
        month["CloudWatch alarm"] = ALARM_MONTH
    if p["access_logs"]:  # ~300 bytes per logged request, kept log_days
        requests = (run.s3_standard_puts + run.s3_glacier_puts + run.s3_gets) * runs_per_month
        month["S3 access logs"] = requests * 300 / GB * S3_STANDARD_GB_MONTH * p["log_days"] / 30
    return month


# --- Output --------------------------------------------------------------------------------------
def _money(value: float) -> str:
    return f"{value:.4f}" if value < 0.1 else f"{value:.2f}"


def print_run(label: str, run: Run, profile: str) -> None:
    print(
        f"\n{label}, profile {profile}: {run.repositories:,} repositories, {run.bytes / GB:,.1f} GB"
    )
    print(f"  Fargate tasks (= Map child executions): {run.tasks:,}")
    print(f"  Step Functions state transitions: {run.transitions:,}")
    print(
        f"  billed Fargate: {run.vcpu_s:,.0f} vCPU-s, {run.gb_s:,.0f} GB-s (task time {run.task_s / 3600:,.1f} h)"
    )
    print(
        f"  S3 requests: {run.s3_standard_puts:,} PUT/LIST, {run.s3_glacier_puts:,} GLACIER PUT, {run.s3_gets:,} GET"
    )
    for name, value in run.cost.items():
        print(f"    {name:<18} ${_money(value)}")
    print(f"  cost per run beyond storage: ${_money(run.per_run)}")


def print_month(label: str, run: Run, profile: str, runs: float, archives: int) -> float:
    month = monthly(run, profile, runs, archives)
    total = sum(month.values())
    lines = ", ".join(
        f"{k} {_money(v)}" for k, v in sorted(month.items(), key=lambda kv: -kv[1]) if v >= 0.00005
    )
    print(
        f"  {label:<34} {profile:<9} ${_money(total):>7}/month  ${total / run.repositories:.5f}/repo/month"
    )
    print(f"      {run.tasks} tasks and {run.transitions} transitions a run; {lines}")
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repos", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=20261202)
    args = parser.parse_args()

    print(f"Prices: {PRICES_AS_OF}; Fargate Spot assumed at $0.0121/vCPU-h + $0.0013/GB-h.")
    print("Sizes: log-normal (median 2 MiB, sigma 2.2, capped at 20 GiB) plus one 2.5-10 GiB")
    print(f"repository per 2,000; seed {args.seed}. Batching (issue 10 defaults): batch_max_items")
    print(f"{BATCH_MAX_ITEMS}, batch_max_bytes 2 GiB, {TASK_CONCURRENCY} items at a time per task.")
    print(f"Task time: {TASK_STARTUP_S:.0f} s start-up + per item {ITEM_FIXED_S:.0f} s +")
    print(
        f"size / ({CAPTURE_MIB_S_PER_VCPU:.0f} MiB/s x vCPU); billed per second, 1-minute minimum."
    )

    org = repository_sizes(args.repos, args.seed)
    for profile in PROFILES:
        print_run("Organisation model, one run", model_run(org, profile), profile)

    print(
        "\nPer month (steady state; archives kept: monthly 12 = 365 days, daily 90 = GLACIER's minimum):"
    )
    personal = repository_sizes(50, args.seed, total_bytes=1 * GB)
    company = repository_sizes(1000, args.seed, total_bytes=100 * GB)
    for profile in PROFILES:
        print_month(
            "personal: 1 GB, 50 repos, monthly", model_run(personal, profile), profile, 1, 12
        )
    for profile in PROFILES:
        print_month(
            "org: 100 GB, 1,000 repos, monthly", model_run(company, profile), profile, 1, 12
        )
    for profile in PROFILES:
        print_month("org: 100 GB, 1,000 repos, daily", model_run(company, profile), profile, 30, 90)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
