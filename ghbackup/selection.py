"""What a run backs up: the execution input's selection expanded into items.

The selection is the validated execution input (ghbackup/input.schema.json). An empty
selection means the authenticated account: its own repositories, its gists and its
account data.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import re2

from ghbackup.errors import InvalidItem
from ghbackup.github import GitHubClient
from ghbackup.records import BackupItem


def compile_filter(name: str, pattern: str) -> Any:
    """``pattern`` compiled for RE2, whose matching time is linear in the name's length: a
    user's include/exclude such as ``^(((.|.)*)*)*!$`` cannot spin a core. RE2 has no
    backreferences or lookaround; such a pattern raises InvalidItem naming ``name``."""
    options = re2.Options()
    options.log_errors = False  # RE2 would print its own copy of the error on stderr
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise InvalidItem(
            f"{name}: {pattern!r} is not a valid RE2 regular expression: {reason}"
        ) from None


@dataclass(frozen=True)
class Selection:
    repositories: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    orgs: tuple[str, ...] = ()
    include: str | None = None
    exclude: str | None = None
    skip_archived: bool = False
    skip_forks: bool = False
    gists: bool = True
    account: bool = True
    _include_re: Any = field(init=False, default=None, compare=False, repr=False)
    _exclude_re: Any = field(init=False, default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        """Compile the filters with the selection, however it was made (InvalidItem when
        RE2 cannot compile one)."""
        for name in ("include", "exclude"):
            value = getattr(self, name)
            compiled = compile_filter(name, value) if value else None
            object.__setattr__(self, f"_{name}_re", compiled)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Selection:
        """From a validated input (InvalidItem when a filter is not valid RE2)."""
        return cls(
            repositories=tuple(data.get("repositories") or ()),
            users=tuple(data.get("users") or ()),
            orgs=tuple(data.get("orgs") or ()),
            include=data.get("include"),
            exclude=data.get("exclude"),
            skip_archived=bool(data.get("skip_archived", False)),
            skip_forks=bool(data.get("skip_forks", False)),
            gists=bool(data.get("gists", True)),
            account=bool(data.get("account", True)),
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "repositories": list(self.repositories),
            "users": list(self.users),
            "orgs": list(self.orgs),
            "skip_archived": self.skip_archived,
            "skip_forks": self.skip_forks,
            "gists": self.gists,
            "account": self.account,
        }
        if self.include:
            data["include"] = self.include
        if self.exclude:
            data["exclude"] = self.exclude
        return data

    @property
    def is_empty(self) -> bool:
        return not (self.repositories or self.users or self.orgs)

    def wants(self, repo: dict[str, Any]) -> bool:
        """The filters, applied to a repository object from a listing."""
        name = str(repo.get("full_name", ""))
        if self.skip_archived and repo.get("archived"):
            return False
        if self.skip_forks and repo.get("fork"):
            return False
        if self._include_re and not self._include_re.search(name):
            return False
        return not (self._exclude_re and self._exclude_re.search(name))


def expand_selection(
    client: GitHubClient, selection: Selection, sizes: dict[str, int] | None = None
) -> list[BackupItem]:
    """Every item the selection names, deduplicated and in a stable order.

    Explicit repositories are taken as given (a missing one fails as its own item, not the
    listing). Users' and organisations' repositories are listed and filtered. The
    authenticated user's own listing uses ``/user/repos`` so private repositories count.
    A GitHub App installation has no user: an empty selection means every repository the
    installation may read, and a user's repositories come from the installation's list
    (``/users/{u}/repos`` shows public ones only).

    ``sizes``, when given, receives each listed repository's size in bytes by item key
    (GitHub's ``size``, which is in KiB); items it has no entry for (explicit repositories,
    gists, the account) are of unknown, usually small size.
    """
    app = client.credentials.kind == "github-app"
    my_login = "" if app else str(client.get("user").get("login", ""))
    items: dict[str, BackupItem] = {}
    installation: list[dict[str, Any]] | None = None

    def add(item: BackupItem) -> None:
        items.setdefault(item.key, item)

    def installation_repositories() -> list[dict[str, Any]]:
        nonlocal installation
        if installation is None:
            installation = list(
                client.paginate("installation/repositories", wrapped_in="repositories")
            )
        return installation

    def add_repositories(listing: Iterable[dict[str, Any]]) -> None:
        for repo in listing:
            if selection.wants(repo):
                item = BackupItem(kind="repository", full_name=repo["full_name"])
                add(item)
                if sizes is not None and isinstance(repo.get("size"), int):
                    sizes.setdefault(item.key, max(0, repo["size"]) * 1024)

    for name in selection.repositories:
        add(BackupItem.from_json({"kind": "repository", "full_name": name}))

    if selection.is_empty and app:
        add_repositories(installation_repositories())

    users = list(selection.users)
    if selection.is_empty and my_login:
        users.append(my_login)

    for user in users:
        mine = user.lower() == my_login.lower()
        if app:
            owned = (r for r in installation_repositories() if _owner(r) == user.lower())
            add_repositories(owned)
        elif mine:
            add_repositories(client.paginate("user/repos", {"affiliation": "owner"}))
        else:
            add_repositories(client.paginate(f"users/{user}/repos", {"type": "owner"}))
        if selection.gists:
            for gist in client.paginate("gists" if mine else f"users/{user}/gists"):
                owner = (gist.get("owner") or {}).get("login") or user
                add(BackupItem(kind="gist", id=str(gist["id"]), owner=owner))
        if selection.account:
            add(BackupItem(kind="account", login=user))

    for org in selection.orgs:
        add_repositories(client.paginate(f"orgs/{org}/repos", {"type": "all"}))

    return sorted(
        items.values(), key=lambda i: ({"repository": 0, "gist": 1, "account": 2}[i.kind], i.key)
    )


def _owner(repo: dict[str, Any]) -> str:
    return str((repo.get("owner") or {}).get("login", "")).lower()
