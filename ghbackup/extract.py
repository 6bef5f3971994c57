"""One item out of a run zip, with ranged reads: what the run manifest's byte ranges are for.

The run zip must be readable: a GLACIER / DEEP_ARCHIVE object needs an S3 restore first,
which S3 reports as ``InvalidObjectState``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ghbackup import s3 as s3io
from ghbackup import zipformat
from ghbackup.errors import ArchiveCorrupt, StorageError
from ghbackup.records import RunManifest, run_manifest_key

MIB = 1024 * 1024


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
    key = manifest.archive.key
    assert line.length is not None and line.central_directory_offset is not None
    assert line.central_directory_length is not None
    try:
        records = s3io.get_range(s3, bucket, key, line.central_directory_offset,
                             line.central_directory_offset + line.central_directory_length)  # fmt: skip
    except StorageError as exc:
        if exc.code == "InvalidObjectState":
            raise StorageError(
                f"s3://{bucket}/{key} is in {manifest.archive.storage_class}: "
                "restore it (S3 RestoreObject) before extracting",
                code=exc.code,
            ) from None
        raise
    entries = zipformat.parse_central_directory(records, line.entries)
    moved = [e.moved(-line.offset) for e in entries]
    dest = Path(dest_path)
    with dest.open("wb") as out:
        for begin in range(line.offset, line.offset + line.length, chunk):
            finish = min(begin + chunk, line.offset + line.length)
            out.write(s3io.get_range(s3, bucket, key, begin, finish))
        out.write(zipformat.central_directory(moved, line.length))
    return dest


def read_run_manifest(s3: Any, bucket: str, run_id: str) -> RunManifest:
    """The stored run manifest of ``run_id``; StorageError when there is none."""
    data = s3io.read_json(s3, bucket, run_manifest_key(run_id))
    if data is None:
        raise StorageError(
            f"run {run_id} has no manifest at s3://{bucket}/{run_manifest_key(run_id)}"
        )
    return RunManifest.from_json(data)
