"""Lambda: check the execution input and merge it over the configured defaults.

Event ``{"run_id": <execution name>, "input": <execution input>}``; result
``{"run_id", "selection"}``. It records no metrics (a rejected input fails the execution,
which Step Functions counts already), so it has no Metrics decorator. A bad input raises InvalidInput (the ASL error name) whose
message names the field.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from ghbackup.credentials import redacting_json
from ghbackup.execution_input import normalise_input, parse_defaults

# Every field of every line scrubbed of secrets, tracebacks and extra keys included.
logger = Logger(json_serializer=redacting_json)
tracer = Tracer()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Validate ``event["input"]``; return the normalised selection for the list step."""
    run_id = str(event.get("run_id", ""))
    logger.append_keys(run_id=run_id)
    selection = normalise_input(event.get("input"), parse_defaults(os.environ.get("DEFAULT_INPUT")))
    logger.info("execution input accepted", extra={"selection": selection})
    return {"run_id": run_id, "selection": selection}
