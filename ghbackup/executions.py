"""Starting a run of a deployed stack and watching it to its end."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ghbackup.deployment import (
    NotAGhbackupBucket,
    UnknownRun,
    aws_errors,
    error_code,
)
from ghbackup.errors import ConfigurationError
from ghbackup.operate import check_run_id, load_manifest
from ghbackup.records import RunManifest


def execution_arn(state_machine_arn: str, run_id: str) -> str:
    """arn:aws:states:R:A:stateMachine:N -> arn:aws:states:R:A:execution:N:run_id."""
    parts = state_machine_arn.split(":")
    if len(parts) < 7 or parts[5] != "stateMachine":
        raise ConfigurationError(f"{state_machine_arn} is not a state machine ARN")
    return ":".join([*parts[:5], "execution", parts[6], run_id])


def console_url(arn: str) -> str:
    region = arn.split(":")[3]
    return (
        f"https://{region}.console.aws.amazon.com/states/home?region={region}"
        f"#/v2/executions/details/{arn}"
    )


def start_run(
    sfn: Any, state_machine_arn: str, execution_input: dict[str, Any], run_id: str
) -> str:
    """Validate the input with the state machine's own schema, then start an execution
    named ``run_id``; returns its ARN."""
    from ghbackup.execution_input import validate_selection

    check_run_id(run_id)
    validate_selection(execution_input)
    try:
        return sfn.start_execution(
            stateMachineArn=state_machine_arn, name=run_id, input=json.dumps(execution_input)
        )["executionArn"]
    except ClientError as exc:
        if error_code(exc) == "ExecutionAlreadyExists":
            raise ConfigurationError(
                f"run {run_id} exists already: choose another --run-id"
            ) from None
        if error_code(exc) == "StateMachineDoesNotExist":
            raise ConfigurationError(f"no state machine {state_machine_arn}") from None
        with aws_errors("StartExecution"):
            raise
    raise AssertionError("unreachable")


@dataclass
class MapProgress:
    done: int
    failed: int
    total: int


def map_progress(sfn: Any, arn: str) -> MapProgress | None:
    """Item counts of the execution's Distributed Map run, once it has one."""
    with aws_errors("ListMapRuns"):
        runs = sfn.list_map_runs(executionArn=arn).get("mapRuns", [])
        if not runs:
            return None
        counts = sfn.describe_map_run(mapRunArn=runs[0]["mapRunArn"]).get("itemCounts", {})
    failed = sum(int(counts.get(k, 0)) for k in ("failed", "timedOut", "aborted"))
    done = int(counts.get("succeeded", 0)) + failed
    return MapProgress(done=done, failed=failed, total=int(counts.get("total", 0)))


def watch_run(
    sfn: Any,
    s3: Any,
    bucket: str | None,
    arn: str,
    *,
    progress: Callable[[MapProgress], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float = 5.0,
    max_polls: int | None = None,
) -> tuple[str, RunManifest | None]:
    """Poll the execution until it ends; returns its status and the run manifest (the
    source of the run's SUCCEEDED / PARTIAL / FAILED), when the bucket is known and has one."""
    polls = 0
    while True:
        with aws_errors("DescribeExecution"):
            try:
                described = sfn.describe_execution(executionArn=arn)
            except ClientError as exc:
                if error_code(exc) == "ExecutionDoesNotExist":
                    raise UnknownRun(f"no execution {arn}") from None
                raise
        found = map_progress(sfn, arn)
        if found and progress:
            progress(found)
        if described["status"] != "RUNNING":
            break
        polls += 1
        if max_polls is not None and polls >= max_polls:
            break
        sleep(poll_seconds)
    manifest = None
    if bucket:
        run_id = arn.rsplit(":", 1)[-1]
        try:
            manifest = load_manifest(s3, bucket, run_id)
        except (UnknownRun, NotAGhbackupBucket):
            manifest = None
    return described["status"], manifest


def run_exit_code(manifest: RunManifest | None) -> int:
    """0 SUCCEEDED, 3 PARTIAL, 1 FAILED (as ``run --local``), read from the manifest."""
    if manifest is None:
        return 1
    return {"SUCCEEDED": 0, "PARTIAL": 3}.get(manifest.status, 1)
