"""Lambda: write the drill's report and return the notification to publish.

Event ``{"drill_id", "started_at", "plan": <DrillPlan> | null, "error": {"Error", "Cause"}
| null}`` (``error``: what a Catch caught before the drill task's results existed). Writes
``drills/<id>/report.json``, removes the task's results.json, records the metrics
DrillsSucceeded / DrillsFailed and returns ``{"status", "subject", "message"}``.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from ghbackup.credentials import redacting_json
from ghbackup.drill import notification, report_drill
from ghbackup.records.drills import DrillPlan

logger = Logger(json_serializer=redacting_json)
tracer = Tracer()
metrics = Metrics(namespace="ghbackup")
s3 = boto3.client(
    "s3",
    config=Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=10,
                  read_timeout=60),
)  # fmt: skip


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    """Store the report of ``event["drill_id"]``; return what the topic gets."""
    drill_id = str(event["drill_id"])
    logger.append_keys(drill_id=drill_id)
    plan = DrillPlan.from_json(event["plan"]) if event.get("plan") else None
    report = report_drill(
        s3,
        os.environ["BACKUP_BUCKET"],
        drill_id,
        started_at=str(event["started_at"]),
        plan=plan,
        error=event.get("error") or None,
    )
    name = "DrillsSucceeded" if report.status == "SUCCEEDED" else "DrillsFailed"
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
    logger.info("drill reported", extra={"status": report.status, "run_id": report.run_id})
    return notification(report)
