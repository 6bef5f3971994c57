"""Finalize's core: one zip per run, assembled inside S3 from the per-item zips.

The run zip is an S3 multipart upload. A per-item zip's entries (local headers + data) sit
contiguously in front of its central directory, and local headers hold no offsets, so that
region can be moved into the run zip unchanged: a region of 5 MiB or more becomes one
UploadPartCopy part (split at 5 GiB), so its bytes never leave S3. Smaller regions are read
with ranged GETs and packed into buffered parts of at least 5 MiB (S3's minimum for every
part but the last). The merged central directory (each entry's local header offset moved,
ZIP64 where needed) and the end records go up as the last part. Only the item zips' end
structures are read, with ranged GETs, so Finalize's memory and time grow with the number of
entries and the bytes of small items, not with the size of the backup.

The run manifest (``runs/R/manifest.json``) records, per item, where its entries and its
central records sit in the run zip, so one repository can be restored with two ranged reads
(:func:`extract_item_from_run`). It does not hold a SHA-256 of the whole run zip: computing
one would mean reading every byte. Integrity is carried by each item's ``zip_sha256`` (from
its result record, computed by the task that wrote it), the entries' CRC-32s, and the ETags
S3 returned for each part.

Idempotence: a finished run (its manifest exists) is returned as recorded; otherwise stale
multipart uploads for the run zip's key are aborted and the zip is built again under the same
key. Staging objects are deleted only after the run zip and the manifest are stored.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

from botocore.exceptions import ClientError

from ghbackup import zipformat
from ghbackup.errors import ArchiveCorrupt, BackupError, ConfigurationError, StorageError
from ghbackup.records import BackupItem, ItemResult, item_result_key, staging_prefix

MIB = 1024 * 1024
GIB = 1024 * MIB
MIN_PART = 5 * MIB  # S3: every part but the last
MAX_PART = 5 * GIB  # S3: largest part, copied or uploaded
MAX_PARTS = 10_000
# Item zips up to this size are fetched with one GET; larger ones by their tail only.
WHOLE_OBJECT_MAX = 1 * MIB
# The first ranged read of a larger item zip: the EOCD with any comment, the ZIP64 records,
# and usually the whole central directory.
TAIL_READ = zipformat.TAIL_WITH_EOCD + zipformat.ZIP64_EOCD_SIZE
# Bytes per part when the central directory itself is larger than one part should be.
TAIL_PART = 64 * MIB
# The smallest range a large item zip is split into for copying (see copy_part_size).
COPY_PART_MIN = 16 * MIB
# Requests in flight: UploadPartCopy calls, and separately the GETs of result records and
# item zip ends (read ahead in order, so memory stays bounded by this many reads). S3 moves
# the bytes while Finalize waits: many copies in flight, and as many pooled connections
# (twice this: copies and reads), keep a large run inside Lambda's 15 minutes.
COPY_WORKERS = 32
DELETE_BATCH = 1000

DEFAULT_STORAGE_CLASS = "GLACIER"
STORAGE_CLASSES = ("GLACIER", "DEEP_ARCHIVE", "GLACIER_IR", "STANDARD_IA", "STANDARD")
RUN_MANIFEST_FORMAT = "ghbackup-run/1"
RunStatus = Literal["SUCCEEDED", "PARTIAL", "FAILED"]
T = TypeVar("T")
R = TypeVar("R")


def run_prefix(run_id: str) -> str:
    """Where a run's outputs live: the run zip and its manifest."""
    return f"runs/{run_id}/"


def run_archive_key(run_id: str) -> str:
    return f"{run_prefix(run_id)}ghbackup-{run_id}.zip"


def run_manifest_key(run_id: str) -> str:
    return f"{run_prefix(run_id)}manifest.json"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --------------------------------------------------------------------------- records


@dataclass
class RunItem:
    """One item's line in the run manifest.

    ``offset``/``length``: the item's entries (local headers + data) inside the run zip;
    ``central_directory_offset``/``central_directory_length``: its central records there;
    ``manifest_entry_offset``: the local header of its ``manifest.json``. All ``None`` for a
    failed item.
    """

    item_key: str
    item: dict[str, Any]
    status: Literal["succeeded", "failed"]
    error_type: str | None = None
    error: str | None = None
    zip_key: str | None = None
    zip_bytes: int = 0
    zip_sha256: str | None = None
    zip_etag: str | None = None
    entries: int = 0
    offset: int | None = None
    length: int | None = None
    central_directory_offset: int | None = None
    central_directory_length: int | None = None
    manifest_entry_offset: int | None = None
    started_at: str | None = None
    finished_at: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    # What the capture recorded as not available (disabled, forbidden...), with the reason:
    # a token that cannot read issues must show up here, not pass unnoticed.
    skipped: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunItem:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class RunManifest:
    """``runs/R/manifest.json``: what the run stored and where. ``archive`` is ``None``
    when no item succeeded (no run zip is written then)."""

    run_id: str
    status: RunStatus
    started_at: str
    finished_at: str
    counts: dict[str, int]
    bytes: int
    archive: dict[str, Any] | None
    items: list[RunItem]
    format: str = RUN_MANIFEST_FORMAT

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["items"] = [i.to_json() for i in self.items]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunManifest:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        fields["items"] = [RunItem.from_json(i) for i in data.get("items", [])]
        return cls(**fields)

    def item(self, item_key: str) -> RunItem:
        for entry in self.items:
            if entry.item_key == item_key:
                return entry
        raise ArchiveCorrupt(f"item {item_key} is not in the run manifest of {self.run_id}")


@dataclass
class RunSummary:
    """What Finalize returns and Notify publishes."""

    status: RunStatus
    run_id: str
    counts: dict[str, int]
    bytes: int
    duration_seconds: float
    archive_key: str | None
    manifest_key: str
    failed: list[dict[str, str | None]]
    # Succeeded items with parts GitHub would not give us (disabled, forbidden, too many):
    # {item key: "what: why; ..."}, so a token that cannot read issues is noticed.
    skipped_parts: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_manifest(cls, manifest: RunManifest) -> RunSummary:
        duration = (
            _parse_iso(manifest.finished_at) - _parse_iso(manifest.started_at)
        ).total_seconds()
        return cls(
            status=manifest.status,
            run_id=manifest.run_id,
            counts=dict(manifest.counts),
            bytes=manifest.bytes,
            duration_seconds=round(duration, 3),
            archive_key=manifest.archive["key"] if manifest.archive else None,
            manifest_key=run_manifest_key(manifest.run_id),
            failed=[
                {"item_key": i.item_key, "error_type": i.error_type, "error": i.error}
                for i in manifest.items
                if i.status == "failed"
            ],
            skipped_parts={
                i.item_key: "; ".join(f"{what}: {why}" for what, why in sorted(i.skipped.items()))
                for i in manifest.items
                if i.status == "succeeded" and _worth_reporting(i.skipped)
            },
        )


def _worth_reporting(skipped: dict[str, str]) -> bool:
    """Skips that say something is missing that the user may expect, not a feature turned
    off or a repository that is simply empty."""
    ordinary = ("disabled", "repository is empty", "enabled but has no pages")
    return any(not why.startswith(ordinary) for why in skipped.values())


# --------------------------------------------------------------------------- S3 helpers


def _client_error(op: str, bucket: str, key: str, exc: ClientError) -> StorageError:
    code = exc.response.get("Error", {}).get("Code", "Unknown")
    return StorageError(f"S3 {op} s3://{bucket}/{key} failed: {code}")


def _get(s3: Any, bucket: str, key: str, byte_range: str | None = None) -> dict[str, Any]:
    """GetObject with the body read; raises StorageError."""
    kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if byte_range:
        kwargs["Range"] = byte_range
    try:
        resp = s3.get_object(**kwargs)
        resp["Data"] = resp["Body"].read()
    except ClientError as exc:
        raise _client_error("GetObject", bucket, key, exc) from None
    return resp


def _get_range(s3: Any, bucket: str, key: str, start: int, end: int) -> bytes:
    """Bytes [start, end) of an object."""
    if end <= start:
        return b""
    data = _get(s3, bucket, key, f"bytes={start}-{end - 1}")["Data"]
    if len(data) != end - start:
        raise ArchiveCorrupt(f"s3://{bucket}/{key}: short read at {start}")
    return data


def _total_size(resp: dict[str, Any]) -> int:
    content_range = resp.get("ContentRange")
    if content_range and "/" in content_range:
        return int(content_range.rsplit("/", 1)[1])
    return int(resp["ContentLength"])


def _read_json(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """A JSON object, or None when the key does not exist."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise _client_error("GetObject", bucket, key, exc) from None
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        raise ArchiveCorrupt(f"s3://{bucket}/{key} is not valid JSON") from None
    if not isinstance(data, dict):
        raise ArchiveCorrupt(f"s3://{bucket}/{key} is not a JSON object")
    return data


def _head(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
            return None
        raise _client_error("HeadObject", bucket, key, exc) from None


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


def _content_md5(body: bytes) -> str:
    # S3 requires Content-MD5 (or a checksum) on uploads that carry Object Lock retention.
    return base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()


def _encryption(kms_key_id: str | None) -> dict[str, str]:
    # Without a named key the bucket's default encryption applies (SSE-S3 or aws/s3), which is
    # what its policy expects an upload that names nothing to get.
    if not kms_key_id:
        return {}
    return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id}


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
        raise _client_error("AbortMultipartUpload", bucket, key, exc) from None
    return aborted


def delete_staging(s3: Any, bucket: str, run_id: str) -> int:
    """Delete every object under the run's staging prefix, 1000 keys per call."""
    prefix = staging_prefix(run_id)
    deleted = 0

    def flush(keys: list[str]) -> None:
        try:
            resp = s3.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True}
            )
        except ClientError as exc:
            raise _client_error("DeleteObjects", bucket, prefix, exc) from None
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
        raise _client_error("ListObjectsV2", bucket, prefix, exc) from None
    if batch:
        flush(batch)
        deleted += len(batch)
    return deleted


# --------------------------------------------------------------------------- item zips


@dataclass
class _ItemZip:
    """A succeeded item's zip, its end structures read and checked."""

    key: str
    size: int
    etag: str
    region_start: int  # first local header
    region_end: int  # start of its central directory
    entries: list[zipformat.CentralEntry]
    region: bytes | None = None  # the region's bytes when they were read along the way

    @property
    def region_length(self) -> int:
        return self.region_end - self.region_start


def _inspect_item_zip(s3: Any, bucket: str, result: ItemResult) -> _ItemZip:
    """Read an item zip's end structures with ranged GETs and check them against the
    result record and the item's folder. Raises ArchiveCorrupt / StorageError."""
    key = result.zip_key
    assert key is not None
    whole = 0 < result.zip_bytes <= WHOLE_OBJECT_MAX
    resp = _get(s3, bucket, key, None if whole else f"bytes=-{TAIL_READ}")
    tail: bytes = resp["Data"]
    size = _total_size(resp)
    if size != result.zip_bytes:
        raise ArchiveCorrupt(f"{key} is {size} bytes but its result record says {result.zip_bytes}")
    tail_offset = size - len(tail)

    def read(start: int, end: int) -> bytes:
        if start >= tail_offset and end <= size:
            return tail[start - tail_offset : end - tail_offset]
        return _get_range(s3, bucket, key, start, end)

    end = zipformat.find_end_record(tail, tail_offset)
    if end.zip64_eocd_offset is not None:
        at = end.zip64_eocd_offset
        end = zipformat.parse_zip64_end_record(read(at, at + zipformat.ZIP64_EOCD_SIZE))
    if end.cd_offset + end.cd_size > size:
        raise ArchiveCorrupt(f"{key}: central directory lies past the end of the object")
    entries = zipformat.parse_central_directory(
        read(end.cd_offset, end.cd_offset + end.cd_size), end.entries
    )
    root = result.item.archive_root
    names: set[bytes] = set()
    for entry in entries:
        if not entry.filename.startswith(root):
            raise ArchiveCorrupt(f"{key}: entry {entry.filename!r} is outside {root}")
        if entry.name in names:
            raise ArchiveCorrupt(f"{key}: entry {entry.filename!r} appears twice")
        names.add(entry.name)
        tail_end = entry.local_header_offset + zipformat.LOCAL_SIZE + len(entry.name)
        if tail_end + entry.compressed_size > end.cd_offset:
            raise ArchiveCorrupt(f"{key}: entry {entry.filename!r} overlaps the central directory")
    if not any(e.filename == f"{root}manifest.json" for e in entries):
        raise ArchiveCorrupt(f"{key}: no {root}manifest.json entry")
    start = min((e.local_header_offset for e in entries), default=end.cd_offset)
    region = (
        tail[start - tail_offset : end.cd_offset - tail_offset] if start >= tail_offset else None
    )
    return _ItemZip(key, size, resp["ETag"], start, end.cd_offset, entries, region)


def _try_inspect(s3: Any, bucket: str, result: ItemResult) -> _ItemZip | BackupError:
    """An item zip that fails its checks fails that item, not the run."""
    try:
        return _inspect_item_zip(s3, bucket, result)
    except BackupError as exc:
        return exc


def _in_order(
    pool: ThreadPoolExecutor, fn: Callable[[T], R], args: Iterable[T], ahead: int
) -> Iterator[R]:
    """``fn`` over ``args`` on ``pool``, yielded in order, at most ``ahead`` calls in flight."""
    pending: deque[Future[R]] = deque()
    try:
        for arg in args:
            pending.append(pool.submit(fn, arg))
            if len(pending) >= ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()


# --------------------------------------------------------------------------- run zip


def copy_part_size(results: list[ItemResult], workers: int) -> int:
    """The largest range one UploadPartCopy takes. S3 copies while Finalize waits, so the
    copied bytes are spread over about twice as many parts as there are copies in flight:
    one large repository no longer means one long copy while the other workers idle. At
    least COPY_PART_MIN (a copy has a cost of its own) and few enough parts to stay far
    below S3's 10,000; at most S3's 5 GiB."""
    copied = sum(r.zip_bytes for r in results if r.zip_bytes >= MIN_PART)
    spread = math.ceil(copied / (2 * workers))
    return min(MAX_PART, max(COPY_PART_MIN, spread, math.ceil(copied / (MAX_PARTS // 2))))


@dataclass
class _Placement:
    """Where an item's region went: part number and offset inside that part."""

    item_key: str
    zip: _ItemZip
    part_number: int
    offset_in_part: int


class _RunZipWriter:
    """The multipart upload of one run zip: copy parts, buffered parts, tail part."""

    def __init__(
        self, s3: Any, bucket: str, key: str, upload_id: str, workers: int,
        copy_part: int = MAX_PART,
    ) -> None:  # fmt: skip
        self.s3, self.bucket, self.key, self.upload_id = s3, bucket, key, upload_id
        self.copy_part = copy_part  # largest UploadPartCopy range
        self.part_sizes: dict[int, int] = {}
        self.etags: dict[int, str] = {}
        self.next_part = 1
        self.buffer = bytearray()
        self.buffered: list[_Placement] = []  # placements waiting for the buffer's number
        self.last_part = 0
        self.placements: list[_Placement] = []
        self.copies: list[tuple[int, Future[str]]] = []
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="copy-part")

    def _take_part_number(self) -> int:
        number = self.next_part
        if number > MAX_PARTS:
            raise StorageError(
                f"run zip needs more than {MAX_PARTS} S3 parts; too many items of 5 MiB or more"
            )
        self.next_part += 1
        return number

    def add(self, item_key: str, item: _ItemZip) -> None:
        if item.region_length >= MIN_PART:
            self._add_copied(item_key, item)
            return
        data, item.region = item.region, None  # kept in the buffer only, not for the run
        if data is None:
            data = _get_range(self.s3, self.bucket, item.key, item.region_start, item.region_end)
        # The buffer's part number is taken when it is sent, so copy parts issued meanwhile
        # come before it and a short leftover buffer can always be the last part.
        place = _Placement(item_key, item, 0, len(self.buffer))
        self.placements.append(place)
        self.buffered.append(place)
        self.buffer += data
        if len(self.buffer) >= MIN_PART:
            self._send_buffer()

    def _add_copied(self, item_key: str, item: _ItemZip) -> None:
        length = item.region_length
        # Pieces of at most copy_part bytes, each still at least S3's 5 MiB part minimum.
        pieces = max(1, min(math.ceil(length / self.copy_part), length // MIN_PART))
        step = math.ceil(length / pieces)
        first = None
        for begin in range(item.region_start, item.region_end, step):
            finish = min(begin + step, item.region_end)
            number = self._take_part_number()
            first = number if first is None else first
            self.part_sizes[number] = finish - begin
            self.copies.append((number, self.pool.submit(self._copy, number, item, begin, finish)))
        assert first is not None
        self.placements.append(_Placement(item_key, item, first, 0))

    def _copy(self, number: int, item: _ItemZip, begin: int, finish: int) -> str:
        try:
            resp = self.s3.upload_part_copy(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number,
                CopySource={"Bucket": self.bucket, "Key": item.key},
                CopySourceRange=f"bytes={begin}-{finish - 1}",
                CopySourceIfMatch=item.etag,
            )  # fmt: skip
        except ClientError as exc:
            raise _client_error("UploadPartCopy", self.bucket, item.key, exc) from None
        return resp["CopyPartResult"]["ETag"]

    def _upload(self, number: int, data: bytes | bytearray) -> None:
        try:
            resp = self.s3.upload_part(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number,
                Body=bytes(data), ContentMD5=_content_md5(bytes(data)),
            )  # fmt: skip
        except ClientError as exc:
            raise _client_error("UploadPart", self.bucket, self.key, exc) from None
        self.part_sizes[number] = len(data)
        self.etags[number] = resp["ETag"]

    def _send_buffer(self) -> None:
        number = self._take_part_number()
        for place in self.buffered:
            place.part_number = number
        self._upload(number, self.buffer)
        self.buffer = bytearray()
        self.buffered = []

    def finish(self) -> tuple[list[_Placement], dict[int, int], int]:
        """Number the last part (leftover buffer + central directory) and lay the parts
        out; returns the placements in zip order, each part's start, and the offset at
        which the central directory will start."""
        self.last_part = self._take_part_number()
        for place in self.buffered:
            place.part_number = self.last_part
        self.part_sizes[self.last_part] = len(self.buffer)
        starts, pos = {}, 0
        for number in sorted(self.part_sizes):
            starts[number] = pos
            pos += self.part_sizes[number]
        placements = sorted(self.placements, key=lambda p: starts[p.part_number] + p.offset_in_part)
        return placements, starts, pos

    def upload_tail(self, tail: bytes) -> None:
        """Send the leftover buffer + ``tail`` as the last part(s)."""
        data = bytes(self.buffer) + tail
        self.buffer = bytearray()
        first, rest = data[:TAIL_PART], data[TAIL_PART:]
        self._upload(self.last_part, first)
        while rest:
            chunk, rest = rest[:TAIL_PART], rest[TAIL_PART:]
            self._upload(self._take_part_number(), chunk)

    def complete(self) -> dict[str, Any]:
        for number, future in self.copies:
            self.etags[number] = future.result()
        parts = [{"PartNumber": n, "ETag": self.etags[n]} for n in sorted(self.etags)]
        try:
            resp = self.s3.complete_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                MultipartUpload={"Parts": parts},
            )  # fmt: skip
        except ClientError as exc:
            raise _client_error("CompleteMultipartUpload", self.bucket, self.key, exc) from None
        return resp

    def abort(self) -> None:
        for _, future in self.copies:
            future.cancel()
        self.pool.shutdown(wait=True)
        try:
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key,
                                           UploadId=self.upload_id)  # fmt: skip
        except ClientError:
            pass  # the stale-upload sweep of the next attempt removes it

    def close(self) -> None:
        self.pool.shutdown(wait=True)


# --------------------------------------------------------------------------- Finalize


def _load_result(s3: Any, bucket: str, run_id: str, item: BackupItem) -> ItemResult:
    """The item's result record; a missing one becomes a failed result."""
    key = item_result_key(staging_prefix(run_id), item)
    now = ""
    try:
        data = _read_json(s3, bucket, key)
    except BackupError as exc:
        return ItemResult(item, "failed", run_id, now, now, type(exc).__name__, str(exc))
    if data is None:
        return ItemResult(item, "failed", run_id, now, now, "StorageError",
                          "no result record: the task did not finish")  # fmt: skip
    try:
        result = ItemResult.from_json(data)
    except (BackupError, KeyError, TypeError) as exc:
        return ItemResult(item, "failed", run_id, now, now, "ArchiveCorrupt",
                          f"result record is malformed: {exc}")  # fmt: skip
    if result.item.key != item.key:
        return ItemResult(item, "failed", run_id, now, now, "ArchiveCorrupt",
                          f"result record is for {result.item.key}")  # fmt: skip
    if result.status == "succeeded" and not result.zip_key:
        result.status, result.error_type = "failed", "ArchiveCorrupt"
        result.error = "result says succeeded but names no zip"
    return result


def _run_item(result: ItemResult) -> RunItem:
    return RunItem(
        item_key=result.item.key, item=result.item.to_json(), status=result.status,
        error_type=result.error_type, error=result.error, zip_key=result.zip_key,
        zip_bytes=result.zip_bytes, zip_sha256=result.zip_sha256,
        started_at=result.started_at or None, finished_at=result.finished_at or None,
        counts=dict(result.counts), skipped=dict(result.skipped),
    )  # fmt: skip


def _status(total: int, succeeded: int) -> RunStatus:
    if succeeded == total:
        return "SUCCEEDED"  # an empty account (0 items) included
    return "PARTIAL" if succeeded else "FAILED"


def assemble_run(
    s3: Any,
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
    object_lock_mode: str | None = None,
    object_lock_days: int | None = None,
) -> RunSummary:
    """Build the run zip and the run manifest from the staged per-item zips.

    No run zip is written when no item succeeded (FAILED, or SUCCEEDED for 0 items); the
    manifest always is. Returns the recorded summary when the run was finalized before.
    """
    if storage_class not in STORAGE_CLASSES:
        raise ConfigurationError(
            f"run archive storage class {storage_class!r} is not one of {', '.join(STORAGE_CLASSES)}"
        )
    began = _parse_iso(started_at) if started_at else clock()
    archive_key, manifest_key = run_archive_key(run_id), run_manifest_key(run_id)

    recorded = _read_json(s3, bucket, manifest_key)
    if recorded is not None:
        manifest = RunManifest.from_json(recorded)
        if manifest.archive is not None:
            head = _head(s3, bucket, archive_key)
            if head is None or head["ContentLength"] != manifest.archive["bytes"]:
                raise ArchiveCorrupt(
                    f"run {run_id} has a manifest but its zip s3://{bucket}/{archive_key} is"
                    " missing or has another size; refusing to overwrite"
                )
        if delete_staging_after:
            delete_staging(s3, bucket, run_id)  # a previous attempt may have stopped before
        return RunSummary.from_manifest(manifest)

    keys = [i.key for i in items]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise ArchiveCorrupt(f"item {dup} is listed twice for run {run_id}")

    lock = object_lock(object_lock_mode, object_lock_days, clock()) if object_lock_mode else {}
    archive: dict[str, Any] | None = None
    with ThreadPoolExecutor(max_workers=copy_workers, thread_name_prefix="read") as readers:
        results = list(_in_order(readers, lambda item: _load_result(s3, bucket, run_id, item),
                                 items, copy_workers))  # fmt: skip
        run_items = {r.item.key: _run_item(r) for r in results}
        if any(r.status == "succeeded" for r in results):
            archive = _build_archive(s3, bucket, archive_key, results, run_items, storage_class,
                                     kms_key_id, copy_workers, readers, lock)  # fmt: skip

    succeeded = sum(1 for i in run_items.values() if i.status == "succeeded")
    if archive is None:
        abort_stale_uploads(s3, bucket, archive_key)
    finished = clock()
    manifest = RunManifest(
        run_id=run_id,
        status=_status(len(items), succeeded),
        started_at=_iso(began),
        finished_at=_iso(finished),
        counts={"total": len(items), "succeeded": succeeded, "failed": len(items) - succeeded},
        bytes=archive["bytes"] if archive else 0,
        archive=archive,
        items=[run_items[k] for k in keys],
    )
    body = json.dumps(manifest.to_json(), indent=2, sort_keys=True).encode()
    try:
        s3.put_object(Bucket=bucket, Key=manifest_key, Body=body, StorageClass="STANDARD",
                      ContentType="application/json", ContentMD5=_content_md5(body),
                      **_encryption(kms_key_id), **lock)  # fmt: skip
    except ClientError as exc:
        raise _client_error("PutObject", bucket, manifest_key, exc) from None
    if delete_staging_after:
        delete_staging(s3, bucket, run_id)
    return RunSummary.from_manifest(manifest)


def _build_archive(
    s3: Any,
    bucket: str,
    key: str,
    results: list[ItemResult],
    run_items: dict[str, RunItem],
    storage_class: str,
    kms_key_id: str | None,
    workers: int,
    readers: ThreadPoolExecutor,
    lock: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The multipart upload of the run zip; marks items whose zip fails checks as failed.
    Returns the manifest's ``archive`` record, or None when no item zip was usable."""
    abort_stale_uploads(s3, bucket, key)
    try:
        upload_id = s3.create_multipart_upload(
            Bucket=bucket, Key=key, StorageClass=storage_class, ContentType="application/zip",
            **_encryption(kms_key_id), **(lock or {}),
        )["UploadId"]  # fmt: skip
    except ClientError as exc:
        raise _client_error("CreateMultipartUpload", bucket, key, exc) from None
    succeeded = [r for r in results if r.status == "succeeded"]
    writer = _RunZipWriter(s3, bucket, key, upload_id, workers, copy_part_size(succeeded, workers))
    try:
        seen: dict[bytes, str] = {}
        reads = _in_order(readers, lambda r: _try_inspect(s3, bucket, r), succeeded, workers)
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
            manifest_name = f"{BackupItem.from_json(line.item).archive_root}manifest.json"
            line.offset, line.length = begin, place.zip.region_length
            line.central_directory_offset, line.central_directory_length = cd_pos, records
            line.manifest_entry_offset = next(
                e.local_header_offset for e in moved if e.filename == manifest_name
            )
            cd_pos += records
            merged.extend(moved)
        tail = zipformat.central_directory(merged, cd_offset)
        writer.upload_tail(tail)
        resp = writer.complete()
    except BaseException:
        writer.abort()
        raise
    writer.close()
    size = cd_offset + len(tail)
    return {
        "key": key,
        "bytes": size,
        "etag": resp.get("ETag"),
        "storage_class": storage_class,
        "kms_key_id": kms_key_id,
        "entries": len(merged),
        "central_directory_offset": cd_offset,
        "central_directory_length": cd_pos - cd_offset,
        "parts": [
            {"part_number": n, "etag": writer.etags[n], "bytes": len_}
            for n, len_ in sorted(writer.part_sizes.items())
        ],
        "sha256": None,
        "integrity": "whole-zip SHA-256 not computed (bytes never pass through Finalize); "
        "see each item's zip_sha256, the entries' CRC-32 and the part ETags",
    }


# --------------------------------------------------------------------------- restore


def extract_item_from_run(
    s3: Any,
    bucket: str,
    run_manifest: RunManifest | dict[str, Any],
    item_key: str,
    dest_path: str | Path,
    *,
    chunk: int = 8 * MIB,
) -> Path:
    """Rebuild one item's standalone zip from the run zip with ranged GETs: its entries
    region, then its own central directory (offsets moved back to 0). The run zip must be
    readable: a GLACIER / DEEP_ARCHIVE object needs an S3 restore first."""
    manifest = (
        run_manifest if isinstance(run_manifest, RunManifest)
        else RunManifest.from_json(run_manifest)
    )  # fmt: skip
    line = manifest.item(item_key)
    if line.status != "succeeded" or manifest.archive is None or line.offset is None:
        raise ArchiveCorrupt(f"item {item_key} is not in the run zip of {manifest.run_id}")
    key = manifest.archive["key"]
    assert line.length is not None and line.central_directory_offset is not None
    assert line.central_directory_length is not None
    try:
        records = _get_range(s3, bucket, key, line.central_directory_offset,
                             line.central_directory_offset + line.central_directory_length)  # fmt: skip
    except StorageError as exc:
        if "InvalidObjectState" in str(exc):
            raise StorageError(
                f"s3://{bucket}/{key} is in {manifest.archive.get('storage_class')}: "
                "restore it (S3 RestoreObject) before extracting"
            ) from None
        raise
    entries = zipformat.parse_central_directory(records, line.entries)
    moved = [e.moved(-line.offset) for e in entries]
    dest = Path(dest_path)
    with dest.open("wb") as out:
        for begin in range(line.offset, line.offset + line.length, chunk):
            finish = min(begin + chunk, line.offset + line.length)
            out.write(_get_range(s3, bucket, key, begin, finish))
        out.write(zipformat.central_directory(moved, line.length))
    return dest


def read_run_manifest(s3: Any, bucket: str, run_id: str) -> RunManifest:
    """The stored run manifest of ``run_id``; StorageError when there is none."""
    data = _read_json(s3, bucket, run_manifest_key(run_id))
    if data is None:
        raise StorageError(
            f"run {run_id} has no manifest at s3://{bucket}/{run_manifest_key(run_id)}"
        )
    return RunManifest.from_json(data)


__all__: Iterable[str] = (
    "RunItem", "RunManifest", "RunSummary", "STORAGE_CLASSES", "abort_stale_uploads",
    "assemble_run", "delete_staging", "extract_item_from_run", "read_run_manifest",
    "run_archive_key", "run_manifest_key",
)  # fmt: skip
