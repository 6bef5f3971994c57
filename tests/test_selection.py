"""Expanding a selection (the execution input) into backup items."""

from __future__ import annotations

import pytest

from ghbackup.errors import InvalidItem
from ghbackup.github import OptionalResource
from ghbackup.records import BackupItem
from ghbackup.selection import Selection, expand_selection


class FakeClient:
    def __init__(self, me: str | None, listings: dict[str, list[dict]]) -> None:
        self.me = me
        self.listings = listings
        self.paths: list[str] = []

    def get_optional(self, path, params=None):
        assert path == "user"
        return (
            OptionalResource({"login": self.me})
            if self.me
            else OptionalResource(reason="forbidden (HTTP 403)")
        )

    def paginate(self, path, params=None):
        self.paths.append(path)
        return iter(self.listings.get(path, []))


def repo(name: str, **flags) -> dict:
    return {"full_name": name, "archived": False, "fork": False, **flags}


def test_empty_selection_means_the_authenticated_account():
    client = FakeClient(
        "octo",
        {
            "user/repos": [repo("octo/b"), repo("octo/a")],
            "gists": [{"id": "g1", "owner": {"login": "octo"}}],
        },
    )
    items = expand_selection(client, Selection.from_json({}))
    assert [i.key for i in items] == [
        "repository/octo/a",
        "repository/octo/b",
        "gist/g1",
        "account/octo",
    ]


def test_filters_apply_to_listed_repositories_not_to_explicit_ones():
    client = FakeClient(
        "me",
        {
            "orgs/acme/repos": [
                repo("acme/api"),
                repo("acme/old", archived=True),
                repo("acme/fork", fork=True),
                repo("acme/docs"),
            ]
        },
    )
    selection = Selection.from_json(
        {
            "orgs": ["acme"],
            "repositories": ["other/x"],
            "skip_archived": True,
            "skip_forks": True,
            "exclude": "docs$",
        }
    )
    keys = [i.key for i in expand_selection(client, selection)]
    assert keys == ["repository/acme/api", "repository/other/x"]


def test_include_regex_and_duplicates():
    client = FakeClient("me", {"orgs/acme/repos": [repo("acme/api"), repo("acme/web")]})
    selection = Selection.from_json(
        {"orgs": ["acme"], "repositories": ["acme/api"], "include": "api"}
    )
    assert [i.key for i in expand_selection(client, selection)] == ["repository/acme/api"]


def test_other_users_use_their_public_listing_and_gists():
    client = FakeClient(
        "me",
        {
            "users/alice/repos": [repo("alice/r")],
            "users/alice/gists": [{"id": "g9", "owner": {"login": "alice"}}],
        },
    )
    items = expand_selection(client, Selection.from_json({"users": ["alice"]}))
    assert BackupItem(kind="gist", id="g9", owner="alice") in items
    assert "users/alice/repos" in client.paths and "user/repos" not in client.paths


def test_app_credentials_need_an_explicit_selection():
    with pytest.raises(InvalidItem, match="name repositories, users or orgs"):
        expand_selection(FakeClient(None, {}), Selection.from_json({}))


def test_bad_regex_is_rejected_with_the_field_name():
    with pytest.raises(InvalidItem, match="^include: not a valid regular expression"):
        Selection.from_json({"include": "("})
