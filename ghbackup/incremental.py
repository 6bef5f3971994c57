"""Incremental runs: decide before any task starts which items changed since their last
capture, reuse the warm copy of the rest, and keep that state only after a run succeeded.

Correctness first. An item is reused only when every probe (``ghbackup.probes``) answered
304 (or the same body: an ETag minted for another token never matches, see
/work/shared/notes/change-detection.md), its git refs (and its wiki's) are equal, and its
state is trustworthy: ``latest/<key>/state.json`` parses, has the current formats and
credential kind, is younger than ``full_capture_after_days``, and its warm copy is still the
object it names (the staging copy is conditional on its ETag). Anything else, including any
error, means a capture. Accounts are always captured (they are small and have no cheap
signal).

The list step (``plan_run``) probes, copies each unchanged item's warm copy into this run's
staging (server-side), records their succeeded results in one ``reused.json``, writes what it
saw of every other item as ``validators.json`` beside where its capture will go, and returns
the items to capture. The task (``prepare_capture``) completes what the list step could not:
the decision for an item it had no time to probe, the probes of an item without a state,
the kept pages of a changed item (``ghbackup.kept_pages``).
Finalize (``promote``), after the run manifest is stored, copies each captured item's zip to
``latest/<key>/item.zip``, its pages, and then writes ``state.json`` naming the zip: a run
that stops halfway leaves either the old state beside a new zip (its ETag differs: the
staging copy fails and the item is captured) or nothing new at all.

Deletions of issues or comments and cross-references do not change any probe on GitHub; the
periodic full capture (default every 30 days) bounds how long such a change can be missed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

from ghbackup import s3 as s3io
from ghbackup.census import Census, take_census
from ghbackup.credentials import redact
from ghbackup.errors import (
    ArchiveCorrupt,
    BackupError,
    StorageError,
)
from ghbackup.github import GitHubClient
from ghbackup.kept_pages import keep_latest_pages, load_pages
from ghbackup.probes import (
    CENSUS_PROBE,
    PROBE_WORKERS,
    Observation,
    observe,
    observe_census,
)
from ghbackup.records import (
    ITEM_MANIFEST_FORMAT,
    STATE_FORMAT,
    BackupItem,
    CaptureMode,
    ItemResult,
    ItemState,
    ProbeAnswer,
    ReusedItems,
    Validators,
    item_validators_key,
    item_zip_key,
    latest_state_key,
    latest_zip_key,
    parse_timestamp,
    reused_items_key,
    staging_prefix,
    utc_timestamp,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

DEFAULT_FULL_CAPTURE_AFTER_DAYS = 30
DEFAULT_LATEST_STORAGE_CLASS = "STANDARD_IA"
# Copies above this size go in parts (CopyObject's limit is 5 GiB).
# Why an item the list step had no time to probe goes to its task, which decides.
NOT_PROBED = "not probed: the list step's time ran out"
_COPY_CONFIG = TransferConfig(multipart_threshold=4 * 1024**3, multipart_chunksize=1024**3)

# -- the stored state ------------------------------------------------------------------


def load_state(s3: S3Client, bucket: str, item: BackupItem) -> tuple[ItemState | None, str]:
    """The item's state when it can be trusted, else None and why not."""
    try:
        data = s3io.read_json(s3, bucket, latest_state_key(item))
    except ArchiveCorrupt as exc:
        return None, f"state corrupt: {str(exc)[:200]}"
    except BackupError as exc:
        return None, f"state unreadable ({type(exc).__name__})"
    if data is None:
        return None, "no earlier capture"
    try:
        state = ItemState.from_json(data)
    except ValueError as exc:
        return None, f"state corrupt: {str(exc)[:200]}"
    if state.format != STATE_FORMAT or state.archive_format != ITEM_MANIFEST_FORMAT:
        return None, "archive format changed"
    if state.item.key != item.key:
        return None, "state corrupt: it is another item's"
    if state.zip_etag:
        # The copy into staging is conditional on this ETag: no need to look first.
        return state, "state trusted"
    try:
        head = s3io.head(s3, bucket, latest_zip_key(item))
    except BackupError as exc:
        return None, f"warm copy unreadable ({type(exc).__name__})"
    if head is None:
        return None, "warm copy missing"
    recorded = (head.get("Metadata") or {}).get("sha256")
    if recorded != state.zip_sha256 or head.get("ContentLength") != state.zip_bytes:
        return None, "warm copy is not the one the state describes (an interrupted update)"
    state.zip_etag = head.get("ETag")
    return state, "state trusted"


# -- the list step's plan --------------------------------------------------------------


@dataclass
class Decision:
    """What the list step decided for one item."""

    item: BackupItem
    mode: CaptureMode
    reason: str
    state: ItemState | None = None
    seen: Observation | None = None


@dataclass
class IncrementalPlan:
    """Items to capture (in order), and items whose warm copy is already staged."""

    capture: list[BackupItem]
    reused: list[BackupItem]
    decisions: dict[str, Decision]

    @property
    def items(self) -> list[BackupItem]:
        """``items.json``: the items to capture first (batches point into a prefix of it),
        then the reused ones."""
        return [*self.capture, *self.reused]


def decide(
    s3: S3Client,
    bucket: str,
    client: GitHubClient,
    item: BackupItem,
    *,
    full: bool,
    full_after: timedelta,
    now: datetime,
    probe: bool = True,
    remember: bool = False,
    census: str | None = None,
) -> Decision:
    """Capture or reuse ``item``, and why (never raises for GitHub's or S3's failures).
    Without ``probe`` (no time left) a trusted state is checked but GitHub is not asked:
    the item goes to its task, which decides (``prepare_capture``). ``census``: the item's
    census signature (ghbackup/census.py); with a state that holds one, it and the git refs
    decide, without a REST probe."""
    if item.kind == "account":
        return Decision(item, "captured", "accounts are always captured")
    # Without a state to trust there is nothing to compare with, so no probe here: the task
    # asks them just before its capture (``prepare_capture``), where most of them
    # are the capture's own first requests.
    if full:
        return Decision(item, "full", "full capture asked for by the execution input")
    state, why = load_state(s3, bucket, item)
    if state is None:
        return Decision(item, "full", why)
    if state.credential_kind != client.credentials.kind:
        return Decision(item, "full", f"credential kind changed from {state.credential_kind}")
    if now - parse_timestamp(state.captured_at) > full_after:
        return Decision(item, "full", f"last capture older than {full_after.days} days")
    if not probe:
        return Decision(item, "captured", NOT_PROBED, state)
    try:
        if census is not None and CENSUS_PROBE in state.probes:
            seen = observe_census(client, item, state, census)
        else:
            seen = observe(client, item, state, remember=remember)
            if census is not None:  # kept for the next run, which then needs no REST probe
                seen.probes[CENSUS_PROBE] = ProbeAnswer(status=200, body_sha256=census)
    except Exception as exc:  # noqa: BLE001 - any doubt, a bug included, means a capture
        if not isinstance(exc, BackupError):
            log.exception("probing %s failed unexpectedly", item.key)
        failed = f"probe failed ({type(exc).__name__}: {redact(str(exc))[:200]})"
        return Decision(item, "captured", failed)
    if seen.changed:
        shown = ", ".join(seen.changed[:5]) + (" ..." if len(seen.changed) > 5 else "")
        return Decision(item, "captured", f"changed: {shown}", state, seen)
    return Decision(item, "reused", "unchanged: every probe and ref equal", state, seen)


def plan_run(
    s3: S3Client,
    bucket: str,
    run_id: str,
    items: Sequence[BackupItem],
    client: GitHubClient,
    *,
    full: bool = False,
    full_capture_after_days: int = DEFAULT_FULL_CAPTURE_AFTER_DAYS,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    workers: int = PROBE_WORKERS,
    time_left: Callable[[], float] | None = None,
    use_census: bool = True,
) -> IncrementalPlan:
    """Decide every item, stage the reused ones (warm copy + result) and record what was
    seen of the others, ``workers`` items at a time. An item whose warm copy cannot be
    staged is captured.

    ``time_left``: seconds the caller may still spend probing (the list step's Lambda time
    less what it needs after this). Once it is spent the remaining items are not probed but
    captured, which is always correct: the run ends in time and only costs more.

    ``use_census``: first describe every repository with the GraphQL census (100 per query),
    so that items whose state holds a census signature are decided without REST probes."""
    now = clock()
    full_after = timedelta(days=full_capture_after_days)
    reused_results: dict[str, ItemResult] = {}
    census = Census() if full or not use_census else take_census(client, _repositories(items))

    def settle(item: BackupItem) -> Decision:
        probe = time_left is None or time_left() > 0
        entry = census.get(item.full_name) if item.kind == "repository" else None
        signature = entry.signature if entry else None
        decision = decide(s3, bucket, client, item, full=full, full_after=full_after, now=now,
                          probe=probe, census=signature)  # fmt: skip
        outcome = _settle(s3, bucket, run_id, decision, client, now, census=signature)
        if isinstance(outcome, ItemResult):
            reused_results[item.key] = outcome
        return decision

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probe") as pool:
        decisions = list(pool.map(settle, items))
    capture = [d.item for d in decisions if d.mode != "reused"]
    reused = [d.item for d in decisions if d.mode == "reused"]
    if reused:
        # One record for every reused item, after all their zips are staged: a list step
        # that stops before it leaves them without results, and Finalize counts them
        # failed (a retried list step starts over).
        record = ReusedItems(results=[reused_results[item.key] for item in reused])
        _put(s3, bucket, reused_items_key(run_id), record.to_bytes())
    return IncrementalPlan(capture, reused, {d.item.key: d for d in decisions})


def _repositories(items: Sequence[BackupItem]) -> list[str]:
    return [item.full_name for item in items if item.kind == "repository" and item.full_name]


def _settle(
    s3: S3Client, bucket: str, run_id: str, decision: Decision, client: GitHubClient,
    now: datetime, census: str | None = None,
) -> ItemResult | Validators:  # fmt: skip
    """Carry out a decision: a reused item's warm copy is staged and its result returned;
    any other item (one whose copy failed included) gets its validators recorded, which are
    returned. ``decision`` is updated when the copy fails."""
    if decision.mode == "reused":
        try:
            return _stage_warm_copy(s3, bucket, run_id, decision, now)
        except StorageError as exc:
            log.warning("warm copy of %s not staged: %s", decision.item.key, exc)
            decision.mode, decision.reason = _copy_failure(exc)
    validators = _validators(decision, client, now, census)
    key = item_validators_key(staging_prefix(run_id), decision.item)
    _put(s3, bucket, key, validators.to_bytes())
    return validators


def _validators(
    decision: Decision, client: GitHubClient, now: datetime, census: str | None = None
) -> Validators:
    """What was seen of an item sent to capture (complete only when it was probed). An item
    not probed here keeps its census signature, which the task's probes complete."""
    seen = decision.seen
    probes = dict(seen.probes) if seen else {}
    if census is not None:
        probes.setdefault(CENSUS_PROBE, ProbeAnswer(status=200, body_sha256=census))
    return Validators(
        item=decision.item,
        observed_at=utc_timestamp(now),
        credential_kind=client.credentials.kind,
        capture=decision.mode,
        capture_reason=decision.reason,
        complete=seen is not None,
        probes=probes,
        refs=seen.refs if seen else {},
        remotes=seen.remotes if seen else {},
    )


def _copy_failure(exc: StorageError) -> tuple[CaptureMode, str]:
    """How an item whose warm copy could not be staged is captured, and why."""
    if exc.code == "NoSuchKey":
        return "full", "warm copy missing"
    if exc.code == "PreconditionFailed":
        return "full", "warm copy is not the one the state describes (an interrupted update)"
    return "captured", f"warm copy failed: {exc}"[:300]


def _stage_warm_copy(
    s3: S3Client, bucket: str, run_id: str, decision: Decision, now: datetime
) -> ItemResult:
    """Copy the warm zip into this run's staging (server-side); returns the item's result."""
    state = decision.state
    assert state is not None  # a reused decision always has its state
    item, prefix = decision.item, staging_prefix(run_id)
    target = item_zip_key(prefix, item)
    # Only the object the state describes: an interrupted update (a newer zip beside this
    # state) or another run's Finalize replacing it meanwhile fails the copy (412), and the
    # item is captured instead.
    assert state.zip_etag is not None  # load_state sets it (read or looked up)
    _copy(s3, bucket, latest_zip_key(item), target, state.zip_bytes, if_match=state.zip_etag,
          metadata={"sha256": state.zip_sha256, "item": item.key})  # fmt: skip
    stamp = utc_timestamp(now)
    return ItemResult(
        item=item, status="succeeded", run_id=run_id, started_at=stamp, finished_at=stamp,
        zip_key=target, zip_bytes=state.zip_bytes, zip_sha256=state.zip_sha256,
        counts=state.counts, skipped=state.skipped,
        github_requests=decision.seen.requests if decision.seen else 0,
        capture="reused", capture_reason=decision.reason, reused_from=state.run_id,
        verified=state.verified,  # these bytes passed verify at write in state.run_id
    )  # fmt: skip


def _copy(
    s3: S3Client,
    bucket: str,
    source: str,
    target: str,
    size: int,
    *,
    metadata: dict[str, str],
    if_match: str | None = None,
    storage_class: str | None = None,
) -> str:
    """Copy ``source`` to ``target`` in the bucket, server-side, and return the copy's ETag.
    One CopyObject up to its 5 GiB limit (the managed copy would HEAD the source first);
    above it, a multipart copy."""
    args: dict[str, Any] = {"ContentType": "application/zip", "MetadataDirective": "REPLACE",
                            "Metadata": metadata}  # fmt: skip
    if if_match:
        args["CopySourceIfMatch"] = if_match
    if storage_class:
        args["StorageClass"] = storage_class
    try:
        if size < _COPY_CONFIG.multipart_threshold:
            answer = s3.copy_object(
                Bucket=bucket, Key=target, CopySource={"Bucket": bucket, "Key": source}, **args
            )
            return str(answer["CopyObjectResult"]["ETag"])
        s3.copy({"Bucket": bucket, "Key": source}, bucket, target, ExtraArgs=args,
                Config=_COPY_CONFIG)  # fmt: skip
        return str(s3.head_object(Bucket=bucket, Key=target)["ETag"])
    except (BotoCoreError, ClientError) as exc:
        raise s3io.storage_error("CopyObject", bucket, target, exc) from None


def _put(s3: S3Client, bucket: str, key: str, body: bytes) -> None:
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    except (BotoCoreError, ClientError) as exc:
        raise s3io.storage_error("PutObject", bucket, key, exc) from None


# -- Finalize: the new state -----------------------------------------------------------


def read_validators(s3: S3Client, bucket: str, run_id: str, item: BackupItem) -> Validators | None:
    """What the list step saw of a captured item (None: not an incremental item, or
    unreadable, which only means its state is not updated)."""
    try:
        data = s3io.read_json(s3, bucket, item_validators_key(staging_prefix(run_id), item))
        return Validators.from_json(data) if data is not None else None
    except (BackupError, ValueError) as exc:
        log.warning("validators of %s unreadable: %s", item.key, exc)
        return None


def prepare_capture(
    s3: S3Client,
    bucket: str,
    run_id: str,
    item: BackupItem,
    client: GitHubClient,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ItemResult | None:
    """In the task, just before an incremental run captures ``item`` with ``client``:

    - an item the list step had no time to probe: decide here, as the list step would have;
      unchanged, its warm copy is staged and its result returned (no capture is needed);
    - an item the list step did not observe (no state to compare with): ask its probes now
      and record the answers as complete validators, which Finalize makes the item's state;
      the capture's requests identical to a probe then cost a 304 each;
    - an item that changed since its last capture: give the client that capture's pages
      (``latest/<key>/pages.json.gz``), so its unchanged pages cost a 304 each.

    A full capture starts from nothing. Never raises: without validators the item is only
    captured in full again next run, and without pages every page costs a request."""
    if item.kind == "account":
        return None
    validators = read_validators(s3, bucket, run_id, item)
    if validators is None:
        return None  # not an incremental run
    if not validators.complete and validators.capture_reason == NOT_PROBED:
        # The list step's decision, which it had no time for (it already checked the
        # state's age and credential kind).
        now = clock()
        decision = decide(s3, bucket, client, item, full=False, full_after=timedelta.max,
                          now=now, remember=True)  # fmt: skip
        try:
            outcome = _settle(s3, bucket, run_id, decision, client, now)
        except StorageError as exc:
            log.warning("%s: not decided in the task (%s): captured", item.key, exc)
            return None
        if isinstance(outcome, ItemResult):
            return outcome
        validators = outcome
    if validators.complete:
        if validators.capture == "captured":
            load_pages(s3, bucket, item, client)
        return None
    observed_at = utc_timestamp(clock())
    try:
        seen = observe(client, item, None, remember=True)
        # The census signature the list step recorded stays beside the REST probes.
        probes = {**validators.probes, **seen.probes}
        update = {"observed_at": observed_at, "complete": True, "probes": probes,
                  "refs": seen.refs, "remotes": seen.remotes}  # fmt: skip
        body = validators.model_copy(update=update).to_bytes()
        _put(s3, bucket, item_validators_key(staging_prefix(run_id), item), body)
    except Exception as exc:  # noqa: BLE001 - the capture matters more than its validators
        if not isinstance(exc, BackupError):
            log.exception("observing %s before its capture failed unexpectedly", item.key)
        log.warning("%s: no validators recorded (%s): it is captured in full next run too",
                    item.key, type(exc).__name__)  # fmt: skip
    return None


def promote(
    s3: S3Client,
    bucket: str,
    result: ItemResult,
    validators: Validators,
    *,
    storage_class: str = DEFAULT_LATEST_STORAGE_CLASS,
) -> None:
    """Make a succeeded capture the item's warm copy: the zip first, then ``state.json``
    (the state names the zip by checksum, so a stop between the two leaves no trusted
    state). Raises StorageError; the caller logs it: the run itself is complete."""
    if result.status != "succeeded" or result.capture == "reused" or not validators.complete:
        return
    if not result.zip_key or not result.zip_sha256:
        return
    item = result.item
    etag = _copy(s3, bucket, result.zip_key, latest_zip_key(item), result.zip_bytes,
                 storage_class=storage_class,
                 metadata={"sha256": result.zip_sha256, "item": item.key, "run": result.run_id})  # fmt: skip
    keep_latest_pages(s3, bucket, result, storage_class)
    state = ItemState(
        item=item,
        run_id=result.run_id,
        captured_at=validators.observed_at,
        zip_sha256=result.zip_sha256,
        zip_bytes=result.zip_bytes,
        zip_etag=etag,
        credential_kind=validators.credential_kind,
        probes=validators.probes,
        refs=validators.refs,
        remotes=validators.remotes,
        counts=result.counts,
        skipped=result.skipped,
        verified=result.verified,
    )
    _put(s3, bucket, latest_state_key(item), state.to_bytes())
