"""The drill task's work: each sampled item out of the run zip by byte range, verified and
restored as ``ghbackup restore`` does, and the restored result compared with the manifests.

Per item, in order, the first check that fails is the one reported:
``listed`` (a succeeded item of the run, with byte ranges), ``read`` (its ranges come out of
the run zip), ``zip_sha256`` (the rebuilt item zip is the one the task stored), ``verify`` /
``restore`` (every SHA-256, every bundle fetched into a fresh repository, refs equal to the
manifest, ``git fsck --full``; then the mirror, LFS objects and metadata files put in
place), ``refs`` (the restored mirrors' refs, read again from the mirrors) and ``files``
(every restored file's size and SHA-256, read again from disk). The restored copy is
removed after each item, so the task's disk holds one item at a time.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ghbackup.archive import open_zip
from ghbackup.archive_rules import mirror_relpath, primary_git, select_items
from ghbackup.confined_git import git, ref_diff
from ghbackup.errors import ArchiveCorrupt, BackupError, StorageError
from ghbackup.extract import extract_item_from_run, read_run_manifest
from ghbackup.gitmirror import parse_refs
from ghbackup.records import ItemManifest, RunItem, RunManifest, utc_timestamp
from ghbackup.records.drills import DrillCheck, DrillItemResult, DrillResults
from ghbackup.restore import restore_archive

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_LFS_OBJECT = re.compile(r"^lfs/objects/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}$")
MAX_ERROR_CHARS = 1000

Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


class _Failed(Exception):
    """One item failed ``check``; the message says why."""

    def __init__(self, check: DrillCheck, message: str) -> None:
        super().__init__(message)
        self.check = check


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def check_restored(manifest: ItemManifest, target: Path) -> tuple[int, int]:
    """Compare a restored item with its manifest: each mirror's refs (``refs``) and each
    restored file's size and SHA-256 (``files``); returns (files, refs) checked."""
    refs_checked = 0
    for key, state in manifest.git.items():
        mirror = target / mirror_relpath(manifest, key)
        found = parse_refs(git(mirror, ["for-each-ref", "--format=%(objectname) %(refname)"]))
        difference = ref_diff(state.refs, found)
        if difference:
            raise _Failed("refs", f"{mirror_relpath(manifest, key)}: {difference}")
        refs_checked += len(found)
    bundles = {state.bundle for state in manifest.git.values() if state.bundle}
    primary = primary_git(manifest)
    files_checked = 0
    for entry in manifest.files:
        if entry.path in bundles:
            continue  # became the mirror, checked by its refs and fsck
        if _LFS_OBJECT.match(entry.path) and primary:
            path = target / mirror_relpath(manifest, primary) / entry.path
        else:
            path = target / (manifest.root + entry.path)
        where = manifest.root + entry.path
        if not path.is_file() or path.is_symlink():
            raise _Failed("files", f"{where}: not restored")
        if path.stat().st_size != entry.size or _sha256(path) != entry.sha256:
            raise _Failed("files", f"{where}: differs from the manifest after restore")
        files_checked += 1
    return files_checked, refs_checked


class ItemDrill:
    """Drills the items of one run, one at a time, in a scratch folder of its own."""

    def __init__(
        self, s3: S3Client, bucket: str, manifest: RunManifest, scratch: Path, clock: Clock
    ) -> None:
        self.s3, self.bucket, self.manifest = s3, bucket, manifest
        self.scratch, self.clock = scratch, clock
        self.first_byte_at: str | None = None
        self.bytes_read = 0

    def run(self, item_key: str) -> DrillItemResult:
        started = time.monotonic()
        result = DrillItemResult(item_key=item_key, status="passed")
        work = self.scratch / "item"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            self._drill(item_key, work, result)
        except _Failed as failure:
            result.status, result.check = "failed", failure.check
            result.error = str(failure)[:MAX_ERROR_CHARS]
        except (BackupError, OSError) as exc:
            # git failing on the restored mirror, a full scratch disk: this item failed its
            # drill, the others are still drilled and the report is still written.
            result.status, result.check = "failed", "restore"
            result.error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
        finally:
            shutil.rmtree(work, ignore_errors=True)
        result.seconds = round(time.monotonic() - started, 2)
        return result

    def _drill(self, item_key: str, work: Path, result: DrillItemResult) -> None:
        line = self._line(item_key)
        zip_path = work / "item.zip"
        try:
            extract_item_from_run(self.s3, self.bucket, self.manifest, item_key, zip_path)
        except BackupError as exc:
            raise _Failed("read", f"{type(exc).__name__}: {exc}") from None
        if line.length is None or line.central_directory_length is None:
            raise _Failed("listed", f"{item_key}: the run manifest gives no byte range for it")
        self.bytes_read += line.length + line.central_directory_length
        result.bytes_read = line.length + line.central_directory_length
        self.first_byte_at = self.first_byte_at or utc_timestamp(self.clock())
        result.zip_bytes = zip_path.stat().st_size
        if _sha256(zip_path) != line.zip_sha256:
            raise _Failed("zip_sha256", f"{item_key}: the item zip's SHA-256 is not the run's")
        target = work / "restored"
        try:
            restore_archive(zip_path, target)
        except ArchiveCorrupt as exc:
            raise _Failed("verify", str(exc)) from None
        except BackupError as exc:
            raise _Failed("restore", f"{type(exc).__name__}: {exc}") from None
        with open_zip(zip_path) as zf:
            manifests = select_items(zf, zip_path, None)
        for manifest in manifests:
            files, refs = check_restored(manifest, target)
            result.files += files
            result.refs += refs

    def _line(self, item_key: str) -> RunItem:
        try:
            line = self.manifest.item(item_key)
        except ArchiveCorrupt as exc:
            raise _Failed("listed", str(exc)) from None
        if line.status != "succeeded" or line.offset is None:
            raise _Failed("listed", f"{item_key} is not a succeeded item of {self.manifest.run_id}")
        return line


def drill_items(
    s3: S3Client,
    bucket: str,
    *,
    drill_id: str,
    run_id: str,
    item_keys: list[str],
    scratch: Path,
    clock: Clock = _now,
) -> DrillResults:
    """Drill each item of ``item_keys`` (the run zip must be readable); a failed item is
    recorded with its check, never raised. StorageError only when the run manifest cannot
    be read at all."""
    started_at = utc_timestamp(clock())
    try:
        manifest = read_run_manifest(s3, bucket, run_id)
    except ArchiveCorrupt as exc:
        raise StorageError(f"run {run_id}: unreadable run manifest: {exc}") from None
    drill = ItemDrill(s3, bucket, manifest, scratch, clock)
    results = [drill.run(key) for key in item_keys]
    finished_at = utc_timestamp(clock())
    return DrillResults(
        drill_id=drill_id,
        run_id=run_id,
        started_at=started_at,
        first_byte_at=drill.first_byte_at,
        restored_at=finished_at if all(r.status == "passed" for r in results) else None,
        finished_at=finished_at,
        bytes_read=drill.bytes_read,
        items=results,
    )
