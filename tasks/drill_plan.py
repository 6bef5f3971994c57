"""Lambda: choose the run and the items a restore drill checks, and ask S3 to restore the
run zip when it is in a Glacier class.

Event ``{"drill_id": <execution name>, "input": <execution input>}`` (fields of
``docs/schemas/drill-request.schema.json``, over the defaults in env ``DRILL_DEFAULT_INPUT``);
returns the ``DrillPlan`` the state machine carries. Raises InvalidInput for a bad input,
UnknownRun when there is no run (or its run zip is gone), RetrievalNotAvailable for a tier
S3 refuses.
"""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from ghbackup.credentials import redacting_json
from ghbackup.drill import parse_request, plan_drill
from ghbackup.errors import InvalidInput

logger = Logger(json_serializer=redacting_json)
tracer = Tracer()
s3 = boto3.client(
    "s3",
    config=Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=10,
                  read_timeout=60),
)  # fmt: skip


def _defaults() -> dict[str, Any]:
    try:
        defaults = json.loads(os.environ.get("DRILL_DEFAULT_INPUT") or "{}")
    except json.JSONDecodeError:
        raise InvalidInput("DRILL_DEFAULT_INPUT is not JSON") from None
    return defaults if isinstance(defaults, dict) else {}


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Plan the drill ``event["drill_id"]``; return its DrillPlan."""
    drill_id = str(event["drill_id"])
    logger.append_keys(drill_id=drill_id)
    given = event.get("input")
    if given is not None and not isinstance(given, dict):
        raise InvalidInput("drill input must be a JSON object")
    request = parse_request({**_defaults(), **(given or {})})
    # Set by the local runner only: its emulated S3 restores at once.
    cap = os.environ.get("DRILL_MAX_FIRST_WAIT_SECONDS")
    plan = plan_drill(
        s3, os.environ["BACKUP_BUCKET"], drill_id, request,
        max_wait_seconds=int(cap) if cap else None,
    )  # fmt: skip
    logger.info("drill planned", extra={"run_id": plan.run_id, "restore": plan.restore,
                                        "items": len(plan.items)})  # fmt: skip
    return plan.to_json()
