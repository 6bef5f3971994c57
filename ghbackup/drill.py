"""The restore drill: choose a run and a sample of its items, have S3 restore the run zip
when it is in a Glacier class, and report what the drill task found.

The drill state machine (workflow/drill.asl.json) calls these through thin Lambda handlers
(tasks/drill_*.py): ``plan_drill`` first, ``check_readable`` until the run zip can be read
(a declarative Retry on RestoreInProgress is the poll loop), then the drill task
(``ghbackup.drill_task``, in the engine's container), then ``report_drill``, which leaves
``drills/<id>/report.json`` and nothing else.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ghbackup import s3 as s3io
from ghbackup.deployment import aws_errors
from ghbackup.errors import (
    ArchiveCorrupt,
    ConfigurationError,
    InvalidInput,
    RestoreInProgress,
    StorageError,
    UnknownRun,
)
from ghbackup.glacier import archive_state, check_tier, request_restore
from ghbackup.operate import check_run_id, list_run_ids
from ghbackup.records import RunManifest, parse_timestamp, run_manifest_key, utc_timestamp
from ghbackup.records.drills import (
    DRILLS_PREFIX,
    DrillItemResult,
    DrillPlan,
    DrillReport,
    DrillRequest,
    DrillResults,
    RestoreAsked,
    drill_report_key,
    drill_results_key,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Runs looked at when choosing one: years of daily runs, each one GetObject of its manifest.
MAX_CANDIDATE_RUNS = 400
# The first look at a restore waits for the tier's shortest documented time (AWS's figures):
# polling earlier only costs transitions.
FIRST_LOOK_SECONDS: dict[tuple[str, str], int] = {
    ("GLACIER", "Expedited"): 60,
    ("GLACIER", "Standard"): 3 * 3600,
    ("GLACIER", "Bulk"): 5 * 3600,
    ("DEEP_ARCHIVE", "Standard"): 9 * 3600,
    ("DEEP_ARCHIVE", "Bulk"): 24 * 3600,
}
MAX_ERROR_CHARS = 1000
MAX_SUBJECT_CHARS = 100
# What the plan says of a run zip's state before it asks for anything.
_RESTORE_OF_STATE: dict[str, RestoreAsked] = {
    "readable": "not needed",
    "restoring": "in progress",
    "restored": "restored",
}

Clock = Callable[[], datetime]

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------- planning


def choose_run(
    s3: S3Client, bucket: str, request: DrillRequest, *, now: datetime, rng: random.Random
) -> RunManifest:
    """The run to drill: the one asked for, the newest ("newest"), or a random one whose
    run started ``min_age_days`` or more ago (the newest when none is that old). Only runs
    with a run zip count; UnknownRun when there is none."""
    if request.run and request.run != "newest":
        manifest = _manifest(s3, bucket, check_run_id(request.run))
        if manifest is None:
            raise UnknownRun(f"no run {request.run} in s3://{bucket}")
        if manifest.archive is None:
            raise UnknownRun(f"run {request.run} has no run zip: none of its items succeeded")
        return manifest
    candidates: list[RunManifest] = []
    for run_id in list_run_ids(s3, bucket)[:MAX_CANDIDATE_RUNS]:
        try:
            manifest = _manifest(s3, bucket, run_id)  # None: running, or failed before Finalize
        except ArchiveCorrupt as exc:
            # One damaged manifest must not stop every drill: that run is left out (and a
            # drill asked for it by name still fails naming it).
            log.warning("run %s left out of the drill's choice: %s", run_id, exc)
            continue
        if manifest is not None and manifest.archive is not None:
            candidates.append(manifest)
            if request.run == "newest":
                break
    if not candidates:
        raise UnknownRun(f"s3://{bucket} holds no run with a run zip to drill")
    if request.run == "newest":
        return candidates[0]
    cutoff = now - timedelta(days=request.min_age_days)
    old = [m for m in candidates if parse_timestamp(m.started_at) <= cutoff]
    return rng.choice(old) if old else max(candidates, key=lambda m: m.started_at)


def _manifest(s3: S3Client, bucket: str, run_id: str) -> RunManifest | None:
    """The run's manifest, None when it has none. (Only ``runs/`` is read: the drill's
    roles may list nothing else.)"""
    data = s3io.read_json(s3, bucket, run_manifest_key(run_id))
    return RunManifest.from_json(data) if data is not None else None


def sample_items(manifest: RunManifest, count: int, rng: random.Random) -> list[str]:
    """``count`` succeeded items of the run (all when it has fewer), always with the
    largest: the one most likely to meet a limit."""
    readable = [
        line for line in manifest.items if line.status == "succeeded" and line.offset is not None
    ]
    if not readable:
        raise UnknownRun(f"run {manifest.run_id} has no item with byte ranges to drill")
    largest = max(readable, key=lambda line: (line.zip_bytes, line.item_key))
    others = sorted(line.item_key for line in readable if line is not largest)
    chosen = rng.sample(others, min(count - 1, len(others)))
    return [largest.item_key, *sorted(chosen)]


def plan_drill(
    s3: S3Client,
    bucket: str,
    drill_id: str,
    request: DrillRequest,
    *,
    clock: Clock = _now,
    rng: random.Random | None = None,
    max_wait_seconds: int | None = None,
) -> DrillPlan:
    """Choose the run and its sample, and ask S3 for a restore of the run zip when it is
    in a Glacier class (once: a restore in progress is not asked for again).
    ``max_wait_seconds`` caps the first wait (the local emulation restores at once)."""
    now = clock()
    manifest = choose_run(s3, bucket, request, now=now, rng=rng or random.SystemRandom())
    items = sample_items(manifest, request.items, rng or random.SystemRandom())
    assert manifest.archive is not None
    key = manifest.archive.key
    try:
        state = archive_state(s3, bucket, key)
    except UnknownRun:
        raise UnknownRun(
            f"run {manifest.run_id}: its run zip s3://{bucket}/{key} does not exist"
        ) from None
    restore = _RESTORE_OF_STATE.get(state.state, "not needed")
    if state.state == "archived":
        check_tier(state, request.tier)
        asked = request_restore(s3, bucket, state, tier=request.tier, days=request.days)
        restore = "requested" if asked else "in progress"
    wait = FIRST_LOOK_SECONDS.get((state.storage_class, request.tier), 0)
    if restore not in ("requested", "in progress"):
        wait = 0
    if max_wait_seconds is not None:
        wait = min(wait, max_wait_seconds)
    return DrillPlan(
        drill_id=drill_id,
        run_id=manifest.run_id,
        archive_key=key,
        archive_bytes=state.bytes,
        storage_class=state.storage_class,
        tier=request.tier,
        days=request.days,
        restore=restore,
        started_at=utc_timestamp(now),
        items=items,
        wait_seconds=wait,
    )


def check_readable(s3: S3Client, bucket: str, plan: DrillPlan, *, clock: Clock = _now) -> str:
    """The time the run zip was seen readable; RestoreInProgress while S3 is restoring it
    (the state machine's Retry waits and asks again). A copy that expired, or a restore S3
    lost, is asked for again."""
    try:
        state = archive_state(s3, bucket, plan.archive_key)
    except UnknownRun:
        raise UnknownRun(
            f"run {plan.run_id}: its run zip s3://{bucket}/{plan.archive_key} does not exist"
        ) from None
    if state.readable:
        return utc_timestamp(clock())
    if state.state == "archived":
        request_restore(s3, bucket, state, tier=plan.tier, days=plan.days)
    raise RestoreInProgress(
        f"s3://{bucket}/{plan.archive_key} ({plan.storage_class}) is being restored ({plan.tier})"
    )


# --------------------------------------------------------------------------- reporting


def _seconds(since: str, until: str | None) -> float | None:
    if until is None:
        return None
    return round((parse_timestamp(until) - parse_timestamp(since)).total_seconds(), 1)


def failure_from_state(error: dict[str, Any]) -> tuple[str, str]:
    """(error name, message) of a state's Catch output ``{"Error", "Cause"}``: a Lambda's
    cause is JSON with ``errorMessage``; an ECS task's names its exit code and reason."""
    name = str(error.get("Error") or "DrillFailed")
    cause = str(error.get("Cause") or "")
    try:
        parsed = json.loads(cause) if cause.lstrip().startswith("{") else None
    except json.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        cause = str(parsed["errorMessage"])
    elif isinstance(parsed, dict) and "Containers" in parsed:
        containers = parsed.get("Containers") or [{}]
        cause = "the drill task stopped: exit code {}, {}".format(
            containers[0].get("ExitCode"),
            containers[0].get("Reason") or parsed.get("StoppedReason") or "no reason given",
        )
    return name, (cause or name)[:MAX_ERROR_CHARS]


def report_drill(
    s3: S3Client,
    bucket: str,
    drill_id: str,
    *,
    started_at: str,
    plan: DrillPlan | None,
    error: dict[str, Any] | None = None,
    clock: Clock = _now,
) -> DrillReport:
    """Write ``drills/<id>/report.json`` from the drill task's results (or from the error
    that ended the drill before them), then remove the results: the report is all a drill
    leaves. SUCCEEDED only when every sampled item passed every check."""
    report = DrillReport(
        drill_id=drill_id,
        status="FAILED",
        started_at=utc_timestamp(parse_timestamp(started_at)),  # the execution's, in any form
        finished_at=utc_timestamp(clock()),
    )
    if plan is not None:
        report.run_id, report.storage_class = plan.run_id, plan.storage_class
        report.restore_tier, report.restore = plan.tier, plan.restore
    results_key = drill_results_key(drill_id)
    if error is not None:
        report.error_type, report.error = failure_from_state(error)
    elif plan is None:
        report.error_type, report.error = "DrillFailed", "the drill has no plan"
    else:
        _add_results(s3, bucket, results_key, plan, report)
    s3.put_object(
        Bucket=bucket,
        Key=drill_report_key(drill_id),
        Body=report.to_bytes(),
        ContentType="application/json",
    )
    try:
        s3.delete_object(Bucket=bucket, Key=results_key)
    except (ClientError, BotoCoreError) as exc:
        # The report stands; the Retry deletes again (writing the same report is harmless).
        raise StorageError(f"DeleteObject s3://{bucket}/{results_key} failed: {exc}") from None
    return report


def _add_results(s3: S3Client, bucket: str, key: str, plan: DrillPlan, report: DrillReport) -> None:
    try:
        data = s3io.read_json(s3, bucket, key)
        results = DrillResults.from_json(data) if data is not None else None
    except (ArchiveCorrupt, ValueError) as exc:
        report.error_type, report.error = "DrillFailed", f"unreadable drill results: {exc}"
        return
    if results is None:
        report.error_type, report.error = "DrillFailed", "the drill task stored no results"
        return
    found = {item.item_key: item for item in results.items}
    report.items = [
        found.get(key)
        or DrillItemResult(
            item_key=key, status="failed", check="read", error="the drill task did not reach it"
        )
        for key in plan.items
    ]
    report.bytes_read = results.bytes_read
    report.time_to_first_byte_seconds = _seconds(report.started_at, results.first_byte_at)
    report.time_to_restored_seconds = _seconds(report.started_at, results.restored_at)
    if all(item.status == "passed" for item in report.items):
        report.status = "SUCCEEDED"


def notification(report: DrillReport) -> dict[str, str]:
    """``{"status", "subject", "message"}`` for the SNS topic: a failure names each item and
    the check it failed."""
    passed = sum(1 for item in report.items if item.status == "passed")
    run = f" of run {report.run_id}" if report.run_id else ""
    subject = (
        f"ghbackup drill {report.drill_id}: {report.status}, {passed}/{len(report.items)} "
        f"items restored{run}"
    )
    lines = [
        f"Restore drill {report.drill_id}{run}: {report.status}.",
        f"Items restored and checked: {passed} of {len(report.items)}; "
        f"bytes read {report.bytes_read:,}; restore {report.restore or '-'} "
        f"({report.storage_class or '-'}, {report.restore_tier or '-'}).",
    ]
    if report.time_to_restored_seconds is not None:
        lines.append(
            f"Time to first byte {report.time_to_first_byte_seconds} s; "
            f"to restored {report.time_to_restored_seconds} s."
        )
    failures = report.failures()
    if failures:
        lines.append("Failed:")
        lines += [f"- {line}" for line in failures]
    lines.append(f"Report: {drill_report_key(report.drill_id)}")
    subject = subject if len(subject) <= MAX_SUBJECT_CHARS else subject[:97] + "..."
    return {"status": report.status, "subject": subject, "message": "\n".join(lines)}


# --------------------------------------------------------------------------- listing


def list_reports(s3: S3Client, bucket: str, *, limit: int = 1000) -> list[DrillReport]:
    """The stored drill reports, newest first (a drill still running has none yet)."""
    reports = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=DRILLS_PREFIX, Delimiter="/"):
        for prefix in page.get("CommonPrefixes", []):
            drill_id = prefix["Prefix"][len(DRILLS_PREFIX) : -1]
            data = s3io.read_json(s3, bucket, drill_report_key(drill_id))
            if data is not None:
                try:
                    reports.append(DrillReport.from_json(data))
                except ValueError:
                    continue  # not a report this version can read; listed by nothing
    reports.sort(key=lambda report: (report.started_at, report.drill_id), reverse=True)
    return reports[:limit]


def last_proven(reports: list[DrillReport]) -> dict[str, str]:
    """``{run id: when a drill last proved it restorable}`` from SUCCEEDED reports."""
    proven: dict[str, str] = {}
    for report in reports:
        if report.status == "SUCCEEDED" and report.run_id:
            proven[report.run_id] = max(proven.get(report.run_id, ""), report.finished_at)
    return proven


def parse_request(data: Any) -> DrillRequest:
    """The execution input as a DrillRequest; InvalidInput naming the field."""
    try:
        return DrillRequest.from_json(data if data is not None else {})
    except ValueError as exc:
        raise InvalidInput(f"drill input: {exc}") from None


# --------------------------------------------------------------------------- starting


def drill_state_machine_arn(backup_state_machine_arn: str | None, given: str | None = None) -> str:
    """The drill state machine: ``given`` (a flag, GHBACKUP_DRILL_STATE_MACHINE_ARN or the
    config file), else the backup machine's ARN with ``-drill`` appended, as the Terraform
    module names it."""
    if given:
        return given
    if not backup_state_machine_arn:
        raise ConfigurationError(
            "which drill state machine? pass --drill-state-machine, set "
            "GHBACKUP_DRILL_STATE_MACHINE_ARN, or configure the backup state machine"
        )
    return f"{backup_state_machine_arn}-drill"


def default_drill_id(now: datetime | None = None) -> str:
    """``drill-YYYYmmddTHHMMSSZ`` in UTC: a valid execution name that sorts by time."""
    return (now or _now()).strftime("drill-%Y%m%dT%H%M%SZ")


def start_drill(sfn: Any, machine_arn: str, request: DrillRequest, drill_id: str) -> str:
    """Start one drill execution named ``drill_id``; returns its ARN."""
    check_run_id(drill_id)
    given = request.model_dump(exclude_unset=True, exclude_none=True)
    with aws_errors("StartExecution"):
        started = sfn.start_execution(
            stateMachineArn=machine_arn, name=drill_id, input=json.dumps(given)
        )
    return str(started["executionArn"])


def wait_for_drill(
    sfn: Any,
    s3: S3Client,
    bucket: str,
    execution_arn: str,
    *,
    sleep: Callable[[float], None],
    poll_seconds: float = 60.0,
    report: Callable[[str], None] = lambda _: None,
) -> tuple[str, DrillReport | None]:
    """Poll the execution until it ends; (its status, the drill's stored report)."""
    drill_id = execution_arn.rsplit(":", 1)[-1]
    last = ""
    while True:
        with aws_errors("DescribeExecution"):
            status = str(sfn.describe_execution(executionArn=execution_arn)["status"])
        if status != "RUNNING":
            break
        if status != last:
            report(f"drill {drill_id}: {status.lower()}")
            last = status
        sleep(poll_seconds)
    with aws_errors(f"GetObject s3://{bucket}/{drill_report_key(drill_id)}"):
        data = s3io.read_json(s3, bucket, drill_report_key(drill_id))
    return status, DrillReport.from_json(data) if data is not None else None
