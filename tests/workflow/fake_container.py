"""A stand-in for ``python -m container.entrypoint`` that needs no GitHub.

Reads the same environment (BACKUP_BATCH, RUN_ID, BACKUP_BUCKET, BACKUP_PREFIX,
AWS_ENDPOINT_URL, GHBACKUP_CONCURRENCY) and runs the batch through the real
``ghbackup.batch.backup_batch`` (skipping, stopping, exit codes), but each capture writes a
small valid item zip and its result.json instead of talking to GitHub:
- an item whose name contains "broken" fails for good (NotFound: result.json says failed);
- one containing "unavailable" fails in a way a retry may fix (GitHubUnavailable).
FAKE_CONTAINER_SECONDS makes each capture take that long (to observe concurrency and
stops); FAKE_CONTAINER_CAPTURE_LOG names a file that gets one line per capture.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import sys
import tempfile
import threading
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import boto3

from ghbackup.batch import backup_batch, has_final_result, read_item_list
from ghbackup.records import BackupItem, BatchPointer, ItemResult
from ghbackup.store import S3Destination


def main() -> int:
    run_id = os.environ["RUN_ID"]
    destination = S3Destination(
        boto3.client("s3"), os.environ["BACKUP_BUCKET"], os.environ["BACKUP_PREFIX"]
    )
    pointer = BatchPointer.from_json(os.environ["BACKUP_BATCH"])
    items = pointer.select(read_item_list(destination))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())

    def capture(item: BackupItem) -> ItemResult:
        started = datetime.now(UTC).isoformat()
        time.sleep(float(os.environ.get("FAKE_CONTAINER_SECONDS", "0")))
        result = ItemResult(
            item=item, status="succeeded", run_id=run_id, started_at=started, finished_at=started
        )
        if "broken" in item.key:
            result.status, result.error_type, result.error = "failed", "NotFound", "GET: 404"
        elif "unavailable" in item.key:
            result.status, result.error_type, result.error = "failed", "GitHubUnavailable", "503"
        else:
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as archive:
                archive.writestr(f"{item.archive_root}data.json", json.dumps(item.to_json()))
                archive.writestr(f"{item.archive_root}manifest.json", '{"complete": true}')
            body = buffer.getvalue()
            result.zip_bytes, result.zip_sha256 = len(body), hashlib.sha256(body).hexdigest()
            with tempfile.TemporaryDirectory() as scratch:
                zip_path = Path(scratch) / "item.zip"
                zip_path.write_bytes(body)
                result.zip_key = destination.store_zip(result, zip_path)
        destination.store_result(result)
        log = os.environ.get("FAKE_CONTAINER_CAPTURE_LOG")
        if log:
            with open(log, "a", encoding="utf-8") as handle:
                handle.write(f"{item.key}\n")
        print(f"captured {item.key}: {result.status}", flush=True)
        return result

    outcome = backup_batch(
        items,
        capture,
        already_final=lambda item: has_final_result(destination, item, run_id),
        concurrency=int(os.environ.get("GHBACKUP_CONCURRENCY", "4")),
        stop=stop,
        grace_seconds=60,
    )
    print(f"batch {pointer.batch}: exit {outcome.exit_code}", file=sys.stderr)
    return outcome.exit_code


if __name__ == "__main__":
    sys.exit(main())
