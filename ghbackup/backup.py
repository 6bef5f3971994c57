"""Back up one item end to end: capture, verify the zip, store it, store the result record.

The one place both the container entrypoint and ``ghbackup backup-item`` call. A result
record is stored whether the capture succeeded or not; a zip only when it is complete and
(unless verification is turned off) has passed the same checks as ``ghbackup verify``.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from ghbackup.capture import Progress, capture_item
from ghbackup.credentials import redact
from ghbackup.errors import (
    ArchiveCorrupt,
    BackupError,
    StorageError,
    VerifyAtWriteFailed,
    is_out_of_space,
)
from ghbackup.github import GitHubClient
from ghbackup.gitmirror import GitSettings
from ghbackup.records import BackupItem, ItemResult, utc_timestamp
from ghbackup.restore import verify_archive
from ghbackup.store import Destination

log = logging.getLogger(__name__)


def backup_item(
    item: BackupItem,
    client: GitHubClient,
    destination: Destination,
    *,
    run_id: str,
    scratch: Path | None = None,
    progress: Progress | None = None,
    git: GitSettings | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    before_capture: Callable[[], ItemResult | None] | None = None,
    verify: bool = True,
) -> ItemResult:
    """Capture and store ``item``. Never raises a BackupError: the result says what
    happened (``status`` succeeded only when the zip is complete and stored). A failure to
    store the result record itself is raised as StorageError. ``before_capture`` runs first
    with the same client (an incremental run's probes); its requests count as the item's,
    and a result it returns (the item was reused: its zip is already stored) is stored
    instead of a capture. With ``verify`` the zip is checked as ``ghbackup verify`` checks
    an archive before it is stored; one that fails is not stored, and the item fails with
    VerifyAtWriteFailed (retryable, as a storage fault)."""
    started = utc_timestamp(now())
    requests_before = client.requests_made  # the client may serve other items too
    decided = before_capture() if before_capture is not None else None
    if decided is not None:
        _store_result(destination, decided)
        return decided
    result = ItemResult(
        item=item, status="failed", run_id=run_id, started_at=started, finished_at=started
    )
    try:
        with tempfile.TemporaryDirectory(prefix="ghbackup-", dir=scratch) as workdir:
            zip_path = Path(workdir) / "item.zip"
            try:
                report = capture_item(
                    item,
                    client,
                    zip_path=zip_path,
                    scratch=Path(workdir),
                    progress=progress,
                    git=git,
                    now=now,
                )
                result.counts, result.skipped = report.counts, report.skipped
                result.zip_bytes, result.zip_sha256 = report.zip_bytes, report.zip_sha256
                if verify:
                    _verify_at_write(result, zip_path, Path(workdir), now)
                result.zip_key = destination.store_zip(result, zip_path)
                result.status = "succeeded"
            except Exception as exc:  # noqa: BLE001 - every failure must end in a result record
                if isinstance(exc, BackupError):
                    result.error_type, result.error = type(exc).__name__, redact(str(exc))
                elif isinstance(exc, OSError) and is_out_of_space(exc):
                    result.error_type = "StorageError"
                    result.error = redact(f"scratch space ran out in {workdir}: {exc.strerror}")
                else:
                    # A bug, not a GitHub or storage condition: still one record, with the type
                    # that names it, and the traceback in the log for whoever fixes it.
                    log.exception("unexpected error while backing up %s", item.key)
                    result.error_type = "UnexpectedError"
                    result.error = redact(f"{type(exc).__name__}: {exc}".splitlines()[0])[:500]
                result.zip_key, result.zip_bytes, result.zip_sha256 = None, 0, None
                result.verified = False  # nothing of it is stored
                log.error("backup of %s failed: %s: %s", item.key, result.error_type, result.error)
    except OSError as exc:
        # Creating or removing the scratch folder itself: everything inside is caught above.
        if result.status == "succeeded" or result.error_type is not None:
            log.warning("could not remove the scratch folder: %s", exc.strerror)
        else:  # it could not be created: nothing was captured
            where = scratch or tempfile.gettempdir()
            result.error_type = "StorageError"
            result.error = f"cannot create a scratch folder in {where}: {exc.strerror}"
            log.error("backup of %s failed: %s: %s", item.key, result.error_type, result.error)
    result.finished_at = utc_timestamp(now())
    # One meaning, succeeded or not: the API requests this item's capture sent.
    result.github_requests = client.requests_made - requests_before
    _store_result(destination, result)
    return result


def _verify_at_write(
    result: ItemResult, zip_path: Path, scratch: Path, now: Callable[[], datetime]
) -> None:
    """The checks of ``ghbackup verify`` (one implementation: ghbackup.restore) on the zip
    just written, before anything stores it: every entry's SHA-256 against the manifest,
    every bundle fetched into a throwaway repository under ``scratch`` and proved whole by
    ``git fsck --full``, its refs equal to the manifest's, and the zip holding this item
    and no other. Sets ``verified`` and ``verify_seconds`` (also when the checks fail);
    damage raises VerifyAtWriteFailed naming the path and the check."""
    started = now()
    try:
        report = verify_archive(zip_path, scratch=scratch)
        if report.items != [result.item.key]:
            held = ", ".join(report.items)[:200]
            raise ArchiveCorrupt(f"the zip holds {held}, not only {result.item.key}")
    except ArchiveCorrupt as exc:
        raise VerifyAtWriteFailed(f"verify at write: {exc}") from None
    finally:
        result.verify_seconds = round((now() - started).total_seconds(), 3)
    result.verified = True


def _store_result(destination: Destination, result: ItemResult) -> None:
    try:
        destination.store_result(result)
    except StorageError as exc:
        # The caller must know, and must know what the lost record said.
        outcome = result.status if result.error is None else f"{result.error_type}: {result.error}"
        raise StorageError(f"{exc}; the item's result ({outcome}) is lost") from None
