"""Records that cross a boundary: the Map item, the per-item result, where each is stored.

Each record has exactly one to-JSON and one from-JSON place (``to_json``/``from_json``);
everything else in the product goes through them. The JSON shapes are documented in
README.md ("Records") and must stay backwards compatible: archives outlive the code.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from ghbackup.errors import InvalidItem

ItemKind = Literal["repository", "gist", "account"]
ItemStatus = Literal["succeeded", "failed"]

# GitHub's rule for a new login: letters, digits and single hyphens, no hyphen first or
# last, at most 39 characters. Enterprise Managed Users add "_<shortcode>" to the handle.
_LOGIN = re.compile(r"^[A-Za-z0-9](?:-?[A-Za-z0-9])*(?:_[A-Za-z0-9]+)?$")
_LOGIN_MAX = 39
# Repository names as GitHub keeps them: letters, digits, "-", "_" and ".", at most 100.
_REPO_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_GIST_ID = re.compile(r"^[A-Za-z0-9]{1,64}$")


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


@dataclass(frozen=True)
class BackupItem:
    """One unit of work: what one ECS task (or one ``backup-item`` call) captures.

    JSON: ``{"kind": "repository", "full_name": "owner/name"}``,
    ``{"kind": "gist", "id": "abc123", "owner": "login"}`` or
    ``{"kind": "account", "login": "octocat"}``. Extra keys are ignored on read.
    """

    kind: ItemKind
    full_name: str | None = None  # repository
    id: str | None = None  # gist
    owner: str | None = None  # gist owner (folder in the archive); optional
    login: str | None = None  # account

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
        in a repository name, so the three never collide)."""
        if self.kind == "repository":
            return f"{self.full_name}/"
        if self.kind == "gist":
            return f"{self.owner or '@unknown'}/@gists/{self.id}/"
        return f"{self.login}/@account/"

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: Any) -> BackupItem:
        """Parse and validate; raises InvalidItem with a one-line reason."""
        if isinstance(data, str | bytes):
            try:
                data = json.loads(data)
            except json.JSONDecodeError as exc:
                raise InvalidItem(f"item is not valid JSON: {exc.msg} at char {exc.pos}") from None
        if not isinstance(data, dict):
            raise InvalidItem("item must be a JSON object")
        kind = data.get("kind")
        if kind == "repository":
            return cls(kind="repository", full_name=data.get("full_name"))
        if kind == "gist":
            return cls(kind="gist", id=data.get("id"), owner=data.get("owner"))
        if kind == "account":
            return cls(kind="account", login=data.get("login"))
        raise InvalidItem(
            f"unknown item kind {_shown(kind)} (expected repository, gist or account)"
        )

    def __post_init__(self) -> None:
        """Every item names GitHub things as GitHub allows them: its names become folders
        of an archive and of a restore, so they are checked wherever an item is made."""
        if self.kind == "repository":
            name = self.full_name
            owner, _, repo = name.partition("/") if isinstance(name, str) else ("", "", "")
            owner_problem = login_problem(owner)
            problem = f"owner: {owner_problem}" if owner_problem else repository_name_problem(repo)
            if problem:
                raise InvalidItem(
                    f"repository item needs full_name 'owner/name' ({problem}), got {_shown(name)}"
                )
        elif self.kind == "gist":
            if not isinstance(self.id, str) or not _GIST_ID.match(self.id):
                raise InvalidItem(f"gist item needs an alphanumeric id, got {_shown(self.id)}")
            if self.owner is not None and login_problem(self.owner):
                raise InvalidItem(f"gist owner must be a login, got {_shown(self.owner)}")
        elif self.kind == "account":
            if login_problem(self.login):
                raise InvalidItem(f"account item needs a login, got {_shown(self.login)}")
        else:
            raise InvalidItem(
                f"unknown item kind {_shown(self.kind)} (expected repository, gist or account)"
            )


@dataclass
class ItemResult:
    """What one capture produced: written as ``result.json`` beside the item's zip,
    whether the capture succeeded or not, and read by Finalize.

    ``zip_key`` is an S3 key (or a local path for directory output) and is set only when
    the item is complete and its zip stored; a failed item never has one.
    """

    item: BackupItem
    status: ItemStatus
    run_id: str
    started_at: str
    finished_at: str
    error_type: str | None = None
    error: str | None = None
    zip_key: str | None = None
    zip_bytes: int = 0
    zip_sha256: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    github_requests: int = 0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["item"] = self.item.to_json()
        data["item_key"] = self.item.key
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ItemResult:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        fields["item"] = BackupItem.from_json(data["item"])
        return cls(**fields)


def staging_prefix(run_id: str) -> str:
    """S3 prefix under which one run's per-item zips and results live until Finalize."""
    return f"staging/{run_id}/"


def items_list_key(run_id: str) -> str:
    """Key of the JSON array of items the list step stores for the Distributed Map."""
    return f"{staging_prefix(run_id)}items.json"


def item_zip_key(prefix: str, item: BackupItem) -> str:
    """Key (or relative path) of an item's zip under a staging prefix or output directory."""
    return f"{prefix.rstrip('/')}/items/{item.key}/item.zip".lstrip("/")


def item_result_key(prefix: str, item: BackupItem) -> str:
    """Key (or relative path) of an item's result record, beside its zip."""
    return f"{prefix.rstrip('/')}/items/{item.key}/result.json".lstrip("/")


def utc_timestamp(moment: datetime) -> str:
    """The timestamps records carry: ``2026-11-26T13:04:05Z`` (UTC, whole seconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_run_id(now: datetime | None = None) -> str:
    """``run-YYYYmmddTHHMMSSZ`` in UTC: a valid execution name that sorts by time."""
    return (now or datetime.now(UTC)).strftime("run-%Y%m%dT%H%M%SZ")
