"""S3 access for the core: reads, heads and deletes whose failures keep S3's error code.

Every S3 failure becomes a StorageError naming the operation and the object, with S3's own
error code in ``code`` (``InvalidObjectState`` for an archived object, ``NoSuchKey``...), so
callers decide on the code, never on message text.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from ghbackup.errors import ArchiveCorrupt, ConfigurationError, StorageError

DELETE_BATCH = 1000


def error_code(exc: BaseException) -> str:
    """S3's error code of a botocore ClientError (``NoSuchKey``, ``InvalidObjectState``...),
    or the exception's type for anything else (a timeout, a connection error)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code") or "Unknown")
    return type(exc).__name__


def storage_error(op: str, bucket: str, key: str, exc: BaseException) -> StorageError:
    """A StorageError for a failed S3 call that keeps S3's error code in ``code``."""
    code = error_code(exc)
    return StorageError(f"S3 {op} s3://{bucket}/{key} failed: {code}", code=code)


def get(s3: Any, bucket: str, key: str, byte_range: str | None = None) -> dict[str, Any]:
    """GetObject with the body read; raises StorageError."""
    kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if byte_range:
        kwargs["Range"] = byte_range
    try:
        resp = s3.get_object(**kwargs)
        resp["Data"] = resp["Body"].read()
    except ClientError as exc:
        raise storage_error("GetObject", bucket, key, exc) from None
    return resp


def get_range(s3: Any, bucket: str, key: str, start: int, end: int) -> bytes:
    """Bytes [start, end) of an object."""
    if end <= start:
        return b""
    data = get(s3, bucket, key, f"bytes={start}-{end - 1}")["Data"]
    if len(data) != end - start:
        raise ArchiveCorrupt(f"s3://{bucket}/{key}: short read at {start}")
    return data


def total_size(resp: dict[str, Any]) -> int:
    content_range = resp.get("ContentRange")
    if content_range and "/" in content_range:
        return int(content_range.rsplit("/", 1)[1])
    return int(resp["ContentLength"])


def read_json(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """A JSON object, or None when the key does not exist."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if error_code(exc) in ("NoSuchKey", "404"):
            return None
        raise storage_error("GetObject", bucket, key, exc) from None
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        raise ArchiveCorrupt(f"s3://{bucket}/{key} is not valid JSON") from None
    if not isinstance(data, dict):
        raise ArchiveCorrupt(f"s3://{bucket}/{key} is not a JSON object")
    return data


def head(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if error_code(exc) in ("NoSuchKey", "404", "NotFound"):
            return None
        raise storage_error("HeadObject", bucket, key, exc) from None


def precondition_failed(exc: BaseException) -> bool:
    """A conditional write refused: the object exists (412), or a racing conditional
    write to the same key is in progress (409)."""
    return error_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict")


def sse_kms(kms_key_id: str | None) -> dict[str, str]:
    """The parameters of a write encrypted with SSE-KMS under the named key; none without a
    key, so the bucket's default encryption (SSE-S3 or aws/s3) applies, as its policy expects
    of an upload that names nothing."""
    if not kms_key_id:
        return {}
    return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id}


def object_lock(mode: str | None, days: int | None, now: datetime) -> dict[str, Any]:
    """Object Lock parameters retaining a runs/ object ``days`` from ``now`` (none without a
    mode). Set per object so that staging/ is never locked."""
    if not mode:
        return {}
    if mode not in ("GOVERNANCE", "COMPLIANCE") or not days or days < 1:
        raise ConfigurationError(
            f"object lock needs GOVERNANCE or COMPLIANCE and days >= 1, not {mode!r}/{days!r}"
        )
    return {"ObjectLockMode": mode, "ObjectLockRetainUntilDate": now + timedelta(days=days)}


def content_md5(body: bytes) -> str:
    """Content-MD5 of an upload: S3 requires it (or a checksum) on uploads that carry Object
    Lock retention."""
    return base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()


def abort_stale_uploads(s3: Any, bucket: str, key: str) -> int:
    """Abort every unfinished multipart upload for exactly ``key``; returns how many."""
    aborted = 0
    try:
        for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=key):
            for upload in page.get("Uploads", []):
                if upload["Key"] == key:
                    s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"])
                    aborted += 1
    except ClientError as exc:
        raise storage_error("AbortMultipartUpload", bucket, key, exc) from None
    return aborted


def delete_prefix(s3: Any, bucket: str, prefix: str) -> int:
    """Delete every object under ``prefix``, 1,000 keys per call; returns how many."""
    deleted = 0

    def flush(keys: list[str]) -> None:
        try:
            resp = s3.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True}
            )
        except ClientError as exc:
            raise storage_error("DeleteObjects", bucket, prefix, exc) from None
        if resp.get("Errors"):
            first = resp["Errors"][0]
            raise StorageError(
                f"S3 DeleteObjects s3://{bucket}/{first.get('Key')} failed: {first.get('Code')}"
                f" ({len(resp['Errors'])} keys not deleted)"
            )

    batch: list[str] = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                batch.append(obj["Key"])
                if len(batch) == DELETE_BATCH:
                    flush(batch)
                    deleted += len(batch)
                    batch = []
    except ClientError as exc:
        raise storage_error("ListObjectsV2", bucket, prefix, exc) from None
    if batch:
        flush(batch)
        deleted += len(batch)
    return deleted
