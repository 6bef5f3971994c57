"""Batches: one task captures many items, and says whether running it again can help.

The list step groups a run's items (``plan_batches``) and stores the groups beside
``items.json`` as ``batches.json``; each batch is one Map item, hence one ECS task. A batch
travels as a pointer into ``items.json`` (``BatchPointer``), never as the items themselves:
ECS container overrides are capped at 8 KiB, and a pointer stays under 100 bytes whatever
the batch holds.

The task captures its items a few at a time (``backup_batch``). Each item still gets its
own ``item.zip`` and ``result.json``, so Finalize, the run manifest and restore see items,
not batches. Items whose ``result.json`` for this run is already final (succeeded, or failed
for good) are skipped, so a retried batch redoes only what is missing. The task's exit code
tells Step Functions whether a retry can help (``BatchOutcome.exit_code``): 0 when every
item ended in a final result (succeeded, or failed in a way a retry cannot fix, such as
NotFound), non-zero only when some item failed in a retryable way or the task was stopped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from ghbackup import exit_codes
from ghbackup.errors import BackupError, StorageError, exit_code_for, is_retryable
from ghbackup.records import (
    BackupItem,
    BatchPointer,
    ItemResult,
    item_result_key,
    parse_items,
)
from ghbackup.store import Destination, DirectoryDestination, S3Destination

log = logging.getLogger(__name__)

DEFAULT_BATCH_MAX_ITEMS = 25
DEFAULT_BATCH_MAX_BYTES = 2 * 1024**3
DEFAULT_CONCURRENCY = 4
# The exit code of a task stopped by SIGTERM before it finished (128 + 15, as a shell says).
STOPPED_EXIT_CODE = exit_codes.STOPPED


def plan_batches(
    sizes: Sequence[int | None],
    *,
    max_items: int = DEFAULT_BATCH_MAX_ITEMS,
    max_bytes: int = DEFAULT_BATCH_MAX_BYTES,
    verify_items: bool = True,
) -> list[BatchPointer]:
    """Group items, given in the order of ``items.json`` by their size in bytes (None when
    unknown, counted as 0), into contiguous batches.

    An item of ``max_bytes`` or more runs alone; smaller ones fill a batch in order until
    the next would exceed ``max_items`` or ``max_bytes``. Contiguous ranges keep a batch a
    pointer and the run's item order unchanged. Every pointer carries ``verify_items``
    (the execution input's) to its task.
    """
    if max_items < 1 or max_bytes < 1:
        raise ValueError("max_items and max_bytes must be positive")
    batches: list[BatchPointer] = []
    first, count, total = 0, 0, 0

    def close() -> None:
        nonlocal first, count, total
        if count:
            batches.append(
                BatchPointer(
                    batch=len(batches), first=first, count=count, verify_items=verify_items
                )
            )
        first, count, total = first + count, 0, 0

    for size in sizes:
        size = max(0, size or 0)
        if size >= max_bytes:
            close()
            count = 1
            close()
            continue
        if count == max_items or total + size > max_bytes:
            close()
        count += 1
        total += size
    close()
    return batches


def read_item_list(destination: Destination) -> list[BackupItem]:
    """The run's ``items.json`` from beside the destination's ``items/`` folder."""
    if isinstance(destination, S3Destination):
        from botocore.exceptions import BotoCoreError, ClientError

        key = f"{destination.prefix.rstrip('/')}/items.json".lstrip("/")
        try:
            body = destination.s3.get_object(Bucket=destination.bucket, Key=key)["Body"].read()
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(
                f"cannot read s3://{destination.bucket}/{key}: {_aws_reason(exc)}"
            ) from None
    elif isinstance(destination, DirectoryDestination):
        path = destination.root / "items.json"
        try:
            body = path.read_bytes()
        except OSError as exc:
            raise StorageError(f"cannot read {path}: {exc.strerror}") from None
    else:
        raise TypeError(f"cannot read an item list from {type(destination).__name__}")
    return parse_items(body)


def stored_result(destination: Destination, item: BackupItem) -> ItemResult | None:
    """The item's stored ``result.json``, or None when there is none. An unreadable record
    is None too (the item is captured again); failing to ask is a StorageError."""
    if isinstance(destination, S3Destination):
        from botocore.exceptions import BotoCoreError, ClientError

        key = item_result_key(destination.prefix, item)
        try:
            body = destination.s3.get_object(Bucket=destination.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if _aws_code(exc) in ("NoSuchKey", "404"):
                return None
            raise StorageError(
                f"cannot read s3://{destination.bucket}/{key}: {_aws_reason(exc)}"
            ) from None
        except BotoCoreError as exc:
            raise StorageError(
                f"cannot read s3://{destination.bucket}/{key}: {_aws_reason(exc)}"
            ) from None
    elif isinstance(destination, DirectoryDestination):
        try:
            body = (destination.root / item_result_key("", item)).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot read the result of {item.key}: {exc.strerror}") from None
    else:
        return None
    try:
        return ItemResult.from_json(body)
    except (ValueError, BackupError):
        log.warning("unreadable result record for %s: capturing it again", item.key)
        return None


def has_final_result(destination: Destination, item: BackupItem, run_id: str) -> bool:
    """Whether ``item`` already has a result in this run that capturing again would not
    change: succeeded, or failed in a way no retry can fix (a deleted repository is asked
    for once per run, however often its batch is retried)."""
    result = stored_result(destination, item)
    return (
        result is not None
        and result.run_id == run_id
        and (result.status == "succeeded" or not is_retryable(result.error_type))
    )


@dataclass
class BatchOutcome:
    """What one batch task did: ``results`` it recorded now, ``skipped`` items already
    succeeded in this run, ``not_started`` items a stop kept from starting, ``unfinished``
    items still running when the stop's grace ran out, ``storage_errors`` items whose result
    could not be stored."""

    results: list[ItemResult] = field(default_factory=list)
    skipped: list[BackupItem] = field(default_factory=list)
    not_started: list[BackupItem] = field(default_factory=list)
    unfinished: list[BackupItem] = field(default_factory=list)
    storage_errors: list[tuple[BackupItem, StorageError]] = field(default_factory=list)
    stopped: bool = False

    @property
    def final(self) -> bool:
        """Every item ended in a result a retry cannot change."""
        return not (
            self.stopped
            or self.not_started
            or self.unfinished
            or self.storage_errors
            or any(r.status != "succeeded" and is_retryable(r.error_type) for r in self.results)
        )

    @property
    def exit_code(self) -> int:
        """0 when ``final``; otherwise the code Step Functions retries on (any non-zero):
        143 when stopped, else the first retryable failure's error class's code."""
        if self.final:
            return 0
        if self.stopped or self.not_started or self.unfinished:
            return STOPPED_EXIT_CODE
        if self.storage_errors:
            return self.storage_errors[0][1].exit_code
        retryable = [r for r in self.results if r.status != "succeeded"]
        return next(exit_code_for(r.error_type) for r in retryable if is_retryable(r.error_type))


def backup_batch(
    items: Sequence[BackupItem],
    capture: Callable[[BackupItem], ItemResult],
    *,
    already_final: Callable[[BackupItem], bool],
    concurrency: int = DEFAULT_CONCURRENCY,
    stop: threading.Event | None = None,
    grace_seconds: float = 20.0,
    clock: Callable[[], float] = time.monotonic,
    poll_seconds: float = 0.2,
) -> BatchOutcome:
    """Capture ``items``, up to ``concurrency`` at a time, with ``capture(item)`` (which
    stores the zip and result and returns the result; a StorageError means the result
    could not be stored).

    Items ``already_final`` says have a final result in this run (``has_final_result``)
    are skipped. Once ``stop`` is set no item
    starts; items already running get ``grace_seconds`` to finish, after which they are
    reported ``unfinished`` and left running (the caller ends the process). Items are
    started in order, so a stopped batch leaves a tail of ``not_started`` items.
    """
    stop = stop or threading.Event()
    outcome = BatchOutcome()
    lock = threading.Lock()
    running: set[BackupItem] = set()

    def run_one(item: BackupItem) -> None:
        with lock:
            if stop.is_set():
                outcome.not_started.append(item)
                return
            running.add(item)
        try:
            if already_final(item):
                log.info("already has a final result in this run: %s", item.key)
                with lock:
                    outcome.skipped.append(item)
                return
            result = capture(item)
            with lock:
                outcome.results.append(result)
        except StorageError as exc:
            with lock:
                outcome.storage_errors.append((item, exc))
        finally:
            with lock:
                running.discard(item)

    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="capture")
    futures: set[Future[None]] = {pool.submit(run_one, item) for item in items}
    stopped_at: float | None = None
    try:
        while futures:
            done, futures = wait(futures, timeout=poll_seconds, return_when=FIRST_COMPLETED)
            for future in done:
                future.result()  # a bug in run_one itself must not pass silently
            if stop.is_set():
                stopped_at = clock() if stopped_at is None else stopped_at
                if clock() - stopped_at >= grace_seconds:
                    break
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    outcome.stopped = stop.is_set()
    with lock:
        outcome.unfinished = [item for item in items if item in running]
        # Futures cancelled before they ran never reached run_one.
        accounted = {
            *outcome.skipped,
            *outcome.not_started,
            *outcome.unfinished,
            *(r.item for r in outcome.results),
            *(item for item, _ in outcome.storage_errors),
        }
        outcome.not_started.extend(item for item in items if item not in accounted)
    order = {item: index for index, item in enumerate(items)}
    outcome.results.sort(key=lambda r: order.get(r.item, 0))
    outcome.not_started.sort(key=lambda i: order[i])
    return outcome


def _aws_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _aws_reason(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".strip(": ")
    return type(exc).__name__
