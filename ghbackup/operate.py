"""Operating a deployed stack: its runs, their manifests, and getting a repository (or a
whole run) back out of them. ``ghbackup.glacier`` makes an archived run zip readable first.

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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ghbackup.deployment import (
    aws_errors,
)
from ghbackup.errors import (
    ArchiveCorrupt,
    ConfigurationError,
    ItemNotInRun,
    ManifestWithoutByteRanges,
    NotAGhbackupBucket,
    NoWarmCopy,
    UnknownRun,
)
from ghbackup.extract import extract_item_from_run
from ghbackup.glacier import (
    DEFAULT_RESTORE_DAYS,
    DEFAULT_TIER,
    POLL_SECONDS,
    archive_state,
    ensure_readable,
)
from ghbackup.records import BackupItem, RunManifest, run_archive_key, run_manifest_key
from ghbackup.s3 import error_code

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

STREAM_CHUNK = 8 * 1024 * 1024
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,80}$")  # Step Functions execution names

Report = Callable[[str], None]
Progress = Callable[[int, int], None]  # (bytes so far, total)


def _quiet(_: str) -> None:
    pass


# --------------------------------------------------------------------------- manifests


def check_run_id(run_id: str) -> str:
    if not RUN_ID_PATTERN.match(run_id or ""):
        raise UnknownRun(f"{run_id!r} is not a run id (letters, digits, - and _ only)")
    return run_id


def load_manifest(s3: S3Client, bucket: str, run_id: str) -> RunManifest:
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


def list_run_ids(s3: S3Client, bucket: str) -> list[str]:
    """Run ids under ``runs/``, newest first (run ids start with their UTC time)."""
    ids: list[str] = []
    with aws_errors(f"ListObjectsV2 s3://{bucket}/runs/"):
        paginator = s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix="runs/", Delimiter="/"):
            ids.extend(p["Prefix"][len("runs/") : -1] for p in page.get("CommonPrefixes", []))
    return sorted(ids, reverse=True)


GHBACKUP_PREFIXES = ("runs/", "staging/", "latest/", "drills/")


def check_ghbackup_bucket(s3: S3Client, bucket: str) -> None:
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
    s3: S3Client,
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
    s3: S3Client,
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
    s3: S3Client,
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
    s3: S3Client, bucket: str, key: str, dest: Path, total: int, progress: Progress | None
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


def run_rows(s3: S3Client, bucket: str, *, limit: int) -> list[dict[str, Any]]:
    """One record per run, newest first: what ``ghbackup runs`` prints. ``proven_at``: when
    a restore drill last proved the run restorable (None: never)."""
    from ghbackup.drill import last_proven, list_reports  # drill builds on this module

    rows = []
    run_ids = list_run_ids(s3, bucket)
    if not run_ids:
        check_ghbackup_bucket(s3, bucket)
    with aws_errors(f"ListObjectsV2 s3://{bucket}/drills/"):
        proven = last_proven(list_reports(s3, bucket))
    for run_id in run_ids[:limit]:
        try:
            manifest = load_manifest(s3, bucket, run_id)
        except UnknownRun:
            rows.append({"run_id": run_id, "status": "NO MANIFEST", "started_at": None,
                         "succeeded": None, "failed": None, "bytes": None,
                         "storage_class": None, "archive": "no manifest (running, or "
                         "failed before Finalize)", "readable_until": None,
                         "proven_at": None})  # fmt: skip
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
            "proven_at": proven.get(run_id),
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
