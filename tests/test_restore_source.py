"""Reading a restored item for a restore to GitHub: untrusted shapes never crash it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ghbackup.errors import ArchiveCorrupt
from ghbackup.restore_issues import conversation, planned_writes
from ghbackup.restore_source import load


def write(root: Path, rel: str, data: object) -> None:
    path = root / "o" / "r" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def test_fields_of_the_wrong_type_are_read_as_empty(tmp_path):
    write(tmp_path, "repository.json", {"topics": "not a list"})
    write(tmp_path, "topics.json", ["not", "an", "object"])
    write(tmp_path, "labels/labels.json", {"name": "not a list"})
    write(tmp_path, "issues/1.json", {"number": 1, "title": "t", "labels": 5,
                                      "assignees": "x", "comment_data": {"a": 1}})  # fmt: skip
    write(tmp_path, "pulls/2.json", {"number": 2, "title": "p", "head": "main", "base": 3,
                                     "review_data": 7, "comment_data": None,
                                     "comment_regular_data": [1, {"id": 9, "body": "hi"}]})  # fmt: skip
    write(tmp_path, "releases/v1.json", {"tag_name": "v1", "assets": 4})
    src = load(tmp_path, "o/r")
    assert src.topics == [] and src.labels == [] and src.releases[0].assets == []
    assert conversation(None, src.issues[1]) == []
    assert len(conversation(src.pulls[2], src.pulls[2])) == 1
    assert planned_writes(src, 2, include_closed=True) == 2


@pytest.mark.parametrize("number", [0, -1, "3", None, True])
def test_an_item_without_a_valid_number_is_archive_corrupt(tmp_path, number):
    write(tmp_path, "repository.json", {})
    write(tmp_path, "issues/1.json", {"number": number, "title": "t"})
    with pytest.raises(ArchiveCorrupt, match="issues/1.json"):
        load(tmp_path, "o/r")


def test_a_metadata_file_that_is_not_json_is_archive_corrupt(tmp_path):
    write(tmp_path, "repository.json", {})
    (tmp_path / "o" / "r" / "labels").mkdir()
    (tmp_path / "o" / "r" / "labels" / "labels.json").write_text("{not json")
    with pytest.raises(ArchiveCorrupt, match="labels/labels.json"):
        load(tmp_path, "o/r")
