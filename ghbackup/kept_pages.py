"""The API pages of an item's last capture, kept between incremental runs.

A task stores the pages its capture read (``staging/R/items/<key>/pages.json.gz``, a gzipped
``PageCache``); Finalize keeps them beside the warm copy (``latest/<key>/pages.json.gz``); the
next capture of the item, when it changed, asks each page with its ETag and an unchanged one
costs a 304 (no primary rate limit). Every failure here only costs requests: never raises
into a capture.
"""

from __future__ import annotations

import gzip
import logging
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from ghbackup import s3 as s3io
from ghbackup.errors import BackupError
from ghbackup.github import GitHubClient
from ghbackup.records import (
    BackupItem,
    ItemResult,
    PageCache,
    item_pages_key,
    latest_pages_key,
    staging_prefix,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

# A capture's pages larger than this (compressed) are not kept: the next capture asks them.
MAX_PAGES_BYTES = 256 * 1024 * 1024


def keep_pages(
    s3: S3Client, bucket: str, run_id: str, item: BackupItem, client: GitHubClient
) -> None:
    """After a succeeded capture in a run on S3: store the pages ``client`` read, beside the
    item's zip. Finalize keeps them with the item's state when the list step recorded what
    it saw of the item (every run on S3 goes through it); otherwise they go with staging.
    Never raises."""
    if item.kind == "account":
        return
    cache = client.export_pages()
    if not cache.pages:
        return
    body = gzip.compress(cache.to_bytes(), compresslevel=6)
    if len(body) > MAX_PAGES_BYTES:
        log.info("%s: %d bytes of pages are not kept", item.key, len(body))
        return
    try:
        s3.put_object(Bucket=bucket, Key=item_pages_key(staging_prefix(run_id), item),
                      Body=body, ContentType="application/gzip")  # fmt: skip
    except (BotoCoreError, ClientError) as exc:
        log.warning("%s: pages not kept (%s)", item.key, s3io.error_code(exc))


def load_pages(s3: S3Client, bucket: str, item: BackupItem, client: GitHubClient) -> None:
    try:
        data = s3io.get(s3, bucket, latest_pages_key(item))["Data"]
        if len(data) > MAX_PAGES_BYTES:
            return
        cache = PageCache.from_json(gzip.decompress(data))
    except (BackupError, ValueError, OSError, EOFError) as exc:
        # Missing (the first capture since pages were kept) or unreadable: every page is
        # asked in full, as without a cache.
        log.info("%s: no pages from the last capture (%s)", item.key, type(exc).__name__)
        return
    log.info("%s: %d pages from the last capture", item.key, client.import_pages(cache))


def keep_latest_pages(s3: S3Client, bucket: str, result: ItemResult, storage_class: str) -> None:
    """The capture's pages beside its warm copy; none kept (an older task, or too large)
    leaves the previous ones, which still vouch for themselves."""
    source = item_pages_key(staging_prefix(result.run_id), result.item)
    try:
        s3.copy_object(Bucket=bucket, Key=latest_pages_key(result.item),
                       CopySource={"Bucket": bucket, "Key": source},
                       StorageClass=storage_class)  # type: ignore[arg-type]  # fmt: skip
    except ClientError as exc:
        if s3io.error_code(exc) not in ("NoSuchKey", "404"):
            raise s3io.storage_error("CopyObject", bucket, source, exc) from None
    except BotoCoreError as exc:
        raise s3io.storage_error("CopyObject", bucket, source, exc) from None
