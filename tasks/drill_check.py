"""Lambda: is the drilled run zip readable yet?

Event ``{"plan": <DrillPlan>}``; returns ``{"readable_at": <UTC time>}``, or raises
RestoreInProgress while S3 is restoring it: the state machine's Retry on that error is the
poll loop (it waits, then asks again, for as long as the tier takes). UnknownRun when the
run zip is gone.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from ghbackup.credentials import redacting_json
from ghbackup.drill import check_readable
from ghbackup.records.drills import DrillPlan

logger = Logger(json_serializer=redacting_json)
tracer = Tracer()
s3 = boto3.client(
    "s3",
    config=Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=10,
                  read_timeout=60),
)  # fmt: skip


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    """RestoreInProgress until the run zip can be read; then when it was seen readable."""
    plan = DrillPlan.from_json(event["plan"])
    logger.append_keys(drill_id=plan.drill_id, run_id=plan.run_id)
    return {"readable_at": check_readable(s3, os.environ["BACKUP_BUCKET"], plan)}
