"""Where records live (staging and run keys) and the timestamps they carry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ghbackup.records.base import MANIFEST_NAME

if TYPE_CHECKING:
    from ghbackup.records.items import BackupItem


# -- where records live ------------------------------------------------------------------


def staging_prefix(run_id: str) -> str:
    """S3 prefix under which one run's per-item zips and results live until Finalize."""
    return f"staging/{run_id}/"


def items_list_key(run_id: str) -> str:
    """Key of the JSON array of items the list step stores for the Distributed Map."""
    return f"{staging_prefix(run_id)}items.json"


def batches_list_key(run_id: str) -> str:
    """Key of the JSON array of BatchPointers the Distributed Map reads."""
    return f"{staging_prefix(run_id)}batches.json"


def reused_items_key(run_id: str) -> str:
    """Key of the results of the items an incremental run reused (``ReusedItems``)."""
    return f"{staging_prefix(run_id)}reused.json"


def _item_file(prefix: str, item: BackupItem, name: str) -> str:
    return f"{prefix.rstrip('/')}/items/{item.key}/{name}".lstrip("/")


def item_zip_key(prefix: str, item: BackupItem) -> str:
    """Key (or relative path) of an item's zip under a staging prefix or output directory."""
    return _item_file(prefix, item, "item.zip")


def item_result_key(prefix: str, item: BackupItem) -> str:
    """Key (or relative path) of an item's result record, beside its zip."""
    return _item_file(prefix, item, "result.json")


def item_validators_key(prefix: str, item: BackupItem) -> str:
    """Key of what the list step saw of an item it sent to capture (incremental runs)."""
    return _item_file(prefix, item, "validators.json")


def latest_zip_key(item: BackupItem) -> str:
    """The warm copy of an item's last successful capture, kept between runs."""
    return f"latest/{item.key}/item.zip"


def item_pages_key(prefix: str, item: BackupItem) -> str:
    """Key of the API pages a task's capture read, with their ETags (``PageCache``)."""
    return _item_file(prefix, item, "pages.json.gz")


def latest_pages_key(item: BackupItem) -> str:
    """The pages of the item's last successful capture, for the next capture's conditional
    requests (an unchanged page then costs a 304)."""
    return f"latest/{item.key}/pages.json.gz"


def latest_state_key(item: BackupItem) -> str:
    """What that capture's GitHub answered (``ItemState``), written after the warm copy."""
    return f"latest/{item.key}/state.json"


def run_prefix(run_id: str) -> str:
    """Where a run's outputs live: the run zip and its manifest."""
    return f"runs/{run_id}/"


def run_archive_key(run_id: str) -> str:
    return f"{run_prefix(run_id)}ghbackup-{run_id}.zip"


def run_manifest_key(run_id: str) -> str:
    return f"{run_prefix(run_id)}{MANIFEST_NAME}"


# -- time ----------------------------------------------------------------------------------


def utc_timestamp(moment: datetime) -> str:
    """The timestamps records carry: ``2026-11-26T13:04:05Z`` (UTC, whole seconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str) -> datetime:
    """A record's timestamp (``2026-11-26T13:04:05Z``, or any ISO 8601 form) as an aware
    datetime; naive ones are taken as UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def default_run_id(now: datetime | None = None) -> str:
    """``run-YYYYmmddTHHMMSSZ`` in UTC: a valid execution name that sorts by time."""
    return (now or datetime.now(UTC)).strftime("run-%Y%m%dT%H%M%SZ")
