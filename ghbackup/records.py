"""Every record that crosses a boundary, typed once: the Map item, the per-item result, the
item manifest, the run manifest and its summary, and where each is stored.

Each record is a pydantic model with one parse place (``from_json``: a dict, or JSON text or
bytes, validated; bad data raises the record's one-line error) and one dump place
(``to_json``: the JSON-ready dict). ``docs/schemas/*.schema.json`` are generated from these
models (``python -m ghbackup.records docs/schemas``) and a test fails when they drift. The
JSON shapes are documented in docs/design.md and stay backwards compatible: archives outlive
the code, so readers accept what older writers wrote (a missing ``bundle``, run lines
without ``run_id``).
"""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    computed_field,
    model_validator,
)

from ghbackup.errors import ArchiveCorrupt, InvalidItem

ItemKind = Literal["repository", "gist", "account"]
ItemStatus = Literal["succeeded", "failed"]
RunStatus = Literal["SUCCEEDED", "PARTIAL", "FAILED"]

ITEM_MANIFEST_FORMAT = "ghbackup/1"
RUN_MANIFEST_FORMAT = "ghbackup-run/1"
MANIFEST_NAME = "manifest.json"

# GitHub's rule for a new login: letters, digits and single hyphens, no hyphen first or
# last, at most 39 characters. Enterprise Managed Users add "_<shortcode>" to the handle.
_LOGIN = re.compile(r"^[A-Za-z0-9](?:-?[A-Za-z0-9])*(?:_[A-Za-z0-9]+)?$")
_LOGIN_MAX = 39
# Repository names as GitHub keeps them: letters, digits, "-", "_" and ".", at most 100.
_REPO_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_GIST_ID = re.compile(r"^[A-Za-z0-9]{1,64}$")
_SHA256 = r"^[0-9a-f]{64}$"


def login_problem(login: object) -> str | None:
    """Why ``login`` is not a GitHub account login (None when it is one)."""
    if not isinstance(login, str) or not _LOGIN.match(login):
        return "letters, digits and single inner hyphens only"
    if len(login) > _LOGIN_MAX:
        return f"longer than {_LOGIN_MAX} characters"
    return None


def repository_name_problem(name: object) -> str | None:
    """Why ``name`` is not a GitHub repository name (None when it is one). Besides GitHub's
    characters: never ``.``/``..``, and never ``*.git`` (any case), which GitHub strips from
    a new name and which would be exactly the path of another repository's mirror."""
    if not isinstance(name, str) or not _REPO_NAME.match(name):
        return "letters, digits, '-', '_' and '.' only, at most 100"
    if name in (".", ".."):
        return "not '.' or '..'"
    if name.lower().endswith(".git"):
        return "no '.git' suffix"
    return None


def _shown(value: object) -> str:
    """A value for an error line: repr, cut short (an item may be arbitrarily long)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class RecordInvalid(ValueError):
    """A record failed validation on read; the message is one line naming the field."""


class Record(BaseModel):
    """Base of every record: the one parse and the one dump place."""

    model_config = ConfigDict(extra="ignore")
    # The error ``from_json`` raises; a BackupError where an adapter must name it.
    invalid: ClassVar[type[Exception]] = RecordInvalid

    @classmethod
    def from_json(cls, data: Any) -> Self:
        """Parse and validate a dict, or JSON text or bytes; raises ``cls.invalid``."""
        if isinstance(data, str | bytes | bytearray):
            try:
                data = json.loads(data)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise cls.invalid(f"{_label(cls)} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise cls.invalid(f"{_label(cls)} must be a JSON object")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise cls.invalid(_first_error(cls, exc)) from None

    def to_json(self) -> dict[str, Any]:
        """The record as JSON-ready data (what is written, and what ``from_json`` reads)."""
        return self.model_dump(mode="json")

    def to_bytes(self) -> bytes:
        """The stored form: sorted keys, indent 2, UTF-8, one trailing newline."""
        text = json.dumps(self.to_json(), sort_keys=True, indent=2, ensure_ascii=False)
        return (text + "\n").encode()


def _label(cls: type) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", " ", cls.__name__).lower()


def _first_error(cls: type, exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    text = f"{_label(cls)}: {where}: {message}" if where else f"{_label(cls)}: {message}"
    return " ".join(text.split())[:300]


# -- the Map item ------------------------------------------------------------------------


class BackupItem(Record):
    """One unit of work: a repository, a gist or an account.

    JSON: ``{"kind": "repository", "full_name": "owner/name"}``,
    ``{"kind": "gist", "id": "abc123", "owner": "login"}`` or
    ``{"kind": "account", "login": "octocat"}``. Keys that do not belong to the kind are
    dropped on read.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)
    invalid: ClassVar[type[Exception]] = InvalidItem

    kind: ItemKind
    full_name: str | None = None  # repository
    id: str | None = None  # gist
    owner: str | None = None  # gist owner (folder in the archive); optional
    login: str | None = None  # account

    @model_validator(mode="before")
    @classmethod
    def _only_the_kinds_fields(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        kind = data.get("kind")
        kept = {
            "repository": ("kind", "full_name"),
            "gist": ("kind", "id", "owner"),
            "account": ("kind", "login"),
        }.get(kind if isinstance(kind, str) else "")
        if kept is None:
            raise ValueError(
                f"unknown item kind {_shown(kind)} (expected repository, gist or account)"
            )
        return {k: v for k, v in data.items() if k in kept}

    @model_validator(mode="after")
    def _names_are_githubs(self) -> Self:
        """Every item names GitHub things as GitHub allows them: its names become folders
        of an archive and of a restore, so they are checked wherever an item is made."""
        if self.kind == "repository":
            name = self.full_name
            owner, _, repo = name.partition("/") if isinstance(name, str) else ("", "", "")
            owner_problem = login_problem(owner)
            problem = f"owner: {owner_problem}" if owner_problem else repository_name_problem(repo)
            if problem:
                raise ValueError(
                    f"repository item needs full_name 'owner/name' ({problem}), got {_shown(name)}"
                )
        elif self.kind == "gist":
            if not isinstance(self.id, str) or not _GIST_ID.match(self.id):
                raise ValueError(f"gist item needs an alphanumeric id, got {_shown(self.id)}")
            if self.owner is not None and login_problem(self.owner):
                raise ValueError(f"gist owner must be a login, got {_shown(self.owner)}")
        elif login_problem(self.login):
            raise ValueError(f"account item needs a login, got {_shown(self.login)}")
        return self

    def __init__(self, **data: Any) -> None:
        """An item made in code is checked as one read from JSON: InvalidItem (a ValueError,
        so an item inside another record fails that record's validation)."""
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise InvalidItem(_first_error(BackupItem, exc)) from None

    @property
    def key(self) -> str:
        """Stable, unique, path-safe identity: ``repository/owner/name``, ``gist/<id>``,
        ``account/<login>``. Used for staging keys and in the run manifest."""
        if self.kind == "repository":
            return f"repository/{self.full_name}"
        if self.kind == "gist":
            return f"gist/{self.id}"
        return f"account/{self.login}"

    @property
    def archive_root(self) -> str:
        """Folder of this item inside a zip. Items of one run merge into one tree:
        ``owner/name/``, ``owner/@gists/<id>/``, ``login/@account/`` (``@`` cannot occur
        in a GitHub name, so the three never collide)."""
        if self.kind == "repository":
            return f"{self.full_name}/"
        if self.kind == "gist":
            return f"{self.owner or '@unknown'}/@gists/{self.id}/"
        return f"{self.login}/@account/"

    @property
    def manifest_path(self) -> str:
        """Where this item's manifest sits inside any zip that holds it."""
        return self.archive_root + MANIFEST_NAME

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


_ITEM_LIST = TypeAdapter(list[BackupItem])


def dump_items(items: list[BackupItem]) -> bytes:
    """``items.json``: the run's items as one compact JSON array, in order."""
    return json.dumps([item.to_json() for item in items], separators=(",", ":")).encode()


def parse_items(data: str | bytes) -> list[BackupItem]:
    """Read ``items.json``; InvalidItem names the first bad entry."""
    try:
        return _ITEM_LIST.validate_json(data)
    except ValidationError as exc:
        raise InvalidItem(
            _first_error(BackupItem, exc).replace("backup item", "items", 1)
        ) from None


# -- the Map item: a batch of items ---------------------------------------------------------

# A pointer is about 40 characters; a longer value is not one, and is not echoed back.
MAX_POINTER_CHARS = 256


class BatchPointer(Record):
    """One Map item, one ECS task: items ``first`` .. ``first + count - 1`` of the run's
    ``items.json`` (``batches.json`` holds one per batch, ghbackup/batch.py groups them).

    JSON ``{"batch": 3, "first": 75, "count": 25}``; ``batch`` numbers the batches from 0.
    A pointer, not the items: ECS container overrides are capped at 8 KiB.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)
    invalid: ClassVar[type[Exception]] = InvalidItem

    batch: int = Field(ge=0)
    first: int = Field(ge=0)
    count: int = Field(ge=1)

    @classmethod
    def from_json(cls, data: Any) -> Self:
        if isinstance(data, str | bytes | bytearray) and len(data) > MAX_POINTER_CHARS:
            raise InvalidItem(
                f"batch pointer is {len(data)} characters, more than {MAX_POINTER_CHARS}"
            )
        return super().from_json(data)

    def select(self, items: list[BackupItem]) -> list[BackupItem]:
        """The batch's items out of the run's item list."""
        if self.first + self.count > len(items):
            raise InvalidItem(
                f"batch {self.batch} covers items {self.first}..{self.first + self.count - 1} "
                f"but the run lists {len(items)}"
            )
        return list(items[self.first : self.first + self.count])


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
    zip_sha256: str | None = Field(default=None, pattern=_SHA256)
    counts: dict[str, int] = Field(default_factory=dict)
    skipped: dict[str, str] = Field(default_factory=dict)
    github_requests: int = Field(default=0, ge=0)

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
    sha256: str = Field(pattern=_SHA256)


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


def item_zip_key(prefix: str, item: BackupItem) -> str:
    """Key (or relative path) of an item's zip under a staging prefix or output directory."""
    return f"{prefix.rstrip('/')}/items/{item.key}/item.zip".lstrip("/")


def item_result_key(prefix: str, item: BackupItem) -> str:
    """Key (or relative path) of an item's result record, beside its zip."""
    return f"{prefix.rstrip('/')}/items/{item.key}/result.json".lstrip("/")


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


# -- schemas -------------------------------------------------------------------------------

SCHEMAS: dict[str, type[Record]] = {
    "backup-item": BackupItem,
    "batch-pointer": BatchPointer,
    "item-result": ItemResult,
    "item-manifest": ItemManifest,
    "run-manifest": RunManifest,
    "run-summary": RunSummary,
}


def json_schemas() -> dict[str, dict[str, Any]]:
    """``{file stem: JSON Schema}`` of every stored record, as written (serialization)."""
    schemas = {
        name: model.model_json_schema(mode="serialization") for name, model in SCHEMAS.items()
    }
    schemas["items"] = _ITEM_LIST.json_schema(mode="serialization") | {
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


if __name__ == "__main__":
    for written_path in write_schemas(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas")):
        print(written_path)
