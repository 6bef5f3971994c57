"""backup_item: every outcome ends in a result record, and only a complete item has a zip."""

from __future__ import annotations

import errno
import json
import os
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from ghbackup import backup, store
from ghbackup.archive import ItemArchiveWriter
from ghbackup.capture import CaptureReport
from ghbackup.errors import NotFound, StorageError, exit_code_for, is_retryable
from ghbackup.records import BackupItem, ItemResult, item_result_key, item_zip_key
from ghbackup.store import DirectoryDestination, S3Destination

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


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_scratch_space_running_out_is_a_storage_error(monkeypatch, tmp_path, code):
    def capture(*args, **kwargs):
        raise OSError(code, os.strerror(code), "/scratch/ghbackup-x/repo.git/objects/pack")

    monkeypatch.setattr(backup, "capture_item", capture)
    result = backup.backup_item(ITEM, Client(), DirectoryDestination(tmp_path), run_id="r1")
    assert result.error_type == "StorageError"
    assert "scratch" in result.error and os.strerror(code) in result.error


def _write_item_zip(zip_path: Path, item: BackupItem = ITEM) -> CaptureReport:
    """A small, whole item zip (no git), so verify at write passes it."""
    with ItemArchiveWriter(zip_path, item) as writer:
        writer.add_json("repository.json", {"name": "api"})
        summary = writer.close({"complete": True})
    return CaptureReport(zip_path=zip_path, zip_bytes=summary.size, zip_sha256=summary.sha256)


def _captured():
    def capture(item, client, *, zip_path, **kwargs):
        return _write_item_zip(zip_path)

    return capture


def test_a_full_output_directory_leaves_no_partial_zip_and_says_storing_failed(
    monkeypatch, tmp_path
):
    def half_then_full(src, dst):
        Path(dst).write_bytes(b"PK-half")  # a copy across filesystems, cut short
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(backup, "capture_item", _captured())
    monkeypatch.setattr(store.shutil, "move", half_then_full)
    result = backup.backup_item(ITEM, Client(), DirectoryDestination(tmp_path), run_id="r1")
    folder = tmp_path / "items/repository/acme/api"
    assert sorted(p.name for p in folder.iterdir()) == ["result.json"]
    stored = json.loads((folder / "result.json").read_text())
    assert stored["status"] == "failed" and stored["error_type"] == "StorageError"
    assert "storing the zip" in stored["error"] and "No space left" in stored["error"]
    assert result.zip_key is None


def test_when_even_the_result_cannot_be_written_the_error_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr(backup, "capture_item", _captured())
    monkeypatch.setattr(store.shutil, "move", _no_space)
    monkeypatch.setattr(store, "_write_atomically", _no_space)
    with pytest.raises(StorageError) as raised:
        backup.backup_item(ITEM, Client(), DirectoryDestination(tmp_path), run_id="r1")
    message = str(raised.value)
    assert "result.json" in message and "storing the zip" in message and "\n" not in message
    assert not list(tmp_path.rglob("*.partial")) and not list(tmp_path.rglob(".tmp-*"))


def test_a_failed_recapture_removes_the_older_zip(monkeypatch, tmp_path):
    monkeypatch.setattr(backup, "capture_item", _captured())
    first = backup.backup_item(ITEM, Client(), DirectoryDestination(tmp_path), run_id="r1")
    assert first.status == "succeeded"
    monkeypatch.setattr(backup, "capture_item", _no_space)
    second = backup.backup_item(ITEM, Client(), DirectoryDestination(tmp_path), run_id="r2")
    folder = tmp_path / "items/repository/acme/api"
    assert second.status == "failed"
    assert sorted(p.name for p in folder.iterdir()) == ["result.json"]
    assert json.loads((folder / "result.json").read_text())["run_id"] == "r2"


def test_a_failed_result_on_s3_is_stored_without_any_delete(monkeypatch):
    """The task's role may not delete (AWS denies it): a failure beside an earlier
    attempt's zip records the result and leaves the zip for Finalize to ignore."""
    from botocore.exceptions import ClientError

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    deletes: list[str] = []

    def deny(params, **kwargs):
        deletes.append(params["Key"])
        raise ClientError({"Error": {"Code": "AccessDenied"}}, "DeleteObject")

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="ghbackup-test")
        s3.meta.events.register("before-call.s3.DeleteObject", deny)
        destination = S3Destination(s3, "ghbackup-test", "staging/r1/")
        zip_key = item_zip_key("staging/r1/", ITEM)
        s3.put_object(Bucket="ghbackup-test", Key=zip_key, Body=b"PK-old")
        monkeypatch.setattr(backup, "capture_item", _no_space)
        result = backup.backup_item(ITEM, Client(), destination, run_id="r1")
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="ghbackup-test").get("Contents", [])]
        stored = json.loads(
            s3.get_object(Bucket="ghbackup-test", Key=item_result_key("staging/r1/", ITEM))[
                "Body"
            ].read()
        )
    assert deletes == []
    assert result.status == "failed" and stored["status"] == "failed"
    assert stored.get("zip_key") is None
    assert sorted(keys) == sorted([zip_key, item_result_key("staging/r1/", ITEM)])


def test_no_room_for_a_scratch_folder_is_a_recorded_storage_error(monkeypatch, tmp_path):
    monkeypatch.setattr(backup.tempfile, "TemporaryDirectory", _no_space)
    monkeypatch.setattr(backup, "capture_item", _captured())
    result = backup.backup_item(
        ITEM, Client(), DirectoryDestination(tmp_path / "out"), run_id="r1", scratch=tmp_path
    )
    assert (result.status, result.error_type) == ("failed", "StorageError")
    assert f"scratch folder in {tmp_path}" in result.error and "No space left" in result.error
    stored = json.loads((tmp_path / "out/items/repository/acme/api/result.json").read_text())
    assert stored["error_type"] == "StorageError"


def test_a_scratch_folder_that_cannot_be_removed_keeps_the_items_own_outcome(monkeypatch, tmp_path):
    real = backup.tempfile.TemporaryDirectory

    class Unremovable(real):
        def __exit__(self, *exc_info):
            super().__exit__(*exc_info)
            if "-verify-" not in self.name:  # the item's own scratch folder
                raise OSError(errno.EBUSY, "Device or resource busy")

    monkeypatch.setattr(backup.tempfile, "TemporaryDirectory", Unremovable)
    monkeypatch.setattr(backup, "capture_item", _captured())
    done = backup.backup_item(ITEM, Client(), DirectoryDestination(tmp_path), run_id="r1")
    assert done.status == "succeeded"
    monkeypatch.setattr(backup, "capture_item", _no_space)
    failed = backup.backup_item(ITEM, Client(), DirectoryDestination(tmp_path), run_id="r2")
    assert failed.error_type == "StorageError" and "scratch space ran out" in failed.error


@pytest.mark.parametrize("fails", [False, True])
def test_github_requests_counts_this_items_requests_only(monkeypatch, tmp_path, fails):
    """A client serves every item of a batch: succeeded or failed, a result counts the
    requests its own capture sent, never the client's running total."""

    class SharedClient:
        requests_made = 100  # what earlier items of the batch sent

    client = SharedClient()

    def capture(item, client, *, zip_path, **kwargs):
        client.requests_made += 12
        if fails:
            raise NotFound("repository acme/api not found", 404)
        return _write_item_zip(zip_path)

    monkeypatch.setattr(backup, "capture_item", capture)
    result = backup.backup_item(ITEM, client, DirectoryDestination(tmp_path), run_id="r1")
    assert result.status == ("failed" if fails else "succeeded")
    assert result.github_requests == 12


def test_a_result_decided_before_the_capture_is_stored_instead_of_capturing(monkeypatch, tmp_path):
    def capture(*args, **kwargs):
        raise AssertionError("a reused item must not be captured")

    monkeypatch.setattr(backup, "capture_item", capture)
    reused = ItemResult(item=ITEM, status="succeeded", run_id="r1", zip_key="staged/item.zip",
                        zip_bytes=3, capture="reused", reused_from="r0")  # fmt: skip

    result = backup.backup_item(ITEM, Client(), DirectoryDestination(tmp_path), run_id="r1",
                                before_capture=lambda: reused)  # fmt: skip

    assert result == reused
    stored = ItemResult.from_json((tmp_path / item_result_key("", ITEM)).read_bytes())
    assert (stored.status, stored.capture, stored.reused_from) == ("succeeded", "reused", "r0")


# -- verify at write ------------------------------------------------------------------------


def _ticking(step_seconds: float = 1.5):
    """A fake clock: each call is ``step_seconds`` after the previous one."""
    ticks = iter(range(1000))
    start = datetime(2026, 12, 1, tzinfo=UTC)
    return lambda: start + timedelta(seconds=step_seconds * next(ticks))


def _damaged(zip_path: Path, item: BackupItem = ITEM) -> CaptureReport:
    """A zip whose repository.json (same size, good CRC) no longer has the SHA-256 its
    manifest records."""
    report = _write_item_zip(zip_path, item)
    tampered = zip_path.with_suffix(".tmp")
    with zipfile.ZipFile(zip_path) as src, zipfile.ZipFile(tampered, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("repository.json"):
                data = data.replace(b'"api"', b'"ap1"')
            dst.writestr(info, data)
    tampered.replace(zip_path)
    return report


def test_a_verified_item_records_verified_and_how_long_the_checks_took(monkeypatch, tmp_path):
    monkeypatch.setattr(backup, "capture_item", _captured())
    result = backup.backup_item(
        ITEM, Client(), DirectoryDestination(tmp_path), run_id="r1", now=_ticking()
    )
    assert (result.status, result.verified, result.verify_seconds) == ("succeeded", True, 1.5)
    stored = ItemResult.from_json((tmp_path / item_result_key("", ITEM)).read_bytes())
    assert (stored.verified, stored.verify_seconds) == (True, 1.5)


def test_a_zip_failing_verification_is_not_stored_and_fails_the_item_for_a_retry(
    monkeypatch, tmp_path
):
    monkeypatch.setattr(
        backup, "capture_item", lambda item, client, *, zip_path, **kw: _damaged(zip_path)
    )
    result = backup.backup_item(
        ITEM, Client(), DirectoryDestination(tmp_path), run_id="r1", now=_ticking()
    )
    assert (result.status, result.error_type) == ("failed", "VerifyAtWriteFailed")
    assert result.error == "verify at write: acme/api/repository.json: sha256 mismatch"
    assert (result.verified, result.verify_seconds, result.zip_key) == (False, 1.5, None)
    assert is_retryable(result.error_type) and exit_code_for(result.error_type) == 5
    assert not list(tmp_path.rglob("*.zip"))


def test_a_zip_holding_another_item_fails_verification(monkeypatch, tmp_path):
    other = BackupItem(kind="repository", full_name="acme/other")
    monkeypatch.setattr(
        backup,
        "capture_item",
        lambda item, client, *, zip_path, **kw: _write_item_zip(zip_path, other),
    )
    result = backup.backup_item(ITEM, Client(), DirectoryDestination(tmp_path), run_id="r1")
    assert result.error_type == "VerifyAtWriteFailed"
    assert "holds repository/acme/other, not only repository/acme/api" in result.error


def test_with_verification_off_a_damaged_zip_is_stored_unverified(monkeypatch, tmp_path):
    """What turning it off loses: the damage is found only by a later verify or restore."""
    monkeypatch.setattr(
        backup, "capture_item", lambda item, client, *, zip_path, **kw: _damaged(zip_path)
    )
    result = backup.backup_item(
        ITEM, Client(), DirectoryDestination(tmp_path), run_id="r1", verify=False
    )
    assert (result.status, result.verified, result.verify_seconds) == ("succeeded", False, None)
    assert (tmp_path / item_zip_key("", ITEM)).exists()
