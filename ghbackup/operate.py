"""Operating a deployed stack: get a repository back out of Glacier, list and show runs,
start and watch them.

Getting one repository back from a run zip in a Glacier class takes three states of the
object (``head_object``'s ``Restore`` header tells them apart):

- archived: no restore requested. GET answers InvalidObjectState; we request a restore
  (whole object: S3 cannot restore a byte range) and report the expected wait;
- restoring: ``ongoing-request="true"``. We say so and never request a second restore;
- restored: ``ongoing-request="false", expiry-date="..."``: a temporary readable copy, on
  which ranged GETs work until the expiry date.

Once readable, one item is rebuilt from its byte ranges in the run manifest
(:func:`ghbackup.extract.extract_item_from_run`): two ranged reads whatever the run's size,
and the result is byte-identical to the zip the task wrote, so its SHA-256 is checked against
the manifest before it is kept.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Literal

from botocore.exceptions import ClientError

from ghbackup.deployment import (
    ItemNotInRun,
    ManifestWithoutByteRanges,
    NotAGhbackupBucket,
    NoWarmCopy,
    RestoreInProgress,
    RetrievalNotAvailable,
    UnknownRun,
    aws_errors,
    error_code,
)
from ghbackup.errors import ArchiveCorrupt, ConfigurationError
from ghbackup.extract import extract_item_from_run
from ghbackup.records import BackupItem, RunManifest, run_archive_key, run_manifest_key

MB = 1000 * 1000
EXPEDITED_MAX_BYTES = 250 * MB  # S3 refuses Expedited for larger objects
ARCHIVE_CLASSES = ("GLACIER", "DEEP_ARCHIVE")
TIERS = ("Expedited", "Standard", "Bulk")
DEFAULT_TIER = "Standard"
DEFAULT_RESTORE_DAYS = 7
POLL_SECONDS = 60.0
STREAM_CHUNK = 8 * 1024 * 1024
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,80}$")  # Step Functions execution names

# AWS's documented retrieval times: (typical, upper bound) in seconds.
RETRIEVAL_TIMES: dict[tuple[str, str], tuple[str, float]] = {
    ("GLACIER", "Expedited"): ("1-5 minutes", 5 * 60),
    ("GLACIER", "Standard"): ("3-5 hours", 5 * 3600),
    ("GLACIER", "Bulk"): ("5-12 hours", 12 * 3600),
    ("DEEP_ARCHIVE", "Standard"): ("up to 12 hours", 12 * 3600),
    ("DEEP_ARCHIVE", "Bulk"): ("up to 48 hours", 48 * 3600),
}

ArchiveStateName = Literal["readable", "archived", "restoring", "restored"]
Report = Callable[[str], None]
Progress = Callable[[int, int], None]  # (bytes so far, total)


def _quiet(_: str) -> None:
    pass


# --------------------------------------------------------------------------- Glacier states


@dataclass
class ArchiveState:
    """Where an object stands between Glacier and readable."""

    key: str
    storage_class: str
    bytes: int
    state: ArchiveStateName
    readable_until: datetime | None = None

    @property
    def readable(self) -> bool:
        return self.state in ("readable", "restored")

    def describe(self) -> str:
        if self.state == "readable":
            return "readable"
        if self.state == "restored":
            until = (
                self.readable_until.strftime("%Y-%m-%d %H:%M UTC") if self.readable_until else "?"
            )
            return f"restored, readable until {until}"
        if self.state == "restoring":
            return f"in {self.storage_class}, being restored"
        return f"in {self.storage_class}"


_ONGOING = re.compile(r'ongoing-request\s*=\s*"(true|false)"')
_EXPIRY = re.compile(r'expiry-date\s*=\s*"([^"]+)"')


def parse_restore_header(value: str | None) -> tuple[bool | None, datetime | None]:
    """S3's ``x-amz-restore``: (ongoing, expiry). (None, None) when no restore was asked."""
    if not value:
        return None, None
    ongoing = _ONGOING.search(value)
    expiry = _EXPIRY.search(value)
    when = None
    if expiry:
        try:
            when = parsedate_to_datetime(expiry.group(1)).astimezone(UTC)
        except (TypeError, ValueError):
            when = None
    return (ongoing.group(1) == "true") if ongoing else None, when


def archive_state(s3: Any, bucket: str, key: str) -> ArchiveState:
    """The object's class and restore state, from one HeadObject."""
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            raise UnknownRun(f"s3://{bucket}/{key} does not exist") from None
        with aws_errors(f"HeadObject s3://{bucket}/{key}"):
            raise
    storage_class = head.get("StorageClass") or "STANDARD"
    size = int(head.get("ContentLength", 0))
    if storage_class not in ARCHIVE_CLASSES:
        return ArchiveState(key, storage_class, size, "readable")
    ongoing, expiry = parse_restore_header(head.get("Restore"))
    if ongoing is None:
        return ArchiveState(key, storage_class, size, "archived")
    if ongoing:
        return ArchiveState(key, storage_class, size, "restoring")
    return ArchiveState(key, storage_class, size, "restored", expiry)


def expected_wait(storage_class: str, tier: str) -> str:
    known = RETRIEVAL_TIMES.get((storage_class, tier))
    return known[0] if known else "unknown"


def check_tier(state: ArchiveState, tier: str) -> None:
    """Refuse what S3 would refuse, with a message that says what to do instead."""
    if tier not in TIERS:
        raise ConfigurationError(f"--tier must be one of {', '.join(TIERS)}, not {tier!r}")
    if tier == "Expedited" and state.storage_class == "DEEP_ARCHIVE":
        raise RetrievalNotAvailable(
            f"s3://…/{state.key} is in DEEP_ARCHIVE, which has no Expedited retrieval: "
            "use --tier Standard (up to 12 h) or Bulk (up to 48 h)"
        )
    if tier == "Expedited" and state.bytes >= EXPEDITED_MAX_BYTES:
        raise RetrievalNotAvailable(
            f"{state.key} is {state.bytes / MB:,.0f} MB; S3 offers Expedited retrieval only for "
            "objects under 250 MB (a restore is always of the whole run zip): use --tier "
            "Standard (3-5 h) or Bulk (5-12 h)"
        )


def request_restore(s3: Any, bucket: str, state: ArchiveState, *, tier: str, days: int) -> bool:
    """Ask S3 for a temporary copy; False when S3 says one is already on its way."""
    check_tier(state, tier)
    try:
        s3.restore_object(
            Bucket=bucket,
            Key=state.key,
            RestoreRequest={"Days": days, "GlacierJobParameters": {"Tier": tier}},
        )
    except ClientError as exc:
        if error_code(exc) == "RestoreAlreadyInProgress":
            return False
        if error_code(exc) == "GlacierExpeditedRetrievalNotAvailable":
            raise RetrievalNotAvailable(
                "S3 has no Expedited capacity right now: use --tier Standard or Bulk"
            ) from None
        with aws_errors(f"RestoreObject s3://{bucket}/{state.key}"):
            raise
    return True


def ensure_readable(
    s3: Any,
    bucket: str,
    key: str,
    *,
    tier: str = DEFAULT_TIER,
    days: int = DEFAULT_RESTORE_DAYS,
    wait: bool = False,
    report: Report = _quiet,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    poll_seconds: float = POLL_SECONDS,
) -> ArchiveState:
    """Return the object's state once it is readable. A Glacier object gets a restore
    request (once: a restore in progress is reported, not requested again); then
    RestoreInProgress is raised, or with ``wait`` the object is polled until readable (at
    most twice the tier's documented upper bound)."""
    state = archive_state(s3, bucket, key)
    if state.readable:
        return state
    if tier not in TIERS:
        raise ConfigurationError(f"--tier must be one of {', '.join(TIERS)}, not {tier!r}")
    wait_text = expected_wait(state.storage_class, tier)
    if state.state == "archived":
        if request_restore(s3, bucket, state, tier=tier, days=days):
            report(
                f"requested a {tier} restore of s3://{bucket}/{key} ({state.storage_class}, "
                f"{state.bytes:,} bytes) for {days} days; expected wait: {wait_text}"
            )
        else:
            report(f"a restore of s3://{bucket}/{key} is already in progress")
    else:
        report(
            f"a restore of s3://{bucket}/{key} is already in progress ({state.storage_class}; "
            f"a {tier} restore takes {wait_text})"
        )
    if not wait:
        raise RestoreInProgress(
            f"restore in progress (expected wait {wait_text}): run the same command again later,"
            " or add --wait"
        )
    started = clock()
    limit = 2 * RETRIEVAL_TIMES.get((state.storage_class, tier), ("", 48 * 3600))[1]
    while True:
        sleep(poll_seconds)
        state = archive_state(s3, bucket, key)
        elapsed = clock() - started
        if state.readable:
            report(f"restored after {_duration(elapsed)}: {state.describe()}")
            return state
        if elapsed > limit:
            raise RestoreInProgress(
                f"still being restored after {_duration(elapsed)} (expected {wait_text}); "
                "run the same command again later"
            )
        report(f"waiting for the restore: {_duration(elapsed)} of the expected {wait_text}")


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


# --------------------------------------------------------------------------- manifests


def check_run_id(run_id: str) -> str:
    if not RUN_ID_PATTERN.match(run_id or ""):
        raise UnknownRun(f"{run_id!r} is not a run id (letters, digits, - and _ only)")
    return run_id


def load_manifest(s3: Any, bucket: str, run_id: str) -> RunManifest:
    """The run manifest; UnknownRun when the bucket has runs but not this one,
    NotAGhbackupBucket when it has none."""
    check_run_id(run_id)
    key = run_manifest_key(run_id)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if error_code(exc) not in ("NoSuchKey", "404"):
            with aws_errors(f"GetObject s3://{bucket}/{key}"):
                raise
        check_ghbackup_bucket(s3, bucket)
        raise UnknownRun(f"no run {run_id} in s3://{bucket} (see `ghbackup runs`)") from None
    try:
        data = json.loads(body)
        if not isinstance(data, dict) or not str(data.get("format", "")).startswith(
            "ghbackup-run/"
        ):
            raise ValueError("not a run manifest")
        return RunManifest.from_json(data)
    except (ValueError, TypeError, KeyError) as exc:
        raise NotAGhbackupBucket(
            f"s3://{bucket}/{key} is not a ghbackup run manifest: {exc}"
        ) from None


def list_run_ids(s3: Any, bucket: str) -> list[str]:
    """Run ids under ``runs/``, newest first (run ids start with their UTC time)."""
    ids: list[str] = []
    with aws_errors(f"ListObjectsV2 s3://{bucket}/runs/"):
        paginator = s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix="runs/", Delimiter="/"):
            ids.extend(p["Prefix"][len("runs/") : -1] for p in page.get("CommonPrefixes", []))
    return sorted(ids, reverse=True)


GHBACKUP_PREFIXES = ("runs/", "staging/", "latest/")


def check_ghbackup_bucket(s3: Any, bucket: str) -> None:
    """NotAGhbackupBucket unless the bucket is empty (a new stack) or its top level holds
    only what ghbackup writes."""
    with aws_errors(f"ListObjectsV2 s3://{bucket}"):
        top = s3.list_objects_v2(Bucket=bucket, Delimiter="/", MaxKeys=100)
    names = [p["Prefix"] for p in top.get("CommonPrefixes", [])]
    names += [o["Key"] for o in top.get("Contents", [])]
    if "runs/" in names or not names:
        return
    if any(name not in GHBACKUP_PREFIXES for name in names):
        shown = ", ".join(sorted(names)[:3])
        raise NotAGhbackupBucket(
            f"s3://{bucket} holds no ghbackup runs (it has {shown}...): is it the backup bucket?"
        )


def item_key_for(repo: str | None, item: str | None) -> str:
    """``--repo OWNER/NAME`` or ``--item KEY`` as a run manifest item key."""
    if item:
        return item
    if not repo or repo.count("/") != 1 or not all(repo.split("/")):
        raise ConfigurationError(f"--repo must be OWNER/NAME, not {repo!r}")
    return BackupItem(kind="repository", full_name=repo).key


def find_item(manifest: RunManifest, item_key: str) -> Any:
    for line in manifest.items:
        if line.item_key == item_key:
            if line.status != "succeeded":
                raise ItemNotInRun(
                    f"{item_key} failed in run {manifest.run_id} ({line.error_type}: "
                    f"{line.error}); pick an earlier run"
                )
            return line
    close = [i.item_key for i in manifest.items if item_key.rsplit("/", 1)[-1] in i.item_key][:3]
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ItemNotInRun(
        f"{item_key} is not in run {manifest.run_id} ({len(manifest.items)} items){hint}"
    )


# --------------------------------------------------------------------------- get


@dataclass
class GetOptions:
    tier: str = DEFAULT_TIER
    days: int = DEFAULT_RESTORE_DAYS
    wait: bool = False
    poll_seconds: float = POLL_SECONDS


def get_item(
    s3: Any,
    bucket: str,
    run_id: str,
    item_key: str,
    out_dir: Path,
    options: GetOptions,
    *,
    report: Report = _quiet,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Path:
    """One item's standalone zip under ``out_dir/<run id>/``, rebuilt from its byte ranges
    and checked against the manifest's SHA-256."""
    manifest = load_manifest(s3, bucket, run_id)
    line = find_item(manifest, item_key)
    if manifest.archive is None:
        raise ItemNotInRun(f"run {run_id} stored no run zip")
    if line.offset is None or line.central_directory_offset is None:
        raise ManifestWithoutByteRanges(
            f"the manifest of run {run_id} has no byte ranges (an older run): get the whole "
            f"run with `ghbackup get {run_id}`, then `ghbackup restore ZIP --repo ...`"
        )
    ensure_readable(s3, bucket, manifest.archive.key, tier=options.tier, days=options.days,
                    wait=options.wait, report=report, sleep=sleep, clock=clock,
                    poll_seconds=options.poll_seconds)  # fmt: skip
    root = line.item.archive_root.rstrip("/")
    dest = Path(out_dir) / run_id / f"{root}.zip"
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".part")
    try:
        with aws_errors(f"reading {item_key} from s3://{bucket}/{manifest.archive.key}"):
            extract_item_from_run(s3, bucket, manifest, item_key, partial)
        digest = _sha256(partial)
        if line.zip_sha256 and digest != line.zip_sha256:
            raise ArchiveCorrupt(
                f"{item_key}: sha256 {digest} of the rebuilt zip differs from the manifest's "
                f"{line.zip_sha256}"
            )
        partial.replace(dest)
    finally:
        partial.unlink(missing_ok=True)
    return dest


def get_run(
    s3: Any,
    bucket: str,
    run_id: str,
    out_dir: Path,
    options: GetOptions,
    *,
    report: Report = _quiet,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Path:
    """The whole run zip, streamed to ``out_dir/<run id>/ghbackup-<run id>.zip``."""
    manifest = load_manifest(s3, bucket, run_id)
    if manifest.archive is None:
        raise ItemNotInRun(f"run {run_id} stored no run zip (no item succeeded)")
    key = manifest.archive.key
    state = ensure_readable(s3, bucket, key, tier=options.tier, days=options.days,
                            wait=options.wait, report=report, sleep=sleep, clock=clock,
                            poll_seconds=options.poll_seconds)  # fmt: skip
    dest = Path(out_dir) / run_id / Path(run_archive_key(run_id)).name
    _download(s3, bucket, key, dest, state.bytes, progress)
    expected = manifest.archive.bytes
    if expected is not None and dest.stat().st_size != expected:
        dest.unlink()
        raise ArchiveCorrupt(f"s3://{bucket}/{key} is not the {expected:,} bytes its manifest says")
    return dest


def latest_key(item_key: str) -> str:
    return f"latest/{item_key}/item.zip"


def get_latest(
    s3: Any,
    bucket: str,
    item_key: str,
    out_dir: Path,
    *,
    progress: Progress | None = None,
) -> Path:
    """The warm copy an incremental run keeps of an item, when there is one."""
    key = latest_key(item_key)
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            raise NoWarmCopy(
                f"no warm copy of {item_key} (s3://{bucket}/{key} does not exist): use "
                "`ghbackup get RUN --repo ...` with a run id from `ghbackup runs`"
            ) from None
        with aws_errors(f"HeadObject s3://{bucket}/{key}"):
            raise
    dest = Path(out_dir) / "latest" / f"{item_key.replace('/', '_')}.zip"
    _download(s3, bucket, key, dest, int(head.get("ContentLength", 0)), progress)
    recorded = (head.get("Metadata") or {}).get("sha256")
    if recorded and _sha256(dest) != recorded:
        dest.unlink()
        raise ArchiveCorrupt(f"s3://{bucket}/{key}: sha256 differs from its recorded sha256")
    return dest


def _download(
    s3: Any, bucket: str, key: str, dest: Path, total: int, progress: Progress | None
) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".part")
    done = 0
    try:
        with aws_errors(f"GetObject s3://{bucket}/{key}"):
            body = s3.get_object(Bucket=bucket, Key=key)["Body"]
            with partial.open("wb") as out:
                for chunk in body.iter_chunks(STREAM_CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
        partial.replace(dest)
    finally:
        partial.unlink(missing_ok=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def parse_s3_run_url(url: str) -> tuple[str, str]:
    """``s3://BUCKET/runs/R/ghbackup-R.zip`` -> (bucket, run id)."""
    match = re.fullmatch(r"s3://([^/]+)/runs/([^/]+)/ghbackup-([^/]+)\.zip", url)
    if not match or match.group(2) != match.group(3):
        raise ConfigurationError(
            f"{url} is not a run zip URL (s3://BUCKET/runs/RUN/ghbackup-RUN.zip)"
        )
    return match.group(1), match.group(2)


# --------------------------------------------------------------------------- runs and show


def run_rows(s3: Any, bucket: str, *, limit: int) -> list[dict[str, Any]]:
    """One record per run, newest first: what ``ghbackup runs`` prints."""
    rows = []
    run_ids = list_run_ids(s3, bucket)
    if not run_ids:
        check_ghbackup_bucket(s3, bucket)
    for run_id in run_ids[:limit]:
        try:
            manifest = load_manifest(s3, bucket, run_id)
        except UnknownRun:
            rows.append({"run_id": run_id, "status": "NO MANIFEST", "started_at": None,
                         "succeeded": None, "failed": None, "bytes": None,
                         "storage_class": None, "archive": "no manifest (running, or "
                         "failed before Finalize)", "readable_until": None})  # fmt: skip
            continue
        row: dict[str, Any] = {
            "run_id": run_id,
            "status": manifest.status,
            "started_at": manifest.started_at,
            "succeeded": manifest.counts.succeeded,
            "failed": manifest.counts.failed,
            "bytes": manifest.bytes,
            "storage_class": None,
            "archive": "no run zip",
            "readable_until": None,
        }
        if manifest.archive is not None:
            try:
                state = archive_state(s3, bucket, manifest.archive.key)
            except UnknownRun:
                row["archive"] = "run zip missing"
            else:
                row["storage_class"] = state.storage_class
                row["archive"] = state.state
                if state.readable_until:
                    row["readable_until"] = state.readable_until.isoformat().replace("+00:00", "Z")
        rows.append(row)
    return rows


def show_rows(manifest: RunManifest) -> list[dict[str, Any]]:
    """Per item of a run: what ``ghbackup show`` prints."""
    return [
        {
            "item": line.item_key,
            "status": line.status,
            "bytes": line.zip_bytes,
            "error": f"{line.error_type}: {line.error}" if line.status != "succeeded" else None,
            "skipped": dict(line.skipped),
            "byte_ranges": line.offset is not None,
        }
        for line in manifest.items
    ]


# --------------------------------------------------------------------------- start and watch


def execution_arn(state_machine_arn: str, run_id: str) -> str:
    """arn:aws:states:R:A:stateMachine:N -> arn:aws:states:R:A:execution:N:run_id."""
    parts = state_machine_arn.split(":")
    if len(parts) < 7 or parts[5] != "stateMachine":
        raise ConfigurationError(f"{state_machine_arn} is not a state machine ARN")
    return ":".join([*parts[:5], "execution", parts[6], run_id])


def console_url(arn: str) -> str:
    region = arn.split(":")[3]
    return (
        f"https://{region}.console.aws.amazon.com/states/home?region={region}"
        f"#/v2/executions/details/{arn}"
    )


def start_run(
    sfn: Any, state_machine_arn: str, execution_input: dict[str, Any], run_id: str
) -> str:
    """Validate the input with the state machine's own schema, then start an execution
    named ``run_id``; returns its ARN."""
    from ghbackup.execution_input import validate_selection

    check_run_id(run_id)
    validate_selection(execution_input)
    try:
        return sfn.start_execution(
            stateMachineArn=state_machine_arn, name=run_id, input=json.dumps(execution_input)
        )["executionArn"]
    except ClientError as exc:
        if error_code(exc) == "ExecutionAlreadyExists":
            raise ConfigurationError(
                f"run {run_id} exists already: choose another --run-id"
            ) from None
        if error_code(exc) == "StateMachineDoesNotExist":
            raise ConfigurationError(f"no state machine {state_machine_arn}") from None
        with aws_errors("StartExecution"):
            raise
    raise AssertionError("unreachable")


@dataclass
class MapProgress:
    done: int
    failed: int
    total: int


def map_progress(sfn: Any, arn: str) -> MapProgress | None:
    """Item counts of the execution's Distributed Map run, once it has one."""
    with aws_errors("ListMapRuns"):
        runs = sfn.list_map_runs(executionArn=arn).get("mapRuns", [])
        if not runs:
            return None
        counts = sfn.describe_map_run(mapRunArn=runs[0]["mapRunArn"]).get("itemCounts", {})
    failed = sum(int(counts.get(k, 0)) for k in ("failed", "timedOut", "aborted"))
    done = int(counts.get("succeeded", 0)) + failed
    return MapProgress(done=done, failed=failed, total=int(counts.get("total", 0)))


def watch_run(
    sfn: Any,
    s3: Any,
    bucket: str | None,
    arn: str,
    *,
    progress: Callable[[MapProgress], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float = 5.0,
    max_polls: int | None = None,
) -> tuple[str, RunManifest | None]:
    """Poll the execution until it ends; returns its status and the run manifest (the
    source of the run's SUCCEEDED / PARTIAL / FAILED), when the bucket is known and has one."""
    polls = 0
    while True:
        with aws_errors("DescribeExecution"):
            try:
                described = sfn.describe_execution(executionArn=arn)
            except ClientError as exc:
                if error_code(exc) == "ExecutionDoesNotExist":
                    raise UnknownRun(f"no execution {arn}") from None
                raise
        found = map_progress(sfn, arn)
        if found and progress:
            progress(found)
        if described["status"] != "RUNNING":
            break
        polls += 1
        if max_polls is not None and polls >= max_polls:
            break
        sleep(poll_seconds)
    manifest = None
    if bucket:
        run_id = arn.rsplit(":", 1)[-1]
        try:
            manifest = load_manifest(s3, bucket, run_id)
        except (UnknownRun, NotAGhbackupBucket):
            manifest = None
    return described["status"], manifest


def run_exit_code(manifest: RunManifest | None) -> int:
    """0 SUCCEEDED, 3 PARTIAL, 1 FAILED (as ``run --local``), read from the manifest."""
    if manifest is None:
        return 1
    return {"SUCCEEDED": 0, "PARTIAL": 3}.get(manifest.status, 1)
