"""Records that cross a boundary: the Map item, the per-item result, where each is stored.

Each record has exactly one to-JSON and one from-JSON place (``to_json``/``from_json``);
everything else in the product goes through them. The JSON shapes are documented in
docs/design.md ("Records") and must stay backwards compatible: archives outlive the code.
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

_FULL_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
_GIST_ID = re.compile(r"^[A-Za-z0-9]{1,64}$")


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
            name = data.get("full_name")
            if (
                not isinstance(name, str)
                or not _FULL_NAME.match(name)
                or name.split("/")[1] in (".", "..")
            ):
                raise InvalidItem(f"repository item needs full_name 'owner/name', got {name!r}")
            return cls(kind="repository", full_name=name)
        if kind == "gist":
            gid = data.get("id")
            if not isinstance(gid, str) or not _GIST_ID.match(gid):
                raise InvalidItem(f"gist item needs an alphanumeric id, got {gid!r}")
            owner = data.get("owner")
            if owner is not None and (not isinstance(owner, str) or not _LOGIN.match(owner)):
                raise InvalidItem(f"gist owner must be a login, got {owner!r}")
            return cls(kind="gist", id=gid, owner=owner)
        if kind == "account":
            login = data.get("login")
            if not isinstance(login, str) or not _LOGIN.match(login):
                raise InvalidItem(f"account item needs a login, got {login!r}")
            return cls(kind="account", login=login)
        raise InvalidItem(f"unknown item kind {kind!r} (expected repository, gist or account)")


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


def parse_timestamp(text: str) -> datetime:
    """A record's timestamp (``2026-11-26T13:04:05Z``, or any ISO 8601 form) as an aware
    datetime; naive ones are taken as UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def default_run_id(now: datetime | None = None) -> str:
    """``run-YYYYmmddTHHMMSSZ`` in UTC: a valid execution name that sorts by time."""
    return (now or datetime.now(UTC)).strftime("run-%Y%m%dT%H%M%SZ")
