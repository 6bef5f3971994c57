"""The run zip as an S3 multipart upload, assembled from per-item zips inside S3.

A per-item zip's entries (local headers + data) sit contiguously in front of its central
directory, and local headers hold no offsets, so that region moves into the run zip
unchanged: a region of 5 MiB or more becomes UploadPartCopy parts (its bytes never leave
S3); smaller regions are read with ranged GETs and packed into buffered parts of at least
5 MiB (S3's minimum for every part but the last). The merged central directory (each
entry's offset moved, ZIP64 where needed) goes up as the last part. Only the item zips' end
structures are read, so memory and time grow with the number of entries and the bytes of
small items, not with the size of the backup. ``ghbackup.finalize`` drives it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from ghbackup import s3 as s3io
from ghbackup import zipformat
from ghbackup.errors import ArchiveCorrupt, BackupError, RunAlreadyExists, StorageError
from ghbackup.records import ItemResult

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
T = TypeVar("T")
R = TypeVar("R")


@dataclass
class ItemZip:
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


def inspect_item_zip(s3: Any, bucket: str, result: ItemResult) -> ItemZip:
    """Read an item zip's end structures with ranged GETs and check them against the
    result record and the item's folder. Raises ArchiveCorrupt / StorageError."""
    key = result.zip_key
    assert key is not None
    whole = 0 < result.zip_bytes <= WHOLE_OBJECT_MAX
    resp = s3io.get(s3, bucket, key, None if whole else f"bytes=-{TAIL_READ}")
    tail: bytes = resp["Data"]
    size = s3io.total_size(resp)
    if size != result.zip_bytes:
        raise ArchiveCorrupt(f"{key} is {size} bytes but its result record says {result.zip_bytes}")
    tail_offset = size - len(tail)

    def read(start: int, end: int) -> bytes:
        if start >= tail_offset and end <= size:
            return tail[start - tail_offset : end - tail_offset]
        return s3io.get_range(s3, bucket, key, start, end)

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
    return ItemZip(key, size, resp["ETag"], start, end.cd_offset, entries, region)


def try_inspect(s3: Any, bucket: str, result: ItemResult) -> ItemZip | BackupError:
    """An item zip that fails its checks fails that item, not the run."""
    try:
        return inspect_item_zip(s3, bucket, result)
    except BackupError as exc:
        return exc


def in_order(
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
class Placement:
    """Where an item's region went: part number and offset inside that part."""

    item_key: str
    zip: ItemZip
    part_number: int
    offset_in_part: int


class RunZipWriter:
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
        self.buffered: list[Placement] = []  # placements waiting for the buffer's number
        self.last_part = 0
        self.placements: list[Placement] = []
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

    def add(self, item_key: str, item: ItemZip) -> None:
        if item.region_length >= MIN_PART:
            self._add_copied(item_key, item)
            return
        data, item.region = item.region, None  # kept in the buffer only, not for the run
        if data is None:
            data = s3io.get_range(
                self.s3, self.bucket, item.key, item.region_start, item.region_end
            )
        # The buffer's part number is taken when it is sent, so copy parts issued meanwhile
        # come before it and a short leftover buffer can always be the last part.
        place = Placement(item_key, item, 0, len(self.buffer))
        self.placements.append(place)
        self.buffered.append(place)
        self.buffer += data
        if len(self.buffer) >= MIN_PART:
            self._send_buffer()

    def _add_copied(self, item_key: str, item: ItemZip) -> None:
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
        self.placements.append(Placement(item_key, item, first, 0))

    def _copy(self, number: int, item: ItemZip, begin: int, finish: int) -> str:
        try:
            resp = self.s3.upload_part_copy(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number,
                CopySource={"Bucket": self.bucket, "Key": item.key},
                CopySourceRange=f"bytes={begin}-{finish - 1}",
                CopySourceIfMatch=item.etag,
            )  # fmt: skip
        except ClientError as exc:
            raise s3io.storage_error("UploadPartCopy", self.bucket, item.key, exc) from None
        return resp["CopyPartResult"]["ETag"]

    def _upload(self, number: int, data: bytes | bytearray) -> None:
        try:
            resp = self.s3.upload_part(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number,
                Body=bytes(data), ContentMD5=s3io.content_md5(bytes(data)),
            )  # fmt: skip
        except ClientError as exc:
            raise s3io.storage_error("UploadPart", self.bucket, self.key, exc) from None
        self.part_sizes[number] = len(data)
        self.etags[number] = resp["ETag"]

    def _send_buffer(self) -> None:
        number = self._take_part_number()
        for place in self.buffered:
            place.part_number = number
        self._upload(number, self.buffer)
        self.buffer = bytearray()
        self.buffered = []

    def finish(self) -> tuple[list[Placement], dict[int, int], int]:
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

    def complete(self, conditions: dict[str, str] | None = None) -> dict[str, Any]:
        """Finish the upload; ``conditions`` go with it (``IfNoneMatch``: only if no object
        exists). RunAlreadyExists when another writer completed the key meanwhile."""
        for number, future in self.copies:
            self.etags[number] = future.result()
        parts = [{"PartNumber": n, "ETag": self.etags[n]} for n in sorted(self.etags)]
        try:
            resp = self.s3.complete_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                MultipartUpload={"Parts": parts}, **(conditions or {}),
            )  # fmt: skip
        except ClientError as exc:
            if s3io.precondition_failed(exc):
                raise RunAlreadyExists(
                    f"s3://{self.bucket}/{self.key} was completed by another execution "
                    "meanwhile; not replacing it"
                ) from None
            raise s3io.storage_error(
                "CompleteMultipartUpload", self.bucket, self.key, exc
            ) from None
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
