"""Finalize: one zip and one manifest per run, assembled inside S3 from the per-item zips.

Finalize reads every item's ``result.json`` (a missing or malformed one makes the item
failed), builds the run zip with ``ghbackup.runzip`` and stores the run manifest.

The run manifest (``runs/R/manifest.json``) records, per item, where its entries and its
central records sit in the run zip, so one repository can be restored with two ranged reads
(``ghbackup.extract``). It does not hold a SHA-256 of the whole run zip: computing
one would mean reading every byte. Integrity is carried by each item's ``zip_sha256`` (from
its result record, computed by the task that wrote it), the entries' CRC-32s, and the ETags
S3 returned for each part.

Idempotence: a finished run (its manifest exists) is returned as recorded; otherwise stale
multipart uploads for the run zip's key are aborted and the zip is built again under the same
key. Staging objects are deleted only after the run zip and the manifest are stored. Both
record the execution that wrote them (the zip in its ``execution`` metadata): a run id whose
zip or manifest belongs to another execution is RunAlreadyExists, and the writes are
conditional (``If-None-Match: *``) so two executions racing cannot replace each other's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from ghbackup import incremental, runzip, zipformat
from ghbackup import s3 as s3io
from ghbackup.errors import ArchiveCorrupt, BackupError, ConfigurationError, RunAlreadyExists
from ghbackup.records import (
    BackupItem,
    ItemResult,
    ReusedItems,
    RunArchive,
    RunCounts,
    RunItem,
    RunManifest,
    RunPart,
    RunStatus,
    RunSummary,
    Validators,
    item_result_key,
    parse_timestamp,
    reused_items_key,
    run_archive_key,
    run_manifest_key,
    staging_prefix,
    utc_timestamp,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

# Requests in flight: UploadPartCopy calls, and separately the GETs of result records and
# item zip ends (read ahead in order, so memory stays bounded by this many reads). S3 moves
# the bytes while Finalize waits: many copies in flight, and as many pooled connections
# (twice this: copies and reads), keep a large run inside Lambda's 15 minutes.
COPY_WORKERS = 32
DEFAULT_STORAGE_CLASS = "GLACIER"
STORAGE_CLASSES = ("GLACIER", "DEEP_ARCHIVE", "GLACIER_IR", "STANDARD_IA", "STANDARD")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _check_owner(
    run_id: str, owner: str | None, execution: str | None, bucket: str, key: str
) -> None:
    """RunAlreadyExists when ``key`` was written by an execution other than ``execution``
    (either unknown: not checkable, as before executions were recorded)."""
    if owner and execution and owner != execution:
        raise RunAlreadyExists(
            f"run {run_id} already exists: s3://{bucket}/{key} belongs to execution {owner}; "
            "not replacing it"
        )


def _reused_results(s3: S3Client, bucket: str, run_id: str) -> dict[str, ItemResult]:
    """The results the list step recorded for the items it reused, by item key (none for a
    run that reused nothing). An unreadable record is refused whole: those items then have
    no result and count as failed, never as captured."""
    try:
        data = s3io.read_json(s3, bucket, reused_items_key(run_id))
        record = ReusedItems.from_json(data) if data is not None else ReusedItems()
    except (BackupError, ValueError) as exc:
        log.error("the reused items' results are unreadable: %s", exc)
        return {}
    return {
        result.item.key: result
        for result in record.results
        if result.run_id == run_id and result.capture == "reused"
    }


def _load_result(
    s3: S3Client, bucket: str, run_id: str, item: BackupItem, reused: dict[str, ItemResult]
) -> ItemResult:
    """The item's result record; a missing or unreadable one becomes a failed result."""
    if item.key in reused:
        return _checked(reused[item.key], item, run_id)
    key = item_result_key(staging_prefix(run_id), item)
    try:
        data = s3io.read_json(s3, bucket, key)
    except BackupError as exc:
        return ItemResult.failed(item, run_id, type(exc).__name__, str(exc))
    if data is None:
        return ItemResult.failed(
            item, run_id, "StorageError", "no result record: the task did not finish"
        )
    try:
        result = ItemResult.from_json(data)
    except ValueError as exc:
        return ItemResult.failed(
            item, run_id, "ArchiveCorrupt", f"result record is malformed: {exc}"
        )
    return _checked(result, item, run_id)


def _checked(result: ItemResult, item: BackupItem, run_id: str) -> ItemResult:
    """``result`` when it is the item's own and consistent, else a failed result."""
    if result.item.key != item.key:
        return ItemResult.failed(
            item, run_id, "ArchiveCorrupt", f"result record is for {result.item.key}"
        )
    if result.status == "succeeded" and not result.zip_key:
        result.status, result.error_type = "failed", "ArchiveCorrupt"
        result.error = "result says succeeded but names no zip"
    return result


def _status(total: int, succeeded: int) -> RunStatus:
    if succeeded == total:
        return "SUCCEEDED"  # an empty account (0 items) included
    return "PARTIAL" if succeeded else "FAILED"


def assemble_run(
    s3: S3Client,
    *,
    bucket: str,
    run_id: str,
    items: list[BackupItem],
    storage_class: str = DEFAULT_STORAGE_CLASS,
    kms_key_id: str | None = None,
    started_at: str | None = None,
    clock: Callable[[], datetime] = _utcnow,
    delete_staging_after: bool = True,
    copy_workers: int = COPY_WORKERS,
    execution: str | None = None,
    object_lock_mode: str | None = None,
    object_lock_days: int | None = None,
    latest_storage_class: str = incremental.DEFAULT_LATEST_STORAGE_CLASS,
) -> RunSummary:
    """Build the run zip and the run manifest from the staged per-item zips.

    No run zip is written when no item succeeded (FAILED, or SUCCEEDED for 0 items); the
    manifest always is. Returns the recorded summary when the run was finalized before by
    the same ``execution``; RunAlreadyExists when another one wrote the zip or manifest.

    Incremental runs: each item captured (not reused) and succeeded becomes the item's warm
    copy under ``latest/`` (``latest_storage_class``), only after the manifest is stored.
    """
    if storage_class not in STORAGE_CLASSES:
        raise ConfigurationError(
            f"run archive storage class {storage_class!r} is not one of {', '.join(STORAGE_CLASSES)}"
        )
    began = parse_timestamp(started_at) if started_at else clock()
    archive_key, manifest_key = run_archive_key(run_id), run_manifest_key(run_id)

    recorded = s3io.read_json(s3, bucket, manifest_key)
    if recorded is not None:
        _check_owner(run_id, recorded.get("execution"), execution, bucket, manifest_key)
        manifest = RunManifest.from_json(recorded)
        if manifest.archive is not None:
            head = s3io.head(s3, bucket, archive_key)
            if head is None or head["ContentLength"] != manifest.archive.bytes:
                raise ArchiveCorrupt(
                    f"run {run_id} has a manifest but its zip s3://{bucket}/{archive_key} is"
                    " missing or has another size; refusing to overwrite"
                )
        # A previous attempt may have stopped before promoting or deleting staging.
        _promote_all(s3, bucket, run_id, manifest.items, latest_storage_class, copy_workers)
        if delete_staging_after:
            s3io.delete_prefix(s3, bucket, staging_prefix(run_id))
        return RunSummary.of(manifest)

    existing = s3io.head(s3, bucket, archive_key)
    if existing is not None:  # an attempt that stopped before the manifest: whose?
        owner = existing.get("Metadata", {}).get("execution")
        _check_owner(run_id, owner, execution, bucket, archive_key)
    # Only a zip of our own (or one from before executions were recorded) may be replaced.
    conditions = {"IfNoneMatch": "*"} if existing is None else {}

    keys = [i.key for i in items]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise ArchiveCorrupt(f"item {dup} is listed twice for run {run_id}")

    lock = s3io.object_lock(object_lock_mode, object_lock_days, clock()) if object_lock_mode else {}
    archive: RunArchive | None = None
    with ThreadPoolExecutor(max_workers=copy_workers, thread_name_prefix="read") as readers:
        reused = _reused_results(s3, bucket, run_id)
        results = list(runzip.in_order(
            readers, lambda item: _load_result(s3, bucket, run_id, item, reused), items,
            copy_workers,
        ))  # fmt: skip
        seen = _note_capture_modes(s3, bucket, run_id, results, readers, copy_workers)
        run_items = {r.item.key: RunItem.of(r) for r in results}
        if any(r.status == "succeeded" for r in results):
            archive = _build_archive(s3, bucket, archive_key, results, run_items, storage_class,
                                     kms_key_id, copy_workers, readers, execution,
                                     conditions, lock)  # fmt: skip

    succeeded = sum(1 for i in run_items.values() if i.status == "succeeded")
    if archive is None:
        s3io.abort_stale_uploads(s3, bucket, archive_key)
    finished = clock()
    manifest = RunManifest(
        run_id=run_id,
        status=_status(len(items), succeeded),
        started_at=utc_timestamp(began),
        finished_at=utc_timestamp(finished),
        counts=RunCounts(total=len(items), succeeded=succeeded, failed=len(items) - succeeded),
        bytes=archive.bytes if archive else 0,
        archive=archive,
        items=[run_items[k] for k in keys],
        execution=execution,
    )
    body = manifest.to_bytes()
    try:
        s3.put_object(Bucket=bucket, Key=manifest_key, Body=body, StorageClass="STANDARD",
                      ContentType="application/json", IfNoneMatch="*",
                      ContentMD5=s3io.content_md5(body),
                      **s3io.sse_kms(kms_key_id), **lock)  # fmt: skip
    except ClientError as exc:
        if s3io.precondition_failed(exc):
            raise RunAlreadyExists(
                f"run {run_id} already exists: s3://{bucket}/{manifest_key} was written by "
                "another execution meanwhile; not replacing it"
            ) from None
        raise s3io.storage_error("PutObject", bucket, manifest_key, exc) from None
    _promote_all(s3, bucket, run_id, manifest.items, latest_storage_class, copy_workers, seen)
    if delete_staging_after:
        s3io.delete_prefix(s3, bucket, staging_prefix(run_id))
    return RunSummary.of(manifest)


def _note_capture_modes(
    s3: S3Client,
    bucket: str,
    run_id: str,
    results: list[ItemResult],
    readers: ThreadPoolExecutor,
    workers: int,
) -> dict[str, Validators]:
    """Copy the list step's decision (captured, or in full, and why) into each captured
    item's result; reused items carry theirs already. Returns the validators read, by item
    key, for the promotion after the manifest."""
    captured = [r for r in results if r.capture != "reused"]
    seen = runzip.in_order(
        readers,
        lambda r: incremental.read_validators(s3, bucket, run_id, r.item),
        captured,
        workers,
    )
    found: dict[str, Validators] = {}
    for result, validators in zip(captured, seen, strict=True):
        if validators is not None:
            result.capture, result.capture_reason = validators.capture, validators.capture_reason
            found[result.item.key] = validators
    return found


def _promote_all(
    s3: S3Client,
    bucket: str,
    run_id: str,
    lines: list[RunItem],
    storage_class: str,
    workers: int,
    seen: dict[str, Validators] | None = None,
) -> None:
    """Make every item captured and succeeded in this run its item's warm copy (``seen``:
    the validators already read, by item key; the others are read). A failure is logged,
    never raised: the run is complete, and an item without a new state is only captured
    again next time."""

    def promote(line: RunItem) -> None:
        if line.status != "succeeded" or line.capture == "reused":
            return
        validators = (seen or {}).get(line.item_key) or incremental.read_validators(
            s3, bucket, run_id, line.item
        )
        if validators is None:
            return
        try:
            incremental.promote(s3, bucket, line, validators, storage_class=storage_class)
        except BackupError as exc:
            log.warning("warm copy of %s not updated: %s", line.item_key, exc)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="promote") as pool:
        list(pool.map(promote, lines))


def _build_archive(
    s3: S3Client,
    bucket: str,
    key: str,
    results: list[ItemResult],
    run_items: dict[str, RunItem],
    storage_class: str,
    kms_key_id: str | None,
    workers: int,
    readers: ThreadPoolExecutor,
    execution: str | None = None,
    conditions: dict[str, Any] | None = None,
    lock: dict[str, Any] | None = None,
) -> RunArchive | None:
    """The multipart upload of the run zip; marks items whose zip fails checks as failed.
    Returns the manifest's ``archive`` record, or None when no item zip was usable.
    ``conditions`` go with the completion (``IfNoneMatch``: only if no zip exists)."""
    s3io.abort_stale_uploads(s3, bucket, key)
    metadata: dict[str, Any] = {"Metadata": {"execution": execution}} if execution else {}
    try:
        upload_id = s3.create_multipart_upload(
            Bucket=bucket, Key=key, StorageClass=cast(Any, storage_class), ContentType="application/zip",
            **metadata, **s3io.sse_kms(kms_key_id), **(lock or {}),
        )["UploadId"]  # fmt: skip
    except ClientError as exc:
        raise s3io.storage_error("CreateMultipartUpload", bucket, key, exc) from None
    succeeded = [r for r in results if r.status == "succeeded"]
    writer = runzip.RunZipWriter(
        s3, bucket, key, upload_id, workers, runzip.copy_part_size(succeeded, workers)
    )
    try:
        seen: dict[bytes, str] = {}
        reads = runzip.in_order(
            readers, lambda r: runzip.try_inspect(s3, bucket, r), succeeded, workers
        )
        with closing(reads) as inspected:  # an error below stops the reads still queued
            for result, item_zip in zip(succeeded, inspected, strict=True):
                line = run_items[result.item.key]
                if isinstance(item_zip, BackupError):
                    line.status, line.error_type = "failed", type(item_zip).__name__
                    line.error = str(item_zip)
                    continue
                for entry in item_zip.entries:
                    other = seen.setdefault(entry.name, line.item_key)
                    if other != line.item_key:
                        raise ArchiveCorrupt(
                            f"entry {entry.filename!r} is in both {other} and {line.item_key}"
                        )
                line.zip_etag = item_zip.etag
                line.entries = len(item_zip.entries)
                writer.add(line.item_key, item_zip)
        if not writer.placements:
            writer.abort()
            return None
        placements, starts, cd_offset = writer.finish()
        merged: list[zipformat.CentralEntry] = []
        cd_pos = cd_offset
        for place in placements:
            line = run_items[place.item_key]
            begin = starts[place.part_number] + place.offset_in_part
            delta = begin - place.zip.region_start
            moved = [e.moved(delta) for e in place.zip.entries]
            records = sum(len(zipformat.central_record(e)) for e in moved)
            manifest_name = line.item.manifest_path
            line.offset, line.length = begin, place.zip.region_length
            line.central_directory_offset, line.central_directory_length = cd_pos, records
            line.manifest_entry_offset = next(
                e.local_header_offset for e in moved if e.filename == manifest_name
            )
            cd_pos += records
            merged.extend(moved)
        tail = zipformat.central_directory(merged, cd_offset)
        writer.upload_tail(tail)
        resp = writer.complete(conditions)
    except BaseException:
        writer.abort()
        raise
    writer.close()
    size = cd_offset + len(tail)
    return RunArchive(
        key=key,
        bytes=size,
        etag=resp.get("ETag"),
        storage_class=storage_class,
        kms_key_id=kms_key_id,
        entries=len(merged),
        central_directory_offset=cd_offset,
        central_directory_length=cd_pos - cd_offset,
        parts=[
            RunPart(part_number=n, etag=writer.etags[n], bytes=length)
            for n, length in sorted(writer.part_sizes.items())
        ],
    )
