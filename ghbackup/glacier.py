"""A run zip in a Glacier class: its state, restoring it, and waiting until it is readable.

Three states of the object (``head_object``'s ``Restore`` header tells them apart):

- archived: no restore requested. GET answers InvalidObjectState; a restore is requested
  (whole object: S3 cannot restore a byte range) with the expected wait;
- restoring: ``ongoing-request="true"``. Said so, and never requested a second time;
- restored: ``ongoing-request="false", expiry-date="..."``: a temporary readable copy, on
  which ranged GETs work until the expiry date.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Literal, cast

from botocore.exceptions import ClientError

from ghbackup.deployment import (
    aws_errors,
)
from ghbackup.errors import ConfigurationError, RestoreInProgress, RetrievalNotAvailable, UnknownRun
from ghbackup.s3 import error_code

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MB = 1000 * 1000
EXPEDITED_MAX_BYTES = 250 * MB  # S3 refuses Expedited for larger objects
ARCHIVE_CLASSES = ("GLACIER", "DEEP_ARCHIVE")
TIERS = ("Expedited", "Standard", "Bulk")
DEFAULT_TIER = "Standard"
DEFAULT_RESTORE_DAYS = 7
POLL_SECONDS = 60.0

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


def _quiet(_: str) -> None:
    pass


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


def archive_state(s3: S3Client, bucket: str, key: str) -> ArchiveState:
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


def request_restore(
    s3: S3Client, bucket: str, state: ArchiveState, *, tier: str, days: int
) -> bool:
    """Ask S3 for a temporary copy; False when S3 says one is already on its way."""
    check_tier(state, tier)
    try:
        s3.restore_object(
            Bucket=bucket,
            Key=state.key,
            RestoreRequest={"Days": days, "GlacierJobParameters": {"Tier": cast(Any, tier)}},
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
    s3: S3Client,
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
