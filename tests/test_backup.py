"""backup_item: every outcome ends in a result record, and only a complete item has a zip."""

from __future__ import annotations

import json

import pytest

from ghbackup import backup
from ghbackup.errors import NotFound
from ghbackup.records import BackupItem
from ghbackup.store import DirectoryDestination

ITEM = BackupItem(kind="repository", full_name="acme/api")


class Client:
    requests_made = 7


@pytest.mark.parametrize(
    "error,error_type",
    [
        (NotFound("repository acme/api not found", 404), "NotFound"),
        (ValueError("a bug"), "UnexpectedError"),
    ],
)
def test_any_failure_is_recorded_and_leaves_no_zip(monkeypatch, tmp_path, error, error_type):
    def failing_capture(*args, **kwargs):
        raise error

    monkeypatch.setattr(backup, "capture_item", failing_capture)
    result = backup.backup_item(ITEM, Client(), DirectoryDestination(tmp_path), run_id="r1")
    assert result.status == "failed" and result.error_type == error_type and result.zip_key is None
    stored = json.loads((tmp_path / "items/repository/acme/api/result.json").read_text())
    assert stored["status"] == "failed" and stored["error_type"] == error_type
    assert not list(tmp_path.rglob("*.zip"))
