"""The run manifest (``runs/R/manifest.json``) and the run's summary."""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self

from pydantic import Field, model_validator

from ghbackup.errors import ArchiveCorrupt
from ghbackup.records.base import RUN_MANIFEST_FORMAT, Record
from ghbackup.records.places import parse_timestamp, run_manifest_key
from ghbackup.records.results import ItemResult

RunStatus = Literal["SUCCEEDED", "PARTIAL", "FAILED"]


# -- the run manifest and its summary ----------------------------------------------------


class RunItem(ItemResult):
    """One item's line in the run manifest: its result, and where it sits in the run zip.

    ``offset``/``length``: the item's entries (local headers + data) inside the run zip;
    ``central_directory_offset``/``central_directory_length``: its central records there;
    ``manifest_entry_offset``: the local header of its ``manifest.json``. All ``None`` for a
    failed item.
    """

    invalid: ClassVar[type[Exception]] = ArchiveCorrupt

    run_id: str | None = None  # type: ignore[assignment]  # absent in older run manifests
    zip_etag: str | None = None
    entries: int = 0
    offset: int | None = None
    length: int | None = None
    central_directory_offset: int | None = None
    central_directory_length: int | None = None
    manifest_entry_offset: int | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _key_names_the_item(cls, data: Any, handler: Any) -> Any:
        """A line's ``item_key`` names where the item's files are: it must be its item's."""
        line = handler(data)
        claimed = data.get("item_key") if isinstance(data, dict) else None
        if claimed is not None and claimed != line.item_key:
            raise ValueError(f"run manifest item {str(claimed)[:120]!r} is {line.item_key}")
        return line

    @classmethod
    def of(cls, result: ItemResult) -> Self:
        """The line of a result, before the run zip places it."""
        return cls(**dict(result))

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        data["item"] = self.item.to_json()
        return data


class RunPart(Record):
    part_number: int
    etag: str | None
    bytes: int


class RunArchive(Record):
    """The run zip as Finalize stored it."""

    key: str
    bytes: int
    etag: str | None = None
    storage_class: str
    kms_key_id: str | None = None
    entries: int
    central_directory_offset: int
    central_directory_length: int
    parts: list[RunPart] = Field(default_factory=list)
    sha256: str | None = None
    integrity: str = (
        "whole-zip SHA-256 not computed (bytes never pass through Finalize); "
        "see each item's zip_sha256, the entries' CRC-32 and the part ETags"
    )


class RunCounts(Record):
    total: int = 0
    succeeded: int = 0
    failed: int = 0


class RunManifest(Record):
    """``runs/R/manifest.json``: what the run stored and where. ``archive`` is ``None``
    when no item succeeded (no run zip is written then)."""

    invalid: ClassVar[type[Exception]] = ArchiveCorrupt

    format: Literal["ghbackup-run/1"] = RUN_MANIFEST_FORMAT
    run_id: str
    status: RunStatus
    started_at: str
    finished_at: str
    counts: RunCounts
    bytes: int
    archive: RunArchive | None
    items: list[RunItem]
    execution: str | None = None  # the Step Functions execution that finalized the run

    def item(self, item_key: str) -> RunItem:
        """The line of ``item_key``; ArchiveCorrupt when the run did not list it."""
        for entry in self.items:
            if entry.item_key == item_key:
                return entry
        raise ArchiveCorrupt(f"item {item_key} is not in the run manifest of {self.run_id}")

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        data["items"] = [line.to_json() for line in self.items]
        return data


class FailedItem(Record):
    item_key: str
    error_type: str | None = None
    error: str | None = None


class RunSummary(Record):
    """What Finalize returns and the run's notification publishes."""

    status: RunStatus
    run_id: str
    counts: RunCounts
    bytes: int
    duration_seconds: float
    archive_key: str | None
    manifest_key: str
    failed: list[FailedItem] = Field(default_factory=list)
    # Succeeded items with parts GitHub would not give us (disabled, forbidden, too many):
    # {item key: "what: why; ..."}, so a token that cannot read issues is noticed.
    skipped_parts: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def of(cls, manifest: RunManifest) -> Self:
        duration = (
            parse_timestamp(manifest.finished_at) - parse_timestamp(manifest.started_at)
        ).total_seconds()
        return cls(
            status=manifest.status,
            run_id=manifest.run_id,
            counts=manifest.counts,
            bytes=manifest.bytes,
            duration_seconds=round(duration, 3),
            archive_key=manifest.archive.key if manifest.archive else None,
            manifest_key=run_manifest_key(manifest.run_id),
            failed=[
                FailedItem(item_key=i.item_key, error_type=i.error_type, error=i.error)
                for i in manifest.items
                if i.status == "failed"
            ],
            skipped_parts={
                i.item_key: "; ".join(f"{what}: {why}" for what, why in sorted(i.skipped.items()))
                for i in manifest.items
                if i.status == "succeeded" and _worth_reporting(i.skipped)
            },
        )


def _worth_reporting(skipped: dict[str, str]) -> bool:
    """Skips that say something is missing that the user may expect, not a feature turned
    off or a repository that is simply empty."""
    ordinary = ("disabled", "repository is empty", "enabled but has no pages")
    return any(not why.startswith(ordinary) for why in skipped.values())


class Notification(Record):
    """What the run published on its SNS topic."""

    subject: str | None = None
    message: str | None = None
    attributes: dict[str, str | None] = Field(default_factory=dict)


class ExportedObject(Record):
    """A run output exported from S3 to a local file."""

    path: str
    storage_class: str = "STANDARD"


class LocalRunOutcome(Record):
    """What ``ghbackup run --local`` (``workflow.local_runner.run_local``) returns.

    ``status`` is the execution's (SUCCEEDED even for a PARTIAL run: item failures are not
    execution failures); ``summary`` is read from the run manifest the run stored, so the
    run's SUCCEEDED / PARTIAL / FAILED never depends on the published text, which SNS may
    have cut. ``path``, ``history`` and ``iterations`` are the states entered and the
    execution's events, top level and per Map iteration (for tests and diagnosis)."""

    run_id: str
    status: str
    error: str | None = None
    cause: str | None = None
    summary: RunSummary | None = None
    notification: Notification | None = None
    path: list[str] = Field(default_factory=list)
    history: list[dict[str, Any]] = Field(default_factory=list)
    iterations: list[dict[str, Any]] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list)
    objects: dict[str, ExportedObject] = Field(default_factory=dict)
