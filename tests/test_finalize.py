"""Per-item zips as the engine writes them, and staging them in (mocked) S3."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterable

from ghbackup.records import (
    BackupItem,
    ItemResult,
    RunItem,
    item_result_key,
    item_zip_key,
    staging_prefix,
)

STAMP = "2024-05-01T00:00:00Z"


class Unseekable(io.RawIOBase):
    """A write-only stream without tell/seek: zipfile then writes data descriptors."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[override]
        self.data += b
        return len(b)


def item_zip(
    item: BackupItem,
    files: Iterable[tuple[str, bytes, int, bool]],
    *,
    unseekable: bool = False,
) -> bytes:
    """A per-item zip: ``files`` as (relative name, bytes, method, force_zip64), then the
    item's manifest.json last, everything under the item's folder."""
    sink: io.BytesIO | Unseekable = Unseekable() if unseekable else io.BytesIO()
    listed = []
    with zipfile.ZipFile(sink, "w") as zf:  # type: ignore[arg-type]
        for name, data, method, force in files:
            info = zipfile.ZipInfo(item.archive_root + name, date_time=(2024, 5, 1, 12, 0, 0))
            info.compress_type = method
            with zf.open(info, "w", force_zip64=force) as out:
                out.write(data)
            listed.append({"path": name, "size": len(data)})
        manifest = {"format": "ghbackup/1", "item": item.to_json(), "files": listed,
                    "complete": True}  # fmt: skip
        zf.writestr(item.archive_root + "manifest.json", json.dumps(manifest, indent=4),
                    compress_type=zipfile.ZIP_DEFLATED)  # fmt: skip
    return bytes(sink.data) if isinstance(sink, Unseekable) else sink.getvalue()


def stage(
    s3,
    bucket: str,
    run_id: str,
    item: BackupItem,
    data: bytes | None,
    *,
    error: tuple[str, str] | None = None,
    claimed_bytes: int | None = None,
) -> None:
    """Write an item's zip (when ``data``) and its result record to staging."""
    prefix = staging_prefix(run_id)
    result = ItemResult(item=item, status="failed" if error else "succeeded", run_id=run_id,
                        started_at=STAMP, finished_at=STAMP)  # fmt: skip
    if error:
        result.error_type, result.error = error
    if data is not None and not error:
        key = item_zip_key(prefix, item)
        s3.put_object(Bucket=bucket, Key=key, Body=data)
        result.zip_key = key
        result.zip_bytes = len(data) if claimed_bytes is None else claimed_bytes
        result.zip_sha256 = hashlib.sha256(data).hexdigest()
    s3.put_object(Bucket=bucket, Key=item_result_key(prefix, item),
                  Body=json.dumps(result.to_json()).encode())  # fmt: skip


def repo(name: str) -> BackupItem:
    return BackupItem(kind="repository", full_name=name)


def entries_of(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


# --------------------------------------------------------------------------- tests

import math  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import zlib  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402

import boto3  # noqa: E402
import pytest  # noqa: E402
from moto import mock_aws  # noqa: E402

from ghbackup import extract, finalize, runzip, zipformat  # noqa: E402
from ghbackup import s3 as s3io  # noqa: E402
from ghbackup.errors import (  # noqa: E402
    ArchiveCorrupt,
    ConfigurationError,
    RunAlreadyExists,
    StorageError,
)
from ghbackup.records import run_archive_key, run_manifest_key  # noqa: E402

BUCKET = "backups"
RUN = "run-1"
MIB = 1024 * 1024
STORED, DEFLATED = zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED


class FixedClock:
    """A fake clock: each call is one second after the previous one."""

    def __init__(self) -> None:
        self.ticks = 0

    def __call__(self):
        from datetime import UTC, datetime, timedelta

        self.ticks += 1
        return datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC) + timedelta(seconds=self.ticks)


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def kms_key():
    # Inside the same mock_aws context as s3 (fixtures nest in request order).
    return boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["KeyId"]


def count_get_bytes(client) -> list[int]:
    """Collects the ContentLength of every GetObject the client makes."""
    seen: list[int] = []

    def hook(parsed, **_):
        seen.append(parsed.get("ContentLength", 0))

    client.meta.events.register("after-call.s3.GetObject", hook)
    return seen


def read_run_zip(s3, key: str) -> bytes:
    """The run zip's bytes; it is in GLACIER, so restore it first as a user would."""
    if s3.head_object(Bucket=BUCKET, Key=key).get("StorageClass") in ("GLACIER", "DEEP_ARCHIVE"):
        s3.restore_object(Bucket=BUCKET, Key=key, RestoreRequest={"Days": 1})
    return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def unzip_test(data: bytes, tmp_path) -> None:
    if shutil.which("unzip") is None:
        pytest.skip("unzip is not installed")
    path = tmp_path / "run.zip"
    path.write_bytes(data)
    proc = subprocess.run(["unzip", "-tqq", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def small_items() -> dict[BackupItem, bytes]:
    a, b, c = repo("acme/repo-001"), repo("acme/repo-002"), repo("acme/repo-003")
    text = b'{\n    "number": 1\n}\n' * 200
    return {
        a: item_zip(a, [("repository.bundle", os.urandom(3000), STORED, False),
                        ("issues/1.json", text, DEFLATED, False)]),
        b: item_zip(b, [("repository.bundle", os.urandom(5000), STORED, True),
                        ("pulls/2.json", text, DEFLATED, True)]),
        # data descriptors (written to a stream that cannot seek), ZIP64 local headers
        c: item_zip(c, [("repository.bundle", os.urandom(700), STORED, True),
                        ("labels/labels.json", text, DEFLATED, False)], unseekable=True),
    }  # fmt: skip


def large_items() -> dict[BackupItem, bytes]:
    d, e = repo("acme/repo-004"), repo("acme/repo-005")
    return {
        d: item_zip(d, [("repository.bundle", os.urandom(6 * MIB), STORED, False)]),
        e: item_zip(e, [("repository.bundle", os.urandom(7 * MIB), STORED, True),
                        ("lfs/objects/ab/cd/abcd", os.urandom(5 * MIB), DEFLATED, True)]),
    }  # fmt: skip


def test_run_zip_holds_every_entry_of_every_succeeded_item(s3, kms_key, tmp_path):
    zips = {**small_items(), **large_items()}
    failed, missing = repo("acme/repo-broken"), repo("acme/repo-vanished")
    items = list(zips) + [failed, missing]
    for item, data in zips.items():
        stage(s3, BUCKET, RUN, item, data)
    stage(s3, BUCKET, RUN, failed, None, error=("GitCommandFailed", "git bundle create failed"))
    reads = count_get_bytes(s3)

    summary = finalize.assemble_run(s3, bucket=BUCKET, run_id=RUN, items=items,
                                      kms_key_id=kms_key, clock=FixedClock())  # fmt: skip
    read_by_finalize = sum(reads)

    assert summary.status == "PARTIAL"
    assert summary.counts.to_json() == {"total": 7, "succeeded": 5, "failed": 2}
    assert {f.item_key: f.error_type for f in summary.failed} == {
        failed.key: "GitCommandFailed", missing.key: "StorageError"}  # fmt: skip
    assert "did not finish" in next(f.error for f in summary.failed if f.item_key == missing.key)
    run_zip = read_run_zip(s3, summary.archive_key)
    assert len(run_zip) == summary.bytes
    with zipfile.ZipFile(io.BytesIO(run_zip)) as zf:
        assert zf.testzip() is None
    unzip_test(run_zip, tmp_path)
    expected = {}
    for data in zips.values():
        expected.update(entries_of(data))
    assert entries_of(run_zip) == expected
    # Large regions were copied inside S3: the process read the small zips and tails only.
    small_bytes = sum(len(d) for d in small_items().values())
    assert read_by_finalize < small_bytes + 10 * 70_000 + 100_000
    assert sum(len(d) for d in large_items().values()) > 18 * MIB


def test_run_zip_has_the_storage_class_and_kms_key_and_manifest_is_standard(s3, kms_key):
    item, data = next(iter(small_items().items()))
    stage(s3, BUCKET, RUN, item, data)
    summary = finalize.assemble_run(s3, bucket=BUCKET, run_id=RUN, items=[item],
                                      storage_class="DEEP_ARCHIVE", kms_key_id=kms_key)  # fmt: skip
    head = s3.head_object(Bucket=BUCKET, Key=summary.archive_key)
    assert head["StorageClass"] == "DEEP_ARCHIVE"
    assert head["ServerSideEncryption"] == "aws:kms"
    assert kms_key in head["SSEKMSKeyId"]
    mhead = s3.head_object(Bucket=BUCKET, Key=summary.manifest_key)
    assert mhead.get("StorageClass", "STANDARD") == "STANDARD"
    assert mhead["ServerSideEncryption"] == "aws:kms"
    assert summary.archive_key == f"runs/{RUN}/ghbackup-{RUN}.zip"


def test_unknown_storage_class_is_rejected(s3):
    with pytest.raises(ConfigurationError, match="GLACIER_IR"):
        finalize.assemble_run(s3, bucket=BUCKET, run_id=RUN, items=[], storage_class="ONEZONE")


def test_small_items_are_packed_into_parts_of_at_least_5_mib(s3, tmp_path):
    # moto, like S3, rejects CompleteMultipartUpload when a part but the last is < 5 MiB.
    items = [repo(f"acme/small-{n:02}") for n in range(14)]
    zips = {i: item_zip(i, [("repository.bundle", os.urandom(900_000), STORED, False)])
            for i in items}  # fmt: skip
    big = repo("acme/big")
    zips[big] = item_zip(big, [("repository.bundle", os.urandom(6 * MIB), STORED, False)])
    order = items[:3] + [big] + items[3:]
    for item in order:
        stage(s3, BUCKET, RUN, item, zips[item])
    summary = finalize.assemble_run(s3, bucket=BUCKET, run_id=RUN, items=order)
    manifest = extract.read_run_manifest(s3, BUCKET, RUN)
    parts = manifest.archive.to_json()["parts"]
    assert len(parts) >= 3
    assert all(p["bytes"] >= 5 * MIB for p in parts[:-1])
    run_zip = read_run_zip(s3, summary.archive_key)
    expected = {}
    for data in zips.values():
        expected.update(entries_of(data))
    assert entries_of(run_zip) == expected
    unzip_test(run_zip, tmp_path)


def test_manifest_locates_each_item_inside_the_run_zip(s3):
    zips = {**small_items(), **large_items()}
    for item, data in zips.items():
        stage(s3, BUCKET, RUN, item, data)
    summary = finalize.assemble_run(s3, bucket=BUCKET, run_id=RUN, items=list(zips))
    manifest = extract.read_run_manifest(s3, BUCKET, RUN)
    run_zip = read_run_zip(s3, summary.archive_key)
    for item, data in zips.items():
        line = manifest.item(item.key)
        assert line.status == "succeeded" and line.zip_sha256 == hashlib.sha256(data).hexdigest()
        cd = zipformat.find_end_record(data, 0)
        assert run_zip[line.offset : line.offset + line.length] == data[: cd.cd_offset]
        at = line.manifest_entry_offset
        header = run_zip[at : at + 30 + len(item.archive_root) + 13]
        assert header.startswith(b"PK\x03\x04")
        assert header.endswith((item.archive_root + "manifest.json").encode())


def test_extract_item_from_run_rebuilds_the_item_zip(s3, tmp_path):
    zips = {**small_items(), **large_items()}
    for item, data in zips.items():
        stage(s3, BUCKET, RUN, item, data)
    summary = finalize.assemble_run(s3, bucket=BUCKET, run_id=RUN, items=list(zips))
    manifest = extract.read_run_manifest(s3, BUCKET, RUN)
    target = repo("acme/repo-005")
    with pytest.raises(StorageError, match="restore"):
        extract.extract_item_from_run(s3, BUCKET, manifest, target.key, tmp_path / "x.zip")
    s3.restore_object(Bucket=BUCKET, Key=summary.archive_key, RestoreRequest={"Days": 1})
    for item, data in zips.items():
        out = extract.extract_item_from_run(s3, BUCKET, manifest.to_json(), item.key,
                                               tmp_path / f"{item.full_name.replace('/', '_')}.zip")  # fmt: skip
        rebuilt = out.read_bytes()
        with zipfile.ZipFile(io.BytesIO(rebuilt)) as zf:
            assert zf.testzip() is None
        assert entries_of(rebuilt) == entries_of(data)
        unzip_test(rebuilt, tmp_path)


def test_finalizing_twice_gives_the_same_archive(s3):
    zips = small_items()
    for item, data in zips.items():
        stage(s3, BUCKET, RUN, item, data)
    key = run_archive_key(RUN)
    stale = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    first = finalize.assemble_run(s3, bucket=BUCKET, run_id=RUN, items=list(zips),
                                    clock=FixedClock())  # fmt: skip
    head1 = s3.head_object(Bucket=BUCKET, Key=key)
    second = finalize.assemble_run(s3, bucket=BUCKET, run_id=RUN, items=list(zips),
                                     clock=FixedClock())  # fmt: skip
    head2 = s3.head_object(Bucket=BUCKET, Key=key)
    assert first.to_json() == second.to_json()
    assert head1["ETag"] == head2["ETag"] and head1["LastModified"] == head2["LastModified"]
    uploads = s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    assert stale not in [u["UploadId"] for u in uploads] and not uploads
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="runs/")["Contents"]
    assert sorted(o["Key"] for o in listed) == sorted([key, run_manifest_key(RUN)])


def test_rerun_after_a_crash_before_the_manifest_rebuilds_identical_bytes(s3):
    zips = {**small_items(), **large_items()}
    for item, data in zips.items():
        stage(s3, BUCKET, RUN, item, data)
    key = run_archive_key(RUN)
    finalize.assemble_run(s3, bucket=BUCKET, run_id=RUN, items=list(zips),
                            delete_staging_after=False)  # fmt: skip
    before = read_run_zip(s3, key)
    s3.delete_object(Bucket=BUCKET, Key=run_manifest_key(RUN))  # the "crash"
    finalize.assemble_run(s3, bucket=BUCKET, run_id=RUN, items=list(zips))
    assert read_run_zip(s3, key) == before


def test_staging_is_deleted_only_after_the_manifest_is_stored(s3):
    zips = small_items()
    for item, data in zips.items():
        stage(s3, BUCKET, RUN, item, data)
    s3.put_object(Bucket=BUCKET, Key=f"staging/{RUN}/items.json", Body=b"[]")
    original_put = s3.put_object
    calls = []

    def failing_put(**kwargs):
        calls.append(kwargs["Key"])
        raise ClientError({"Error": {"Code": "AccessDenied"}}, "PutObject")

    from botocore.exceptions import ClientError

    s3.put_object = failing_put
    with pytest.raises(StorageError, match="AccessDenied"):
        finalize.assemble_run(s3, bucket=BUCKET, run_id=RUN, items=list(zips))
    s3.put_object = original_put
    assert calls == [run_manifest_key(RUN)]
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=f"staging/{RUN}/")["KeyCount"] == 7
    finalize.assemble_run(s3, bucket=BUCKET, run_id=RUN, items=list(zips))
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=f"staging/{RUN}/")["KeyCount"] == 0


def test_delete_staging_batches_1000_keys_per_call(s3):
    for n in range(1001):
        s3.put_object(Bucket=BUCKET, Key=f"staging/{RUN}/items/x/{n}", Body=b"")
    s3.put_object(Bucket=BUCKET, Key="staging/other-run/keep", Body=b"")
    batches = []
    s3.meta.events.register(
        "before-call.s3.DeleteObjects",
        lambda params, **_: batches.append(params["body"].count(b"<Key>")),
    )
    assert s3io.delete_prefix(s3, BUCKET, staging_prefix(RUN)) == 1001
    assert batches == [1000, 1]
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="staging/")["KeyCount"] == 1


def test_zip_whose_size_differs_from_its_result_is_failed(s3):
    good, bad = repo("acme/good"), repo("acme/bad")
    stage(s3, BUCKET, RUN, good, item_zip(good, []))
    data = item_zip(bad, [])
    stage(s3, BUCKET, RUN, bad, data, claimed_bytes=len(data) + 1)
    summary = finalize.assemble_run(s3, bucket=BUCKET, run_id=RUN, items=[good, bad])
    assert summary.status == "PARTIAL"
    assert summary.failed[0].item_key == bad.key
    assert summary.failed[0].error_type == "ArchiveCorrupt"
    assert "result record says" in summary.failed[0].error


def test_zip_with_entries_outside_its_folder_is_failed(s3):
    good, bad = repo("acme/good"), repo("acme/bad")
    stage(s3, BUCKET, RUN, good, item_zip(good, []))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("acme/good/manifest.json", b"{}")  # would collide with acme/good
        zf.writestr("acme/bad/manifest.json", b"{}")
    stage(s3, BUCKET, RUN, bad, buf.getvalue())
    summary = finalize.assemble_run(s3, bucket=BUCKET, run_id=RUN, items=[good, bad])
    assert [f.item_key for f in summary.failed] == [bad.key]
    assert "outside acme/bad/" in summary.failed[0].error


def test_item_listed_twice_fails_loudly(s3):
    item = repo("acme/twice")
    stage(s3, BUCKET, RUN, item, item_zip(item, []))
    with pytest.raises(ArchiveCorrupt, match="listed twice"):
        finalize.assemble_run(s3, bucket=BUCKET, run_id=RUN, items=[item, item])


def test_garbage_item_zip_is_failed_not_fatal(s3):
    good, bad = repo("acme/good"), repo("acme/garbage")
    stage(s3, BUCKET, RUN, good, item_zip(good, []))
    stage(s3, BUCKET, RUN, bad, b"this is not a zip at all" * 10)
    summary = finalize.assemble_run(s3, bucket=BUCKET, run_id=RUN, items=[good, bad])
    assert [f.to_json() for f in summary.failed] == [{"item_key": bad.key, "error_type": "ArchiveCorrupt",
                               "error": "not a zip: no end of central directory record"}]  # fmt: skip


def test_empty_account_succeeds_without_a_run_zip(s3):
    summary = finalize.assemble_run(s3, bucket=BUCKET, run_id=RUN, items=[])
    assert summary.status == "SUCCEEDED" and summary.counts.total == 0
    assert summary.archive_key is None and summary.bytes == 0
    assert extract.read_run_manifest(s3, BUCKET, RUN).items == []
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="runs/")["KeyCount"] == 1


def test_run_where_every_item_failed_is_failed_and_has_no_zip(s3):
    a, b = repo("acme/a"), repo("acme/b")
    stage(s3, BUCKET, RUN, a, None, error=("NotFound", "repository acme/a not found"))
    summary = finalize.assemble_run(s3, bucket=BUCKET, run_id=RUN, items=[a, b])
    assert summary.status == "FAILED" and summary.counts.to_json() == {
        "total": 2,
        "succeeded": 0,
        "failed": 2,
    }
    assert summary.archive_key is None
    assert not s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads")
    again = finalize.assemble_run(s3, bucket=BUCKET, run_id=RUN, items=[a, b])
    assert again.to_json() == summary.to_json()


def test_a_zip_an_earlier_attempt_left_beside_a_failed_result_is_not_archived(s3):
    """A batch rerun overwrites an item's result; the zip of an attempt before a failure
    stays in staging (the task cannot delete) and must not count as the item's capture."""
    (good, good_zip), (stale, stale_zip) = list(small_items().items())[:2]
    stage(s3, BUCKET, RUN, good, good_zip)
    s3.put_object(Bucket=BUCKET, Key=item_zip_key(staging_prefix(RUN), stale), Body=stale_zip)
    stage(s3, BUCKET, RUN, stale, None, error=("GitCommandFailed", "git clone failed"))
    summary = finalize.assemble_run(s3, bucket=BUCKET, run_id=RUN, items=[good, stale])
    assert summary.counts.to_json() == {"total": 2, "succeeded": 1, "failed": 1}
    assert [f.item_key for f in summary.failed] == [stale.key]
    assert entries_of(read_run_zip(s3, summary.archive_key)) == entries_of(good_zip)
    assert not s3.list_objects_v2(Bucket=BUCKET, Prefix=staging_prefix(RUN)).get("Contents")


def test_summary_json_has_what_notify_publishes(s3):
    item, data = next(iter(small_items().items()))
    stage(s3, BUCKET, RUN, item, data)
    summary = finalize.assemble_run(s3, bucket=BUCKET, run_id=RUN, items=[item],
                                      started_at="2024-05-01T11:59:00Z", clock=FixedClock())  # fmt: skip
    data = json.loads(json.dumps(summary.to_json()))
    assert data["duration_seconds"] == 61.0
    assert set(data) == {"status", "run_id", "counts", "bytes", "duration_seconds",
                         "archive_key", "manifest_key", "failed", "skipped_parts"}  # fmt: skip


def test_more_than_65535_entries_use_zip64_end_records(s3, tmp_path):
    a, b = repo("acme/many-a"), repo("acme/many-b")
    zips = {
        it: item_zip(it, [(f"issues/{n}.json", b"{}", STORED, False) for n in range(33_000)])
        for it in (a, b)
    }
    for item, data in zips.items():
        stage(s3, BUCKET, RUN, item, data)
    summary = finalize.assemble_run(s3, bucket=BUCKET, run_id=RUN, items=[a, b])
    run_zip = read_run_zip(s3, summary.archive_key)
    end = zipformat.find_end_record(run_zip[-200:], len(run_zip) - 200)
    assert end.zip64_eocd_offset is not None and end.entries == 0xFFFF
    with zipfile.ZipFile(io.BytesIO(run_zip)) as zf:
        assert len(zf.infolist()) == 66_002
        assert zf.testzip() is None
    unzip_test(run_zip, tmp_path)
    assert zlib.crc32(b"{}") == zipfile.ZipFile(io.BytesIO(run_zip)).getinfo(
        "acme/many-b/issues/7.json").CRC  # fmt: skip


class RecordingS3:
    """Just enough of an S3 client to watch which parts the run zip writer issues."""

    def __init__(self) -> None:
        self.copies: list[tuple[int, str]] = []
        self.uploads: list[tuple[int, int]] = []

    def upload_part_copy(self, **kw):
        self.copies.append((kw["PartNumber"], kw["CopySourceRange"]))
        return {"CopyPartResult": {"ETag": f'"c{kw["PartNumber"]}"'}}

    def upload_part(self, **kw):
        self.uploads.append((kw["PartNumber"], len(kw["Body"])))
        return {"ETag": f'"u{kw["PartNumber"]}"'}


def fake_item_zip(key: str, length: int, region: bytes | None = None):
    return runzip.ItemZip(key, length + 100, '"e"', 0, length, [], region)


def copied_ranges(s3: RecordingS3) -> list[tuple[int, int]]:
    ranges = [r for _, r in sorted(s3.copies)]
    return [tuple(int(x) for x in r.removeprefix("bytes=").split("-")) for r in ranges]


def test_regions_over_5_gib_are_copied_in_parts_of_at_most_5_gib():
    s3 = RecordingS3()
    writer = runzip.RunZipWriter(s3, BUCKET, "run.zip", "u1", workers=2)
    gib = 1 << 30
    writer.add("repository/acme/huge", fake_item_zip("huge.zip", 11 * gib))
    writer.close()
    bounds = copied_ranges(s3)
    assert len(bounds) == 3 and bounds[0][0] == 0 and bounds[-1][1] == 11 * gib - 1
    assert all(b[1] - b[0] + 1 <= 5 * gib for b in bounds)
    assert all(nxt[0] == prev[1] + 1 for prev, nxt in zip(bounds, bounds[1:], strict=False))


def test_large_regions_are_spread_over_copies_of_the_chosen_size_never_under_5_mib():
    s3 = RecordingS3()
    writer = runzip.RunZipWriter(s3, BUCKET, "run.zip", "u1", workers=2, copy_part=16 * MIB)
    writer.add("big", fake_item_zip("big.zip", 51 * MIB))
    writer.add("six", fake_item_zip("six.zip", 6 * MIB))  # 2 pieces would be under 5 MiB
    writer.close()
    bounds = copied_ranges(s3)
    big, six = bounds[:4], bounds[4:]
    assert [b - a + 1 for a, b in big] == [51 * MIB // 4] * 4
    assert big[0][0] == 0 and big[-1][1] == 51 * MIB - 1
    assert all(nxt[0] == prev[1] + 1 for prev, nxt in zip(big, big[1:], strict=False))
    assert six == [(0, 6 * MIB - 1)]


def test_copy_part_size_spreads_the_copied_bytes_over_twice_the_copies_in_flight():
    def results(*sizes: int) -> list[ItemResult]:
        return [ItemResult(item=BackupItem(kind="repository", full_name=f"a/r{n}"),
                           status="succeeded", run_id=RUN, zip_key=f"k{n}", zip_bytes=size)
                for n, size in enumerate(sizes)]  # fmt: skip

    size = runzip.copy_part_size
    assert size(results(*[51 * MIB] * 40, 1000), workers=32) == math.ceil(40 * 51 * MIB / 64)
    assert size(results(2 * MIB, 6 * MIB), workers=32) == runzip.COPY_PART_MIN
    assert size(results(500 * 1024**3), workers=32) == 5 * 1024**3  # S3's largest part


def test_a_short_buffer_waiting_behind_copy_parts_becomes_the_last_part():
    s3 = RecordingS3()
    writer = runzip.RunZipWriter(s3, BUCKET, "run.zip", "u1", workers=2)
    writer.add("a", fake_item_zip("a.zip", 1000, b"a" * 1000))
    writer.add("b", fake_item_zip("b.zip", 6 * MIB))
    writer.add("c", fake_item_zip("c.zip", 2000, b"c" * 2000))
    placements, starts, cd_offset = writer.finish()
    writer.upload_tail(b"CD")
    writer.close()
    assert [c[0] for c in s3.copies] == [1]
    assert s3.uploads == [(2, 3002)]
    assert [(p.item_key, starts[p.part_number] + p.offset_in_part) for p in placements] == [
        ("b", 0),
        ("a", 6 * MIB),
        ("c", 6 * MIB + 1000),
    ]
    assert cd_offset == 6 * MIB + 3000
    assert all(p.zip.region is None for p in placements)  # bytes held once, in the buffer


def test_more_than_10000_parts_is_a_clear_storage_error():
    s3 = RecordingS3()
    writer = runzip.RunZipWriter(s3, BUCKET, "run.zip", "u1", workers=2)
    with pytest.raises(StorageError, match="10000 S3 parts"):
        for n in range(10_001):
            writer.add(f"i{n}", fake_item_zip(f"{n}.zip", 5 * MIB))
    writer.close()


def test_reads_ahead_in_order_with_a_bounded_number_in_flight():
    ahead = 4
    # The first `ahead` calls only return once all of them are running: a sequential map
    # would break the barrier (its timeout) instead of passing.
    first_batch = threading.Barrier(ahead, timeout=10)
    in_flight, most = 0, 0
    lock = threading.Lock()

    def square(n: int) -> int:
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        if n < ahead:
            first_batch.wait()
        with lock:
            in_flight -= 1
        return n * n

    with ThreadPoolExecutor(max_workers=16) as pool:
        got = list(runzip.in_order(pool, square, range(40), ahead=ahead))
    assert got == [n * n for n in range(40)]
    assert most == ahead


def test_a_consumer_that_stops_early_cancels_the_reads_still_queued():
    started: list[int] = []
    release = threading.Event()

    def read(n: int) -> int:
        started.append(n)
        if n:
            release.wait(timeout=10)  # read 1 is still running when the consumer stops
        return n

    with ThreadPoolExecutor(max_workers=1) as pool:
        reads = runzip.in_order(pool, read, range(10), ahead=4)
        assert next(reads) == 0
        reads.close()  # what `closing` does when Finalize stops on an error
        release.set()
    assert started in ([0], [0, 1])  # reads 2 and 3 were queued and never ran


def test_read_ahead_raises_the_first_unexpected_error_in_order():
    def boom(n: int) -> int:
        if n == 3:
            raise RuntimeError("three")
        return n

    with ThreadPoolExecutor(max_workers=4) as pool:
        seen = []
        with pytest.raises(RuntimeError, match="three"):
            for value in runzip.in_order(pool, boom, range(10), ahead=4):
                seen.append(value)
    assert seen == [0, 1, 2]


@pytest.mark.parametrize(
    "line,message",
    [
        (
            {"item_key": "repository/acme/repo.git", "item": {"kind": "repository",
             "full_name": "acme/repo.git"}, "status": "succeeded"},
            "no '.git' suffix",
        ),
        (
            {"item_key": "repository/acme/other", "item": {"kind": "repository",
             "full_name": "acme/widget"}, "status": "succeeded"},
            "is repository/acme/widget",
        ),
    ],
)  # fmt: skip
def test_a_run_manifest_line_must_name_a_valid_item_by_its_key(line, message):
    with pytest.raises(ArchiveCorrupt, match=message):
        RunItem.from_json(line)
    good = {**line, "item": {"kind": "repository", "full_name": "acme/widget"}}
    good["item_key"] = "repository/acme/widget"
    assert RunItem.from_json(good).item_key == "repository/acme/widget"


def test_object_lock_retains_the_run_archive_and_manifest_but_never_staging(s3, kms_key):
    """With Object Lock on the bucket, Finalize locks each runs/ object itself; the bucket has
    no default retention, so the staged items it deletes afterwards stay unlocked."""
    locked_bucket = "locked-backups"
    s3.create_bucket(Bucket=locked_bucket, ObjectLockEnabledForBucket=True)
    zips = small_items()
    for item, data in zips.items():
        stage(s3, locked_bucket, RUN, item, data)
    # moto drops Object Lock parameters of multipart uploads: check what the archive asks for.
    archive_uploads: list[dict] = []
    s3.meta.events.register(
        "provide-client-params.s3.CreateMultipartUpload",
        lambda params, **_: archive_uploads.append(dict(params)),
    )

    summary = finalize.assemble_run(
        s3, bucket=locked_bucket, run_id=RUN, items=list(zips), kms_key_id=kms_key,
        clock=FixedClock(), delete_staging_after=False,
        object_lock_mode="GOVERNANCE", object_lock_days=30,
    )  # fmt: skip

    expected_until = datetime(2024, 5, 1, 12, 0, 2, tzinfo=UTC) + timedelta(days=30)
    [archive_upload] = archive_uploads
    assert archive_upload["Key"] == summary.archive_key
    assert archive_upload["ObjectLockMode"] == "GOVERNANCE"
    assert archive_upload["ObjectLockRetainUntilDate"] == expected_until
    manifest = s3.head_object(Bucket=locked_bucket, Key=run_manifest_key(RUN))
    assert manifest["ObjectLockMode"] == "GOVERNANCE"
    assert manifest["ObjectLockRetainUntilDate"] == expected_until
    staged = s3.head_object(
        Bucket=locked_bucket, Key=item_zip_key(staging_prefix(RUN), next(iter(zips)))
    )
    assert "ObjectLockMode" not in staged


def test_object_lock_without_days_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="object lock"):
        s3io.object_lock("COMPLIANCE", 0, datetime(2024, 5, 1, tzinfo=UTC))


def test_without_a_key_the_run_archive_gets_the_buckets_default_encryption(s3):
    """cost_profile minimal: the bucket defaults to SSE-S3 and its policy refuses uploads that
    ask for another algorithm, so Finalize names none."""
    s3.put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    zips = small_items()
    for item, data in zips.items():
        stage(s3, BUCKET, RUN, item, data)
    sent: list[dict] = []
    for operation in ("CreateMultipartUpload", "PutObject"):
        s3.meta.events.register(
            f"provide-client-params.s3.{operation}", lambda params, **_: sent.append(dict(params))
        )

    summary = finalize.assemble_run(s3, bucket=BUCKET, run_id=RUN, items=list(zips))

    assert [p["Key"] for p in sent] == [summary.archive_key, run_manifest_key(RUN)]
    assert all("ServerSideEncryption" not in p and "SSEKMSKeyId" not in p for p in sent)
    manifest = s3.head_object(Bucket=BUCKET, Key=run_manifest_key(RUN))
    assert manifest["ServerSideEncryption"] == "AES256"


EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:ghbackup:" + RUN
OTHER_EXECUTION = EXECUTION.replace(":ghbackup:", ":ghbackup-other:")


def test_finalize_is_idempotent_for_its_own_execution(s3):
    zips = small_items()
    for item, data in zips.items():
        stage(s3, BUCKET, RUN, item, data)
    first = finalize.assemble_run(s3, bucket=BUCKET, run_id=RUN, items=list(zips),
                                    execution=EXECUTION, delete_staging_after=False)  # fmt: skip
    s3.delete_object(Bucket=BUCKET, Key=run_manifest_key(RUN))  # a crash
    again = finalize.assemble_run(s3, bucket=BUCKET, run_id=RUN, items=list(zips),
                                    execution=EXECUTION)  # fmt: skip
    assert again.counts == first.counts
    manifest = extract.read_run_manifest(s3, BUCKET, RUN)
    assert manifest.execution == EXECUTION
    head = s3.head_object(Bucket=BUCKET, Key=run_archive_key(RUN))
    assert head["Metadata"]["execution"] == EXECUTION


def test_finalize_of_another_execution_never_replaces_a_finished_run(s3):
    zips = small_items()
    for item, data in zips.items():
        stage(s3, BUCKET, RUN, item, data)
    finalize.assemble_run(s3, bucket=BUCKET, run_id=RUN, items=list(zips),
                            execution=EXECUTION, delete_staging_after=False)  # fmt: skip
    key = run_archive_key(RUN)
    before = s3.head_object(Bucket=BUCKET, Key=key)["ETag"]
    manifest_before = s3.get_object(Bucket=BUCKET, Key=run_manifest_key(RUN))
    with pytest.raises(RunAlreadyExists, match=f"run {RUN} already exists"):
        finalize.assemble_run(s3, bucket=BUCKET, run_id=RUN, items=list(zips),
                                execution=OTHER_EXECUTION)  # fmt: skip
    # Without its manifest (the first execution crashed), the zip is still not replaced.
    s3.delete_object(Bucket=BUCKET, Key=run_manifest_key(RUN))
    with pytest.raises(RunAlreadyExists, match=EXECUTION):
        finalize.assemble_run(s3, bucket=BUCKET, run_id=RUN, items=list(zips),
                                execution=OTHER_EXECUTION)  # fmt: skip
    assert s3.head_object(Bucket=BUCKET, Key=key)["ETag"] == before
    assert manifest_before["ETag"]
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=f"staging/{RUN}/")["KeyCount"] > 0


def test_a_manifest_written_meanwhile_by_another_execution_is_not_overwritten(s3):
    zips = small_items()
    for item, data in zips.items():
        stage(s3, BUCKET, RUN, item, data)
    original_put = s3.put_object

    def put_racing_another_execution(**kwargs):
        if kwargs["Key"] == run_manifest_key(RUN):
            original_put(Bucket=BUCKET, Key=kwargs["Key"], Body=b'{"execution": "other"}')
        return original_put(**kwargs)

    s3.put_object = put_racing_another_execution
    with pytest.raises(RunAlreadyExists):
        finalize.assemble_run(s3, bucket=BUCKET, run_id=RUN, items=list(zips),
                                execution=EXECUTION)  # fmt: skip
    body = s3.get_object(Bucket=BUCKET, Key=run_manifest_key(RUN))["Body"].read()
    assert json.loads(body) == {"execution": "other"}
