"""Records that cross boundaries: parsing the Map item, result round trips, staging keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ghbackup.errors import InvalidItem
from ghbackup.records import (
    BackupItem,
    FileEntry,
    ItemManifest,
    ItemResult,
    RunManifest,
    dump_items,
    item_result_key,
    item_zip_key,
    json_schemas,
    parse_items,
)


@pytest.mark.parametrize(
    "raw,key,root",
    [
        (
            '{"kind": "repository", "full_name": "acme/api.v2"}',
            "repository/acme/api.v2",
            "acme/api.v2/",
        ),
        ({"kind": "gist", "id": "aa11", "owner": "octo"}, "gist/aa11", "octo/@gists/aa11/"),
        ({"kind": "account", "login": "octo", "extra": 1}, "account/octo", "octo/@account/"),
    ],
)
def test_items_parse_and_name_their_places(raw, key, root):
    item = BackupItem.from_json(raw)
    assert item.key == key and item.archive_root == root
    assert BackupItem.from_json(item.to_json()) == item


@pytest.mark.parametrize(
    "raw,message",
    [
        ("{nope", "not valid JSON"),
        ("[1]", "must be a JSON object"),
        ({"kind": "wiki"}, "unknown item kind 'wiki'"),
        ({"kind": "repository", "full_name": "no-slash"}, "owner/name"),
        ({"kind": "repository", "full_name": "a/../../etc"}, "owner/name"),
        ({"kind": "repository", "full_name": "a/.."}, "owner/name"),
        ({"kind": "gist", "id": "../x"}, "alphanumeric id"),
        ({"kind": "account", "login": "-bad"}, "login"),
        ({"kind": "account", "login": "bad-"}, "login"),
        ({"kind": "account", "login": "a--b"}, "login"),
        ({"kind": "account", "login": "a" * 40}, "login"),
        ({"kind": "account", "login": "ac.me"}, "login"),
        ({"kind": "repository", "full_name": "acme/repo-001.git"}, "no '.git' suffix"),
        ({"kind": "repository", "full_name": "acme/Repo.GIT"}, "no '.git' suffix"),
        ({"kind": "repository", "full_name": "acme/."}, "not '.' or '..'"),
        ({"kind": "repository", "full_name": "ac.me/repo"}, "owner"),
        ({"kind": "repository", "full_name": "acme/" + "r" * 101}, "at most 100"),
        ({"kind": "repository", "full_name": "acme/a b"}, "owner/name"),
        ({"kind": "gist", "id": "abc", "owner": "a/b"}, "gist owner"),
        ({"kind": "account", "login": "x" * 100_000}, "got 'x+[.]{3}$"),
    ],
)
def test_malformed_items_are_one_line_errors(raw, message):
    with pytest.raises(InvalidItem, match=message) as info:
        BackupItem.from_json(raw)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "name", ["acme/.github", "acme/widget.js", "acme/a_b-c.d", "octo-cat/x", "octo_emu/x", "a/b"]
)
def test_names_github_accepts_are_items(name):
    assert BackupItem.from_json({"kind": "repository", "full_name": name}).full_name == name


def test_an_item_made_directly_is_validated_too():
    with pytest.raises(InvalidItem, match="no '.git' suffix"):
        BackupItem(kind="repository", full_name="acme/repo.git")
    with pytest.raises(InvalidItem, match="login"):
        BackupItem(kind="account", login="../x")


def test_result_round_trips_and_keys_sit_side_by_side():
    item = BackupItem(kind="repository", full_name="acme/api")
    result = ItemResult(
        item=item, status="succeeded", run_id="r1", started_at="a", finished_at="b", zip_key="k"
    )
    assert ItemResult.from_json(result.to_json()) == result
    assert result.to_json()["item_key"] == "repository/acme/api"
    assert item_zip_key("staging/r1/", item) == "staging/r1/items/repository/acme/api/item.zip"
    assert (
        item_result_key("staging/r1/", item) == "staging/r1/items/repository/acme/api/result.json"
    )
    assert item_zip_key("", item) == "items/repository/acme/api/item.zip"


@pytest.mark.parametrize(
    "model,data,field",
    [
        (ItemResult, {"item": {"kind": "account", "login": "octo"}}, "status"),
        (
            ItemResult,
            {"item": {"kind": "account", "login": "octo"}, "status": "done", "run_id": "r"},
            "status",
        ),  # fmt: skip
        (
            ItemResult,
            {
                "item": {"kind": "account", "login": "octo"},
                "status": "failed",
                "run_id": "r",
                "zip_bytes": -1,
            },
            "zip_bytes",
        ),  # fmt: skip
        (RunManifest, {"run_id": "r"}, "status"),
        (
            ItemManifest,
            {"format": "ghbackup/9", "item": {"kind": "account", "login": "o"}, "files": []},
            "format",
        ),  # fmt: skip
        (FileEntry, {"path": "a.json", "size": 1, "sha256": "beef"}, "sha256"),
    ],
)
def test_bad_records_are_one_line_errors_naming_the_field(model, data, field):
    with pytest.raises(model.invalid) as info:
        model.from_json(data)
    assert field in str(info.value) and "\n" not in str(info.value)


def test_items_json_round_trips_and_names_a_bad_entry():
    items = [
        BackupItem(kind="repository", full_name="acme/api"),
        BackupItem(kind="account", login="acme"),
    ]
    assert parse_items(dump_items(items)) == items
    with pytest.raises(InvalidItem, match="full_name"):
        parse_items(b'[{"kind": "repository", "full_name": "nope"}]')


def test_older_manifests_without_bundle_names_read_as_before():
    manifest = ItemManifest.from_json(
        {
            "format": "ghbackup/1",
            "item": {"kind": "repository", "full_name": "a/b"},
            "files": [],
            "git": {
                "repository": {"refs": {"refs/heads/main": "0" * 40}, "head": None},
                "wiki": {"refs": {}, "head": None},
            },
        }  # fmt: skip
    )
    assert manifest.git["repository"].bundle == "repository.bundle"
    assert manifest.git["wiki"].bundle is None


def test_checked_in_schemas_match_the_records():
    """docs/schemas is generated from ghbackup/records.py: regenerate it with
    ``python -m ghbackup.records docs/schemas`` when a record changes."""
    folder = Path(__file__).resolve().parents[1] / "docs" / "schemas"
    generated = json_schemas()
    on_disk = {
        p.name.removesuffix(".schema.json"): json.loads(p.read_text())
        for p in folder.glob("*.schema.json")
    }
    assert set(on_disk) == set(generated)
    for name, schema in generated.items():
        assert on_disk[name] == json.loads(json.dumps(schema)), (
            f"docs/schemas/{name}.schema.json is stale"
        )
