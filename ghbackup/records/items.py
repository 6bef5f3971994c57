"""The Map item (a repository, a gist or an account), GitHub's name rules, and items.json."""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar, Literal, Self

from pydantic import ConfigDict, TypeAdapter, ValidationError, model_validator

from ghbackup.errors import InvalidItem
from ghbackup.records.base import MANIFEST_NAME, Record, first_error

ItemKind = Literal["repository", "gist", "account"]

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
            raise InvalidItem(first_error(BackupItem, exc)) from None

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


ITEM_LIST = TypeAdapter(list[BackupItem])


def dump_items(items: list[BackupItem]) -> bytes:
    """``items.json``: the run's items as one compact JSON array, in order."""
    return json.dumps([item.to_json() for item in items], separators=(",", ":")).encode()


def parse_items(data: str | bytes) -> list[BackupItem]:
    """Read ``items.json``; InvalidItem names the first bad entry."""
    try:
        return ITEM_LIST.validate_json(data)
    except ValidationError as exc:
        raise InvalidItem(first_error(BackupItem, exc).replace("backup item", "items", 1)) from None
