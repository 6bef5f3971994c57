"""Where a captured item goes: an S3 staging prefix or a local directory.

The zip is stored first, then its result record; a failed item gets a result record and no
zip. Every attempt writes the same two keys, so a rerun overwrites what an earlier one left;
only the result says what is current. On S3 a zip an earlier attempt left beside a failed
result stays (the task's role may not delete: it writes staging and nothing else): Finalize
reads only the zips that succeeded results name, and deletes the staging prefix after the
run. A local directory has no such rule, so there the stale zip is removed. Uploads stream
(boto3's managed multipart upload) and carry the zip's SHA-256 as metadata so Finalize and
restore can check it without reading the bytes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ghbackup import s3 as s3io
from ghbackup.errors import StorageError
from ghbackup.records import ItemResult, item_result_key, item_zip_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class Destination(Protocol):
    """A place that keeps one run's per-item zips and result records."""

    def store_zip(self, result: ItemResult, zip_path: Path) -> str: ...

    def store_result(self, result: ItemResult) -> str: ...


class DirectoryDestination:
    """``<root>/items/<item key>/item.zip`` and ``result.json``, written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def store_zip(self, result: ItemResult, zip_path: Path) -> str:
        target = self.root / item_zip_key("", result.item)
        partial = target.with_suffix(".zip.partial")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(zip_path), partial)  # a copy when the scratch is another disk
            os.replace(partial, target)
        except OSError as exc:
            partial.unlink(missing_ok=True)  # a cut copy (full disk) is not a zip
            raise StorageError(f"storing the zip at {target} failed: {exc.strerror}") from None
        return str(target)

    def store_result(self, result: ItemResult) -> str:
        target = self.root / item_result_key("", result.item)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(target, result.to_bytes())
            if result.status != "succeeded":
                # An earlier capture's zip must not sit beside this failure as if current.
                (self.root / item_zip_key("", result.item)).unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot write {target}: {exc.strerror}") from None
        return str(target)


class S3Destination:
    """Keys under a staging prefix of a bucket (the bucket's default SSE-KMS applies)."""

    def __init__(self, s3: S3Client, bucket: str, prefix: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix

    def store_zip(self, result: ItemResult, zip_path: Path) -> str:
        from boto3.exceptions import Boto3Error
        from boto3.s3.transfer import TransferConfig
        from botocore.exceptions import BotoCoreError, ClientError

        key = item_zip_key(self.prefix, result.item)
        config = TransferConfig(
            multipart_threshold=64 * 1024 * 1024, multipart_chunksize=64 * 1024 * 1024
        )
        try:
            self.s3.upload_file(
                str(zip_path),
                self.bucket,
                key,
                ExtraArgs={
                    "ContentType": "application/zip",
                    "Metadata": {"sha256": result.zip_sha256 or "", "item": result.item.key},
                },
                Config=config,
            )
            head = self.s3.head_object(Bucket=self.bucket, Key=key)
        except (Boto3Error, BotoCoreError, ClientError) as exc:
            raise s3io.storage_error("upload", self.bucket, key, exc) from None
        if head.get("ContentLength") != result.zip_bytes:
            raise StorageError(
                f"s3://{self.bucket}/{key} holds {head.get('ContentLength')} bytes, expected {result.zip_bytes}"
            )
        return key

    def store_result(self, result: ItemResult) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        # A failed result does not delete an earlier attempt's zip (see the module's note).
        key = item_result_key(self.prefix, result.item)
        body = result.to_bytes()
        try:
            self.s3.put_object(
                Bucket=self.bucket, Key=key, Body=body, ContentType="application/json"
            )
        except (BotoCoreError, ClientError) as exc:
            raise s3io.storage_error("PutObject", self.bucket, key, exc) from None
        return key


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
