"""Starting a run of a deployed stack and watching it to its end."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ghbackup import exit_codes
from ghbackup import s3 as s3io
from ghbackup.deployment import (
    aws_errors,
)
from ghbackup.errors import (
    BackupError,
    ConfigurationError,
    NotAGhbackupBucket,
    StorageError,
    UnknownRun,
)
from ghbackup.operate import check_run_id, load_manifest
from ghbackup.records import (
    ItemResult,
    ReusedItems,
    RunManifest,
    items_list_key,
    parse_items,
    reused_items_key,
    staging_prefix,
)
from ghbackup.s3 import error_code

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


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
        started = sfn.start_execution(
            stateMachineArn=state_machine_arn, name=run_id, input=json.dumps(execution_input)
        )
        return str(started["executionArn"])
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
class RunProgress:
    """How far a run is: items with a result (``done``), how many of them failed, of
    ``total`` items (0 until the list step has stored them)."""

    done: int
    failed: int
    total: int


class StagedProgress:
    """A running run's progress, read from what its steps write: the list step's
    ``items.json`` for the total and ``reused.json`` for the items reused from their warm
    copies (done, succeeded), each captured item's ``result.json`` for done and failed (each
    read once). Counts items, not batches or Map children, so it means the same locally and
    on AWS."""

    def __init__(self, s3: S3Client, bucket: str, run_id: str) -> None:
        self._s3, self._bucket, self._run_id = s3, bucket, run_id
        self._statuses: dict[str, str] = {}
        self._total: int | None = None

    def poll(self) -> RunProgress:
        prefix = staging_prefix(self._run_id)
        if self._total is None:
            try:
                body = s3io.get(self._s3, self._bucket, items_list_key(self._run_id))["Data"]
                self._total = len(parse_items(body))
            except StorageError as exc:
                if exc.code not in ("NoSuchKey", "404"):
                    raise
            else:
                # Written before items.json: complete once the total is known.
                self._count_reused()
        pages = self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self._bucket, Prefix=f"{prefix}items/"
        )
        for page in pages:
            for entry in page.get("Contents", []):
                key = entry["Key"]
                if key.endswith("/result.json") and key not in self._statuses:
                    self._statuses[key] = self._status(key)
        failed = sum(1 for status in self._statuses.values() if status != "succeeded")
        return RunProgress(done=len(self._statuses), failed=failed, total=self._total or 0)

    def _count_reused(self) -> None:
        try:
            data = s3io.read_json(self._s3, self._bucket, reused_items_key(self._run_id))
            reused = ReusedItems.from_json(data).results if data is not None else []
        except (BackupError, ValueError):
            return  # unreadable: Finalize counts those items failed, and so will the end
        for result in reused:
            self._statuses[f"reused:{result.item.key}"] = "succeeded"

    def _status(self, key: str) -> str:
        try:
            data = s3io.read_json(self._s3, self._bucket, key)
            return ItemResult.from_json(data).status if data is not None else "failed"
        except (BackupError, ValueError):
            return "failed"  # unreadable: Finalize will count it failed as well


def watch_run(
    sfn: Any,
    s3: Any,
    bucket: str | None,
    arn: str,
    *,
    progress: Callable[[RunProgress], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float = 5.0,
    max_polls: int | None = None,
) -> tuple[str, RunManifest | None]:
    """Poll the execution until it ends; returns its status and the run manifest (the
    source of the run's SUCCEEDED / PARTIAL / FAILED), when the bucket is known and has one."""
    polls = 0
    staged = StagedProgress(s3, bucket, arn.rsplit(":", 1)[-1]) if bucket else None
    while True:
        with aws_errors("DescribeExecution"):
            try:
                described = sfn.describe_execution(executionArn=arn)
            except ClientError as exc:
                if error_code(exc) == "ExecutionDoesNotExist":
                    raise UnknownRun(f"no execution {arn}") from None
                raise
        if progress and staged is not None:
            progress(staged.poll())
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
    return exit_codes.run_status_code(manifest.status if manifest is not None else None)
