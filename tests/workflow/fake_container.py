"""A stand-in for ``python -m container.entrypoint`` that needs no GitHub.

Reads the same environment (BACKUP_ITEM, RUN_ID, BACKUP_BUCKET, BACKUP_PREFIX,
AWS_ENDPOINT_URL), writes a small but valid item zip and its result.json, and exits 0.
An item whose name contains "broken" fails every time: result.json says failed, exit 3.
FAKE_CONTAINER_SECONDS makes each task take that long (to observe concurrency).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import time
import zipfile
from datetime import UTC, datetime

import boto3

from ghbackup.records import BackupItem, ItemResult, item_result_key, item_zip_key


def main() -> int:
    item = BackupItem.from_json(os.environ["BACKUP_ITEM"])
    run_id, bucket, prefix = (
        os.environ["RUN_ID"],
        os.environ["BACKUP_BUCKET"],
        os.environ["BACKUP_PREFIX"],
    )
    started = datetime.now(UTC).isoformat()
    time.sleep(float(os.environ.get("FAKE_CONTAINER_SECONDS", "0")))
    s3 = boto3.client("s3")
    result = ItemResult(
        item=item, status="succeeded", run_id=run_id, started_at=started, finished_at=started
    )
    code = 0
    if "broken" in item.key:
        result.status, result.error_type, result.error = "failed", "GitHubError", "GET: 500"
        code = 3
    else:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(f"{item.archive_root}data.json", json.dumps(item.to_json()))
            archive.writestr(f"{item.archive_root}manifest.json", json.dumps({"complete": True}))
        body = buffer.getvalue()
        key = item_zip_key(prefix, item)
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        result.zip_key, result.zip_bytes = key, len(body)
        result.zip_sha256 = hashlib.sha256(body).hexdigest()
    s3.put_object(
        Bucket=bucket, Key=item_result_key(prefix, item), Body=json.dumps(result.to_json()).encode()
    )
    if code:
        print(f"GitHubError: {result.error}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
