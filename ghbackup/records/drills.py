"""The restore drill's records: its request, its plan, what the drill task found and the
report it leaves in ``drills/<id>/report.json``."""

from __future__ import annotations

from typing import Final, Literal

from pydantic import ConfigDict, Field

from ghbackup.records.base import Record

DRILL_REPORT_FORMAT: Final = "ghbackup-drill/1"
DRILLS_PREFIX = "drills/"
DEFAULT_DRILL_ITEMS = 5
# The sampled item keys travel in the drill task's container override, which ECS caps at
# 8 KiB; 25 keys of GitHub's longest names stay under it.
MAX_DRILL_ITEMS = 25
DEFAULT_MIN_AGE_DAYS = 7
DEFAULT_DRILL_TIER: Final = "Bulk"  # free for GLACIER (Flexible Retrieval)
DEFAULT_DRILL_DAYS = 1  # the restored copy expires by itself the next day

DrillStatus = Literal["SUCCEEDED", "FAILED"]
RestoreAsked = Literal["not needed", "requested", "in progress", "restored"]
DrillCheck = Literal["listed", "read", "zip_sha256", "verify", "restore", "refs", "files"]
"""The check an item failed: ``listed`` (not a succeeded item of the run), ``read`` (its
byte ranges could not be read), ``zip_sha256`` (the rebuilt item zip differs from the run
manifest), ``verify`` / ``restore`` (the archive checks, bundles and ``git fsck --full``),
``refs`` (the restored mirror's refs differ from the item manifest), ``files`` (a restored
file differs from the item manifest's size or SHA-256)."""


def drill_prefix(drill_id: str) -> str:
    return f"{DRILLS_PREFIX}{drill_id}/"


def drill_report_key(drill_id: str) -> str:
    """``drills/<id>/report.json``: all a drill leaves behind."""
    return f"{drill_prefix(drill_id)}report.json"


def drill_results_key(drill_id: str) -> str:
    """``drills/<id>/results.json``: the drill task's findings, removed by the report step."""
    return f"{drill_prefix(drill_id)}results.json"


class DrillRequest(Record):
    """The drill's execution input (its schema: ``docs/schemas/drill-request.schema.json``):
    ``run`` a run id, or "newest"; absent, a random run older than ``min_age_days`` (the
    newest when none is that old). Unknown fields are refused: a typo must not run a
    drill other than the one asked for."""

    model_config = ConfigDict(extra="forbid")

    run: str | None = Field(default=None, min_length=1, max_length=80)
    items: int = Field(default=DEFAULT_DRILL_ITEMS, ge=1, le=MAX_DRILL_ITEMS)
    tier: Literal["Expedited", "Standard", "Bulk"] = DEFAULT_DRILL_TIER
    days: int = Field(default=DEFAULT_DRILL_DAYS, ge=1, le=30)
    min_age_days: int = Field(default=DEFAULT_MIN_AGE_DAYS, ge=0, le=3650)


class DrillPlan(Record):
    """What the plan step chose and asked of S3: the state the drill machine carries."""

    drill_id: str
    run_id: str
    archive_key: str
    archive_bytes: int = Field(ge=0)
    storage_class: str
    tier: str
    days: int
    restore: RestoreAsked
    started_at: str
    items: list[str]
    # Seconds to wait before the first look at the restore: the tier's shortest time.
    wait_seconds: int = Field(ge=0)


class DrillItemResult(Record):
    """One sampled item: passed, or failed with the check that failed and why."""

    item_key: str
    status: Literal["passed", "failed"]
    check: DrillCheck | None = None
    error: str | None = None
    bytes_read: int = Field(default=0, ge=0)
    zip_bytes: int = Field(default=0, ge=0)
    files: int = Field(default=0, ge=0)
    refs: int = Field(default=0, ge=0)
    seconds: float = Field(default=0.0, ge=0)


class DrillResults(Record):
    """What the drill task stored in ``drills/<id>/results.json``."""

    drill_id: str
    run_id: str
    started_at: str
    first_byte_at: str | None = None
    restored_at: str | None = None
    finished_at: str
    bytes_read: int = Field(default=0, ge=0)
    items: list[DrillItemResult]


class DrillReport(Record):
    """``drills/<id>/report.json``: the proof (or not) that a run restores.

    ``time_to_first_byte_seconds``: from the drill's start to the first byte read out of the
    run zip (the restore's wait included); ``time_to_restored_seconds``: to the last sampled
    item restored. ``error`` is set when the drill could not reach its items at all (no run,
    a run zip that is gone, a restore that never completed)."""

    format: Literal["ghbackup-drill/1"] = DRILL_REPORT_FORMAT
    drill_id: str
    status: DrillStatus
    run_id: str | None = None
    started_at: str
    finished_at: str
    storage_class: str | None = None
    restore_tier: str | None = None
    restore: str | None = None
    time_to_first_byte_seconds: float | None = None
    time_to_restored_seconds: float | None = None
    bytes_read: int = Field(default=0, ge=0)
    items: list[DrillItemResult] = Field(default_factory=list)
    error_type: str | None = None
    error: str | None = None

    def failures(self) -> list[str]:
        """One line per failure: ``item: check: error`` (or the drill's own error)."""
        lines = [
            f"{item.item_key}: {item.check}: {item.error}"
            for item in self.items
            if item.status == "failed"
        ]
        if self.error:
            lines.insert(0, f"{self.error_type}: {self.error}")
        return lines
