"""JSON Schemas of the stored records, generated from the models into docs/schemas/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ghbackup.records.base import Record
from ghbackup.records.batches import BatchPointer
from ghbackup.records.drills import DrillReport, DrillRequest
from ghbackup.records.items import ITEM_LIST, BackupItem
from ghbackup.records.results import ItemManifest, ItemResult, ReusedItems
from ghbackup.records.runs import RunManifest, RunSummary
from ghbackup.records.state import ItemState, PageCache, Validators

# -- schemas -------------------------------------------------------------------------------

SCHEMAS: dict[str, type[Record]] = {
    "backup-item": BackupItem,
    "batch-pointer": BatchPointer,
    "item-result": ItemResult,
    "item-manifest": ItemManifest,
    "run-manifest": RunManifest,
    "run-summary": RunSummary,
    "item-state": ItemState,
    "item-validators": Validators,
    "reused-items": ReusedItems,
    "page-cache": PageCache,
    "drill-request": DrillRequest,
    "drill-report": DrillReport,
}


def json_schemas() -> dict[str, dict[str, Any]]:
    """``{file stem: JSON Schema}`` of every stored record, as written (serialization)."""
    schemas = {
        name: model.model_json_schema(mode="serialization") for name, model in SCHEMAS.items()
    }
    schemas["items"] = ITEM_LIST.json_schema(mode="serialization") | {
        "title": "items.json",
        "description": "The run's items, as the list step stores them for the Map.",
    }
    return schemas


def write_schemas(folder: Path) -> list[Path]:
    """Write ``<name>.schema.json`` for every record into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in sorted(json_schemas().items()):
        path = folder / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written
