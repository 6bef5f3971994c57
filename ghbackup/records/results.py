"""What a capture produced: the per-item result and the item manifest inside its zip."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import ConfigDict, Field, computed_field, model_validator

from ghbackup.records.base import ITEM_MANIFEST_FORMAT, SHA256_PATTERN, Record
from ghbackup.records.items import BackupItem
from ghbackup.records.state import CaptureMode

ItemStatus = Literal["succeeded", "failed"]


# -- the per-item result -----------------------------------------------------------------


class ItemResult(Record):
    """What one capture produced: ``result.json`` beside the item's zip, written whether the
    capture succeeded or not, and read by Finalize.

    ``zip_key`` is an S3 key (or a local path for directory output) and is set only when
    the item is complete and its zip stored; a failed item never has one.
    ``github_requests`` counts the API requests the capture sent (retries and 304s included).
    """

    item: BackupItem
    status: ItemStatus
    run_id: str
    started_at: str | None = None
    finished_at: str | None = None
    error_type: str | None = None
    error: str | None = None
    zip_key: str | None = None
    zip_bytes: int = Field(default=0, ge=0)
    zip_sha256: str | None = Field(default=None, pattern=SHA256_PATTERN)
    counts: dict[str, int] = Field(default_factory=dict)
    skipped: dict[str, str] = Field(default_factory=dict)
    github_requests: int = Field(default=0, ge=0)
    # Incremental runs: how the item got here and why; ``reused_from`` names the run whose
    # capture was copied (None when captured in this run; older writers omit all three).
    capture: CaptureMode | None = None
    capture_reason: str | None = None
    reused_from: str | None = None
    # Verify at write: the zip passed the checks of ``ghbackup verify`` before it was stored
    # (a reused item's zip: when the run it is reused from wrote it). ``verify_seconds``: how
    # long the checks took in this run (None when they did not run here; older writers omit
    # both, which reads as not verified).
    verified: bool = False
    verify_seconds: float | None = Field(default=None, ge=0)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def item_key(self) -> str:
        return self.item.key

    @classmethod
    def failed(
        cls, item: BackupItem, run_id: str, error_type: str, error: str, *, at: str | None = None
    ) -> Self:
        """A failed result with no capture behind it (a missing or unreadable record)."""
        return cls(
            item=item, status="failed", run_id=run_id, started_at=at, finished_at=at,
            error_type=error_type, error=error,
        )  # fmt: skip


# -- the item manifest -------------------------------------------------------------------


class FileEntry(Record):
    """One entry of an item as its manifest lists it; ``path`` is relative to the item root."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    path: str = Field(min_length=1)
    size: int = Field(ge=0)
    sha256: str = Field(pattern=SHA256_PATTERN)


class GitState(Record):
    """A git repository of an item at capture time: every ref (unpeeled object ids, as
    ``git for-each-ref`` prints them) and the symbolic HEAD. ``bundle`` is the entry that
    holds it, relative to the item root; None when the repository is empty."""

    refs: dict[str, str] = Field(default_factory=dict)
    head: str | None = None
    bundle: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        data["refs"] = dict(sorted(self.refs.items()))
        return data


class ItemManifest(Record):
    """``<archive_root>/manifest.json`` of one item (format ``ghbackup/1``), written last into
    the item's zip. Keys it does not know are kept (``extra="allow"``), so a round trip of a
    newer writer's manifest loses nothing."""

    model_config = ConfigDict(extra="allow")

    format: Literal["ghbackup/1"] = ITEM_MANIFEST_FORMAT
    item: BackupItem
    files: list[FileEntry]
    git: dict[str, GitState] = Field(default_factory=dict)
    lfs: dict[str, int] = Field(default_factory=dict)
    counts: dict[str, int] = Field(default_factory=dict)
    skipped: dict[str, str] = Field(default_factory=dict)
    complete: bool = False
    started_at: str | None = None
    finished_at: str | None = None
    github_requests: int = 0

    @model_validator(mode="before")
    @classmethod
    def _bundles_of_older_writers(cls, data: Any) -> Any:
        """Older writers omit ``bundle``: it is ``<name>.bundle`` whenever there are refs."""
        if isinstance(data, dict) and isinstance(data.get("git"), dict):
            git = {}
            for name, state in data["git"].items():
                if isinstance(state, dict) and "bundle" not in state:
                    state = {**state, "bundle": f"{name}.bundle" if state.get("refs") else None}
                git[name] = state
            data = {**data, "git": git}
        return data

    @property
    def root(self) -> str:
        """The item's folder inside the zip, with a trailing slash."""
        return self.item.archive_root

    @property
    def manifest_path(self) -> str:
        return self.item.manifest_path

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        data["item"] = self.item.to_json()
        data["git"] = {name: state.to_json() for name, state in self.git.items()}
        return data


class ReusedItems(Record):
    """``staging/<run>/reused.json``: the results of every item an incremental run reused
    from its warm copy, written once by the list step after it staged their zips. Finalize
    and the progress read it instead of a result record per item."""

    results: list[ItemResult] = Field(default_factory=list)
