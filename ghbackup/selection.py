"""What a run backs up: the execution input's selection expanded into items.

The selection is the validated execution input (workflow/input.schema.json). An empty
selection means the authenticated account: its own repositories, its gists and its
account data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ghbackup.errors import InvalidItem
from ghbackup.github import GitHubClient
from ghbackup.records import BackupItem


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
    _include_re: re.Pattern[str] | None = field(default=None, compare=False, repr=False)
    _exclude_re: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Selection:
        """From a validated input; regexes are compiled here (InvalidItem when they are not)."""

        def pattern(name: str) -> re.Pattern[str] | None:
            value = data.get(name)
            if value in (None, ""):
                return None
            try:
                return re.compile(str(value))
            except re.error as exc:
                raise InvalidItem(f"{name}: not a valid regular expression ({exc})") from None

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
            _include_re=pattern("include"),
            _exclude_re=pattern("exclude"),
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


def expand_selection(client: GitHubClient, selection: Selection) -> list[BackupItem]:
    """Every item the selection names, deduplicated and in a stable order.

    Explicit repositories are taken as given (a missing one fails as its own item, not the
    listing). Users' and organisations' repositories are listed and filtered. The
    authenticated user's own listing uses ``/user/repos`` so private repositories count.
    """
    # A GitHub App installation token has no user: /user answers 403 for it.
    me = client.get_optional("user")
    my_login = str(me.value.get("login", "")) if me.present and isinstance(me.value, dict) else ""
    if selection.is_empty and not my_login:
        raise InvalidItem(
            "nothing selected and the credentials have no user of their own: "
            "name repositories, users or orgs"
        )
    items: dict[str, BackupItem] = {}

    def add(item: BackupItem) -> None:
        items.setdefault(item.key, item)

    for name in selection.repositories:
        add(BackupItem.from_json({"kind": "repository", "full_name": name}))

    users = list(selection.users)
    if selection.is_empty and my_login:
        users.append(my_login)

    for user in users:
        if user.lower() == my_login.lower():
            listing = client.paginate("user/repos", {"affiliation": "owner", "sort": "full_name"})
        else:
            listing = client.paginate(f"users/{user}/repos", {"type": "owner", "sort": "full_name"})
        for repo in listing:
            if selection.wants(repo):
                add(BackupItem(kind="repository", full_name=repo["full_name"]))
        if selection.gists:
            path = "gists" if user.lower() == my_login.lower() else f"users/{user}/gists"
            for gist in client.paginate(path):
                owner = (gist.get("owner") or {}).get("login") or user
                add(BackupItem(kind="gist", id=str(gist["id"]), owner=owner))
        if selection.account:
            add(BackupItem(kind="account", login=user))

    for org in selection.orgs:
        for repo in client.paginate(f"orgs/{org}/repos", {"type": "all", "sort": "full_name"}):
            if selection.wants(repo):
                add(BackupItem(kind="repository", full_name=repo["full_name"]))

    return sorted(
        items.values(), key=lambda i: ({"repository": 0, "gist": 1, "account": 2}[i.kind], i.key)
    )
