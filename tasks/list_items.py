"""Lambda: expand the selection into items and store them for the Distributed Map.

Event ``{"run_id", "selection"}``; writes ``staging/<run_id>/items.json`` (a JSON array of
BackupItem records, every item of the run) and ``staging/<run_id>/batches.json`` (a JSON
array of BatchPointer records, one per Map item: a range of items.json grouped by the
repositories' sizes under the selection's ``batch_max_items`` and ``batch_max_bytes``, each
carrying the selection's ``verify_items`` to its task) and
returns ``{"bucket", "key", "count", "batches_key", "batch_count"}``. Before batching, items
whose every signal says unchanged since their last capture are staged from their warm copy
(ghbackup/incremental.py) and get no batch. GitHub credentials come from
SSM Parameter Store (SecureString, decrypted) or Secrets Manager, read as the ECS task reads
them (ghbackup.stored_credentials) and cached between warm invocations.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from ghbackup.batch import (
    DEFAULT_BATCH_MAX_BYTES,
    DEFAULT_BATCH_MAX_ITEMS,
    plan_batches,
)
from ghbackup.credentials import DEFAULT_API_URL, Credentials, redacting_json
from ghbackup.github import GitHubClient, RetryPolicy
from ghbackup.incremental import DEFAULT_FULL_CAPTURE_AFTER_DAYS, plan_run
from ghbackup.probes import PROBE_WORKERS
from ghbackup.records import batches_list_key, items_list_key
from ghbackup.selection import Selection, expand_selection
from ghbackup.stored_credentials import read_stored_credentials

# Every field of every line scrubbed of secrets, tracebacks and extra keys included.
logger = Logger(json_serializer=redacting_json)
tracer = Tracer()
metrics = Metrics(namespace="ghbackup")
# Every probe thread reads and copies warm copies at once: one pooled connection each (a
# smaller pool drops connections, and urllib3 warns "Connection pool is full" each time).
s3 = boto3.client("s3", config=Config(max_pool_connections=PROBE_WORKERS + 4))

CREDENTIALS_MAX_AGE_SECONDS = 300
# Lambda time kept after probing: planning batches, storing the item records of the items
# not probed (one PUT each) and items.json.
FINISHING_SECONDS = 120.0


def load_credentials(api_url: str) -> Credentials:
    """The GitHub credentials named by GITHUB_CREDENTIALS_PARAMETER or _SECRET."""
    return read_stored_credentials(os.environ, api_url, max_age=CREDENTIALS_MAX_AGE_SECONDS)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """List the run's items, store them as one JSON array, return its location and count."""
    run_id = str(event["run_id"])
    logger.append_keys(run_id=run_id)
    bucket = os.environ["BACKUP_BUCKET"]
    api_url = os.environ.get("GITHUB_API_URL", DEFAULT_API_URL)
    selection = Selection.from_json(event.get("selection") or {})
    # A rate-limit wait must end while the function still runs; longer, fail with a name the
    # state machine retries (RateLimitExceeded) instead of a Lambda timeout.
    remaining = context.get_remaining_time_in_millis() / 1000
    policy = RetryPolicy(max_rate_limit_wait=max(10.0, remaining - 60.0))
    client = GitHubClient.from_credentials(api_url, load_credentials(api_url), policy=policy)
    sizes: dict[str, int] = {}
    listed = expand_selection(client, selection, sizes)
    settings = event.get("selection") or {}
    # Probing stops in time for what follows (batches, items.json) and for the item
    # records of whatever was not probed yet: those items are captured instead.
    probe_until = time.monotonic() + remaining - FINISHING_SECONDS
    plan = plan_run(
        s3, bucket, run_id, listed, client,
        time_left=lambda: probe_until - time.monotonic(),
        full=bool(settings.get("full", False)),
        full_capture_after_days=int(
            settings.get("full_capture_after_days") or DEFAULT_FULL_CAPTURE_AFTER_DAYS
        ),
    )  # fmt: skip
    # Batches cover the items to capture, which plan.items puts first; reused items are
    # already staged and need no task.
    items = plan.items
    batches = plan_batches(
        [sizes.get(item.key) for item in plan.capture],
        max_items=int(settings.get("batch_max_items") or DEFAULT_BATCH_MAX_ITEMS),
        max_bytes=int(settings.get("batch_max_bytes") or DEFAULT_BATCH_MAX_BYTES),
        verify_items=bool(settings.get("verify_items", True)),
    )
    key, batches_key = items_list_key(run_id), batches_list_key(run_id)
    # items.json first: a batch points into it.
    _put_json(bucket, key, [item.to_json() for item in items])
    _put_json(bucket, batches_key, [batch.to_json() for batch in batches])
    for item in items:
        logger.debug("item to back up", extra={"item": item.key})
    metrics.add_metric(name="ItemsListed", unit=MetricUnit.Count, value=len(items))
    metrics.add_metric(name="BatchesPlanned", unit=MetricUnit.Count, value=len(batches))
    metrics.add_metric(name="ItemsReused", unit=MetricUnit.Count, value=len(plan.reused))
    logger.info(
        "items listed",
        extra={"count": len(items), "reused": len(plan.reused), "batches": len(batches),
               "key": key},
    )  # fmt: skip
    return {
        "bucket": bucket,
        "key": key,
        "count": len(items),
        "batches_key": batches_key,
        "batch_count": len(batches),
    }


def _put_json(bucket: str, key: str, data: Any) -> None:
    body = json.dumps(data, separators=(",", ":")).encode()
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
