"""ECS task entrypoint of the restore drill: the same image, started with the command
``python -m container.drill`` (the drill state machine's container override).

Environment: DRILL_ID, DRILL_RUN_ID, DRILL_ITEMS (a JSON array of item keys), BACKUP_BUCKET,
optional GHBACKUP_SCRATCH_DIR and AWS_ENDPOINT_URL (local runs). The drill never talks to
GitHub: the credentials the task definition injects for backups are dropped from the
environment before anything runs, so no git process inherits them.

Writes ``drills/<DRILL_ID>/results.json`` (ghbackup.records.drills.DrillResults) and exits 0
when it is stored, whatever the items' results (a failed item is the drill's finding, not a
task failure); non-zero, with one line on stderr, only when it could not drill at all
(bad environment, the run manifest or the results unreadable or unwritable), which the state
machine retries.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import MutableMapping
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ghbackup.credentials import redact
from ghbackup.drill_task import drill_items
from ghbackup.errors import BackupError, ConfigurationError, StorageError
from ghbackup.records.drills import MAX_DRILL_ITEMS, drill_results_key

# What the task definition gives every task of the image; a drill needs none of it.
CREDENTIAL_VARIABLES = ("GITHUB_TOKEN", "GITHUB_APP_PRIVATE_KEY", "GITHUB_APP_ID",
                        "GITHUB_APP_INSTALLATION_ID")  # fmt: skip
S3_CONFIG = Config(
    retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=10, read_timeout=120
)


def _items(text: str) -> list[str]:
    try:
        items = json.loads(text)
    except json.JSONDecodeError:
        raise ConfigurationError("DRILL_ITEMS is not JSON") from None
    if (
        not isinstance(items, list)
        or not 1 <= len(items) <= MAX_DRILL_ITEMS
        or not all(isinstance(key, str) and key for key in items)
    ):
        raise ConfigurationError(f"DRILL_ITEMS must be 1 to {MAX_DRILL_ITEMS} item keys")
    return items


def main(env: MutableMapping[str, str] | None = None) -> int:
    """Drill the items; 0 once the results are stored."""
    env = os.environ if env is None else env
    for name in CREDENTIAL_VARIABLES:
        env.pop(name, None)
    try:
        missing = [n for n in ("DRILL_ID", "DRILL_RUN_ID", "DRILL_ITEMS", "BACKUP_BUCKET")
                   if not env.get(n)]  # fmt: skip
        if missing:
            raise ConfigurationError(f"missing environment: {', '.join(missing)}")
        bucket, drill_id = env["BACKUP_BUCKET"], env["DRILL_ID"]
        s3 = boto3.client("s3", config=S3_CONFIG)
        scratch_root = env.get("GHBACKUP_SCRATCH_DIR") or None
        with tempfile.TemporaryDirectory(prefix="ghbackup-drill-", dir=scratch_root) as scratch:
            results = drill_items(
                s3,
                bucket,
                drill_id=drill_id,
                run_id=env["DRILL_RUN_ID"],
                item_keys=_items(env["DRILL_ITEMS"]),
                scratch=Path(scratch),
            )
        key = drill_results_key(drill_id)
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=results.to_bytes())
        except (ClientError, BotoCoreError) as exc:  # one line, and the state machine retries
            raise StorageError(f"PutObject s3://{bucket}/{key} failed: {exc}") from None
    except BackupError as exc:
        print(f"drill: {type(exc).__name__}: {redact(str(exc))}", file=sys.stderr, flush=True)
        return exc.exit_code
    for item in results.items:
        outcome = "passed" if item.status == "passed" else f"FAILED {item.check}: {item.error}"
        print(f"drill {drill_id}: {item.item_key}: {outcome}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
