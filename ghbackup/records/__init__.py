"""Every record that crosses a boundary, typed once: the item, the Map's batch pointer, the
per-item result, the item manifest, the run manifest and its summary, and where each is
stored.

Each record is a pydantic model with one parse place (``from_json``: a dict, or JSON text or
bytes, validated; bad data raises the record's one-line error) and one dump place
(``to_json``: the JSON-ready dict). ``docs/schemas/*.schema.json`` are generated from these
models (``python -m ghbackup.records docs/schemas``) and a test fails when they drift. The
JSON shapes are documented in docs/design.md and stay backwards compatible: archives outlive
the code, so readers accept what older writers wrote (a missing ``bundle``, run lines
without ``run_id``).
"""

from ghbackup.records.base import (
    ITEM_MANIFEST_FORMAT,
    MANIFEST_NAME,
    RUN_MANIFEST_FORMAT,
    Record,
    RecordInvalid,
)
from ghbackup.records.batches import BatchPointer
from ghbackup.records.drills import (
    DrillItemResult,
    DrillPlan,
    DrillReport,
    DrillRequest,
    DrillResults,
    drill_report_key,
    drill_results_key,
)
from ghbackup.records.items import (
    BackupItem,
    ItemKind,
    dump_items,
    login_problem,
    parse_items,
    repository_name_problem,
)
from ghbackup.records.places import (
    batches_list_key,
    default_run_id,
    item_pages_key,
    item_result_key,
    item_validators_key,
    item_zip_key,
    items_list_key,
    latest_pages_key,
    latest_state_key,
    latest_zip_key,
    parse_timestamp,
    reused_items_key,
    run_archive_key,
    run_manifest_key,
    run_prefix,
    staging_prefix,
    utc_timestamp,
)
from ghbackup.records.results import (
    FileEntry,
    GitState,
    ItemManifest,
    ItemResult,
    ItemStatus,
    ReusedItems,
)
from ghbackup.records.runs import (
    ExportedObject,
    FailedItem,
    LocalRunOutcome,
    Notification,
    RunArchive,
    RunCounts,
    RunItem,
    RunManifest,
    RunPart,
    RunStatus,
    RunSummary,
)
from ghbackup.records.schemas import SCHEMAS, json_schemas, write_schemas
from ghbackup.records.state import (
    STATE_FORMAT,
    CachedPage,
    CaptureMode,
    ItemState,
    PageCache,
    ProbeAnswer,
    Validators,
)

__all__ = [
    "ITEM_MANIFEST_FORMAT", "MANIFEST_NAME", "ExportedObject", "LocalRunOutcome", "Notification", "RUN_MANIFEST_FORMAT", "SCHEMAS", "BackupItem",
    "BatchPointer", "FailedItem", "FileEntry", "GitState", "ItemKind", "ItemManifest",
    "ItemResult", "ItemStatus", "Record", "RecordInvalid", "RunArchive", "RunCounts", "RunItem",
    "RunManifest", "RunPart", "RunStatus", "RunSummary", "batches_list_key", "default_run_id",
    "dump_items", "item_result_key", "item_zip_key", "items_list_key", "json_schemas",
    "login_problem", "parse_items", "parse_timestamp", "repository_name_problem",
    "run_archive_key", "run_manifest_key", "run_prefix", "staging_prefix", "utc_timestamp",
    "write_schemas", "STATE_FORMAT", "CaptureMode", "ItemState", "ProbeAnswer", "Validators",
    "item_validators_key", "latest_state_key", "latest_zip_key", "ReusedItems",
    "reused_items_key", "CachedPage", "PageCache", "item_pages_key", "latest_pages_key",
    "DrillItemResult", "DrillPlan", "DrillReport", "DrillRequest", "DrillResults",
    "drill_report_key", "drill_results_key",
]  # fmt: skip
