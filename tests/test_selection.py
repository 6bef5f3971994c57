"""Expanding a selection (the execution input) into backup items."""

from __future__ import annotations

import time

import pytest

from ghbackup.errors import InvalidItem
from ghbackup.records import BackupItem
from ghbackup.selection import Selection, expand_selection


class FakeCredentials:
    def __init__(self, kind: str) -> None:
        self.kind = kind


class FakeClient:
    def __init__(self, me: str | None, listings: dict[str, list[dict]]) -> None:
        self.me = me
        self.listings = listings
        self.paths: list[str] = []
        self.credentials = FakeCredentials("token" if me else "github-app")

    def get(self, path, params=None):
        assert path == "user" and self.me, "an App installation must never ask for /user"
        return {"login": self.me}

    def paginate(self, path, params=None, wrapped_in=None):
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


def test_an_app_installation_backs_up_every_repository_it_may_read():
    installation = [
        repo("acme/private", owner={"login": "acme"}),
        repo("alice/x", owner={"login": "alice"}),
    ]
    client = FakeClient(None, {"installation/repositories": installation})
    everything = expand_selection(client, Selection.from_json({}))
    assert [i.key for i in everything] == ["repository/acme/private", "repository/alice/x"]
    alice = expand_selection(client, Selection.from_json({"users": ["alice"], "gists": False}))
    assert [i.key for i in alice] == ["repository/alice/x", "account/alice"]
    assert "users/alice/repos" not in client.paths


def test_bad_regex_is_rejected_with_the_field_name():
    with pytest.raises(InvalidItem, match="^include: .* is not a valid RE2 regular expression"):
        Selection.from_json({"include": "("})


def test_a_selection_constructed_directly_applies_its_include_and_exclude():
    selection = Selection(include="^acme/api$", exclude="old")
    assert selection.wants(repo("acme/api"))
    assert not selection.wants(repo("acme/web"))
    assert not Selection(exclude="old").wants(repo("acme/old"))


def test_a_catastrophic_pattern_matches_in_linear_time():
    # A backtracking engine takes longer than the age of the universe on this name.
    selection = Selection(include="^(((.|.)*)*)*!$")
    started = time.monotonic()
    assert not selection.wants(repo("acme/" + "a" * 5000))
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("pattern", [r"(a)\1", r"acme/(?=api)", r"(?<!x)y"])
def test_a_pattern_the_linear_engine_cannot_run_is_rejected(pattern):
    with pytest.raises(InvalidItem, match="^exclude: .*RE2"):
        Selection(exclude=pattern)


def test_listed_repositories_report_their_size_in_bytes():
    client = FakeClient(
        None, {"orgs/acme/repos": [repo("acme/big", size=2048), repo("acme/tiny", size=0)]}
    )
    sizes: dict[str, int] = {}
    items = expand_selection(
        client, Selection.from_json({"orgs": ["acme"], "repositories": ["acme/named"]}), sizes
    )
    assert [i.key for i in items] == [
        "repository/acme/big",
        "repository/acme/named",
        "repository/acme/tiny",
    ]
    # GitHub's size is in KiB; an explicit repository was not listed, so its size is unknown.
    assert sizes == {"repository/acme/big": 2048 * 1024, "repository/acme/tiny": 0}
