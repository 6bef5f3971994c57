"""Lambda: assemble the run archive and return the summary Notify publishes.

Event ``{"run_id", "execution", "started_at", "items": {"bucket", "key", "count"}}``
(``execution``: the execution's ARN, recorded in the run zip and manifest so that another
execution with the same name cannot replace them). Reads the run's
item list, lets ``ghbackup.finalize.assemble_run`` build the one run zip server-side and
the run manifest (items without a result.json count as failed), records the metrics
ItemsBackedUp / ItemsFailed / BytesStored and returns ``{"status", "subject", "message"}``
with the message already cut to fit SNS.
"""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from ghbackup import incremental
from ghbackup.credentials import redacting_json
from ghbackup.errors import StorageError
from ghbackup.finalize import COPY_WORKERS, DEFAULT_STORAGE_CLASS, assemble_run
from ghbackup.notification import notification
from ghbackup.records import BackupItem, items_list_key

# Every field of every line scrubbed of secrets, tracebacks and extra keys included.
logger = Logger(json_serializer=redacting_json)
tracer = Tracer()
metrics = Metrics(namespace="ghbackup")
s3 = boto3.client(
    "s3",
    config=Config(
        max_pool_connections=2 * COPY_WORKERS + 4,  # copies and read-ahead GETs
        retries={"max_attempts": 5, "mode": "standard"},
        read_timeout=300,
        connect_timeout=10,
    ),
)


def read_items(bucket: str, key: str) -> list[BackupItem]:
    """The run's items as the list step stored them."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        raise StorageError(f"the item list s3://{bucket}/{key} is missing") from None
    return [BackupItem.from_json(entry) for entry in json.loads(body)]


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    """Build the run zip and manifest; return the notification for the summary."""
    run_id = str(event["run_id"])
    logger.append_keys(run_id=run_id)
    listed = event.get("items") or {}
    bucket = listed.get("bucket") or os.environ["BACKUP_BUCKET"]
    items = read_items(bucket, listed.get("key") or items_list_key(run_id))
    summary = assemble_run(
        s3,
        bucket=bucket,
        run_id=run_id,
        items=items,
        storage_class=os.environ.get("RUN_ARCHIVE_STORAGE_CLASS") or DEFAULT_STORAGE_CLASS,
        kms_key_id=os.environ.get("RUN_ARCHIVE_KMS_KEY_ID") or None,
        started_at=event.get("started_at"),
        execution=event.get("execution"),
        copy_workers=COPY_WORKERS,
        # Set by Terraform when the bucket has Object Lock: runs/ objects only, one by one.
        object_lock_mode=os.environ.get("RUN_ARCHIVE_OBJECT_LOCK_MODE") or None,
        object_lock_days=int(os.environ.get("RUN_ARCHIVE_OBJECT_LOCK_DAYS") or 0) or None,
        latest_storage_class=os.environ.get("LATEST_STORAGE_CLASS")
        or incremental.DEFAULT_LATEST_STORAGE_CLASS,
    ).to_json()
    counts = summary["counts"]
    metrics.add_metric(name="ItemsBackedUp", unit=MetricUnit.Count, value=counts["succeeded"])
    metrics.add_metric(name="ItemsFailed", unit=MetricUnit.Count, value=counts["failed"])
    metrics.add_metric(name="BytesStored", unit=MetricUnit.Bytes, value=summary["bytes"])
    for failed in summary.get("failed", []):
        logger.warning("item failed", extra={"item": failed.get("item_key"), **failed})
    logger.info("run finalized", extra={"status": summary["status"], "counts": counts})
    return notification(summary)
