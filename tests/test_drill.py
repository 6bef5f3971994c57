"""The restore drill's core (ghbackup/drill.py): choosing the run and the sample, the
restore request, the readable check and the report, on an in-process moto S3."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from container import drill as drill_container
from ghbackup import drill
from ghbackup.errors import InvalidInput, RestoreInProgress, UnknownRun
from ghbackup.records import (
    DrillItemResult,
    DrillRequest,
    DrillResults,
    RunManifest,
    drill_report_key,
    drill_results_key,
    run_archive_key,
    run_manifest_key,
)
from workflow import moto_fixes
from workflow.emulation import EMULATION

BUCKET = "backups"
NOW = datetime(2026, 12, 8, 10, 0, 0, tzinfo=UTC)


def _manifest(run_id: str, started_at: str, sizes: dict[str, int]) -> RunManifest:
    items = [
        {"item": {"kind": "repository", "full_name": name}, "status": "succeeded",
         "run_id": run_id, "zip_bytes": size, "offset": 100 * index, "length": size,
         "central_directory_offset": 0, "central_directory_length": 10, "entries": 1}
        for index, (name, size) in enumerate(sizes.items())
    ]  # fmt: skip
    items.append({"item": {"kind": "repository", "full_name": "acme/broken"},
                  "status": "failed", "run_id": run_id, "error_type": "NotFound"})  # fmt: skip
    archive = {"key": run_archive_key(run_id), "bytes": 1000, "storage_class": "GLACIER",
               "entries": 1, "central_directory_offset": 0, "central_directory_length": 0}  # fmt: skip
    return RunManifest.from_json({
        "run_id": run_id, "status": "PARTIAL", "started_at": started_at,
        "finished_at": started_at, "counts": {"total": len(items)}, "bytes": 1000,
        "archive": archive, "items": items,
    })  # fmt: skip


@pytest.fixture
def s3(monkeypatch):
    moto_fixes.apply_all()  # S3's restore in progress, while the emulation holds restores
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def _store(s3, manifest: RunManifest, *, storage_class: str = "GLACIER") -> None:
    s3.put_object(Bucket=BUCKET, Key=run_manifest_key(manifest.run_id),
                  Body=json.dumps(manifest.to_json()).encode())  # fmt: skip
    s3.put_object(Bucket=BUCKET, Key=run_archive_key(manifest.run_id), Body=b"zip" * 100,
                  StorageClass=storage_class)  # fmt: skip


SIZES = {f"acme/r{index}": 10 + index for index in range(12)} | {"acme/huge": 10_000}


def test_sample_always_holds_the_largest_item_and_only_succeeded_ones():
    manifest = _manifest("run-1", "2026-11-01T10:00:00Z", SIZES)
    for seed in range(5):
        sample = drill.sample_items(manifest, 5, random.Random(seed))
        assert sample[0] == "repository/acme/huge"
        assert len(set(sample)) == 5 and "repository/acme/broken" not in sample


def test_sample_of_more_items_than_the_run_has_takes_them_all():
    manifest = _manifest("run-1", "2026-11-01T10:00:00Z", {"acme/a": 1, "acme/b": 2})
    assert drill.sample_items(manifest, 5, random.Random(0)) == [
        "repository/acme/b", "repository/acme/a"
    ]  # fmt: skip


def test_default_run_is_one_older_than_a_week_else_the_newest(s3):
    _store(s3, _manifest("run-20261101", "2026-11-01T10:00:00Z", SIZES))
    _store(s3, _manifest("run-20261205", "2026-12-05T10:00:00Z", SIZES))
    chosen = drill.choose_run(s3, BUCKET, DrillRequest(), now=NOW, rng=random.Random(1))
    assert chosen.run_id == "run-20261101"
    newest = drill.choose_run(s3, BUCKET, DrillRequest(run="newest"), now=NOW,
                              rng=random.Random(1))  # fmt: skip
    assert newest.run_id == "run-20261205"
    young = DrillRequest(min_age_days=100)
    assert drill.choose_run(s3, BUCKET, young, now=NOW, rng=random.Random(1)).run_id == (
        "run-20261205"
    )


def test_a_damaged_run_manifest_does_not_stop_the_drill_choosing_another_run(s3):
    _store(s3, _manifest("run-20261101", "2026-11-01T10:00:00Z", SIZES))
    _store(s3, _manifest("run-20261201", "2026-12-01T10:00:00Z", SIZES))
    s3.put_object(Bucket=BUCKET, Key=run_manifest_key("run-20261201"), Body=b"{not json")
    chosen = drill.choose_run(s3, BUCKET, DrillRequest(run="newest"), now=NOW, rng=random.Random(1))
    assert chosen.run_id == "run-20261101"


def test_an_empty_bucket_has_no_run_to_drill(s3):
    with pytest.raises(UnknownRun, match="no run with a run zip"):
        drill.choose_run(s3, BUCKET, DrillRequest(), now=NOW, rng=random.Random(0))


def test_plan_asks_for_one_bulk_restore_for_one_day_and_never_a_second(s3):
    _store(s3, _manifest("run-1", "2026-11-01T10:00:00Z", SIZES))
    EMULATION.hold_restores(True)
    try:
        plan = drill.plan_drill(s3, BUCKET, "d1", DrillRequest(run="run-1"), clock=lambda: NOW,
                                rng=random.Random(0))  # fmt: skip
        assert (plan.restore, plan.tier, plan.days) == ("requested", "Bulk", 1)
        assert plan.wait_seconds == 5 * 3600  # Bulk from GLACIER takes 5 hours at least
        head = s3.head_object(Bucket=BUCKET, Key=plan.archive_key)
        assert 'ongoing-request="true"' in head["Restore"]
        again = drill.plan_drill(s3, BUCKET, "d2", DrillRequest(run="run-1"), clock=lambda: NOW)
        assert again.restore == "in progress"
        with pytest.raises(RestoreInProgress):
            drill.check_readable(s3, BUCKET, plan)
    finally:
        EMULATION.hold_restores(False)
    assert drill.check_readable(s3, BUCKET, plan, clock=lambda: NOW) == "2026-12-08T10:00:00Z"


def test_a_standard_class_run_zip_needs_no_restore(s3):
    _store(s3, _manifest("run-1", "2026-11-01T10:00:00Z", SIZES), storage_class="STANDARD")
    plan = drill.plan_drill(s3, BUCKET, "d1", DrillRequest(), clock=lambda: NOW)
    assert (plan.restore, plan.wait_seconds) == ("not needed", 0)


def test_a_missing_run_zip_is_named(s3):
    _store(s3, _manifest("run-1", "2026-11-01T10:00:00Z", SIZES))
    s3.delete_object(Bucket=BUCKET, Key=run_archive_key("run-1"))
    with pytest.raises(UnknownRun, match="runs/run-1/ghbackup-run-1.zip does not exist"):
        drill.plan_drill(s3, BUCKET, "d1", DrillRequest(run="run-1"))


def test_a_bad_input_is_invalid_input_naming_the_field():
    with pytest.raises(InvalidInput, match="items"):
        drill.parse_request({"items": 0})
    with pytest.raises(InvalidInput, match="tier"):
        drill.parse_request({"tier": "Fast"})
    with pytest.raises(InvalidInput, match="item"):
        drill.parse_request({"item": 3})


def test_report_keeps_only_the_report_and_names_each_failed_item(s3):
    _store(s3, _manifest("run-1", "2026-11-01T10:00:00Z", SIZES), storage_class="STANDARD")
    plan = drill.plan_drill(s3, BUCKET, "d1", DrillRequest(items=2), clock=lambda: NOW,
                            rng=random.Random(0))  # fmt: skip
    results = DrillResults(
        drill_id="d1", run_id="run-1", started_at="2026-12-08T10:00:01Z",
        first_byte_at="2026-12-08T10:00:02Z", finished_at="2026-12-08T10:01:00Z",
        bytes_read=10, items=[DrillItemResult(item_key=plan.items[0], status="failed",
                                              check="refs", error="acme/huge.git: missing x")],
    )  # fmt: skip
    s3.put_object(Bucket=BUCKET, Key=drill_results_key("d1"), Body=results.to_bytes())
    report = drill.report_drill(s3, BUCKET, "d1", started_at="2026-12-08T10:00:00Z", plan=plan,
                                clock=lambda: NOW)  # fmt: skip
    assert report.status == "FAILED"
    # The item the task never reached is a failure too, not a silent pass.
    assert [(i.item_key, i.check) for i in report.items] == [
        (plan.items[0], "refs"), (plan.items[1], "read")
    ]  # fmt: skip
    assert report.time_to_first_byte_seconds == 2.0
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="drills/")["Contents"]]
    assert keys == [drill_report_key("d1")]
    message = drill.notification(report)
    assert message["status"] == "FAILED"
    assert "repository/acme/huge: refs: acme/huge.git: missing x" in message["message"]
    assert drill.last_proven(drill.list_reports(s3, BUCKET)) == {}


def test_last_proven_is_the_newest_succeeded_drill_per_run(s3):
    for drill_id, run_id, status, finished in (
        ("d1", "run-1", "SUCCEEDED", "2026-10-01T00:00:00Z"),
        ("d2", "run-1", "SUCCEEDED", "2026-11-01T00:00:00Z"),
        ("d3", "run-2", "FAILED", "2026-11-02T00:00:00Z"),
    ):
        body = {"drill_id": drill_id, "run_id": run_id, "status": status,
                "started_at": finished, "finished_at": finished}  # fmt: skip
        s3.put_object(Bucket=BUCKET, Key=drill_report_key(drill_id), Body=json.dumps(body))
    reports = drill.list_reports(s3, BUCKET)
    assert [r.drill_id for r in reports] == ["d3", "d2", "d1"]
    assert drill.last_proven(reports) == {"run-1": "2026-11-01T00:00:00Z"}


def test_an_error_before_the_plan_is_reported_with_the_lambda_message(s3):
    cause = json.dumps({"errorType": "UnknownRun", "errorMessage": "no run run-9 in s3://b"})
    report = drill.report_drill(s3, BUCKET, "d9", started_at="2026-12-08T10:00:00Z", plan=None,
                                error={"Error": "UnknownRun", "Cause": cause})  # fmt: skip
    assert (report.status, report.error_type, report.error) == (
        "FAILED", "UnknownRun", "no run run-9 in s3://b"
    )  # fmt: skip


def test_the_drill_task_drops_the_github_credentials_before_it_runs(monkeypatch):
    env = {"GITHUB_TOKEN": "ghp_secret", "GITHUB_APP_PRIVATE_KEY": "key", "DRILL_ID": "d"}
    assert drill_container.main(env) == 2  # missing environment: one line, exit 2
    assert "GITHUB_TOKEN" not in env and "GITHUB_APP_PRIVATE_KEY" not in env


def test_an_item_whose_drill_breaks_unexpectedly_fails_alone_and_is_reported(monkeypatch, tmp_path):
    """A git failure on the restored mirror or a full scratch disk fails that item's drill
    (check "restore"), not the whole drill: the other items are still drilled."""
    from ghbackup import drill_task
    from ghbackup.errors import GitCommandFailed

    manifest = _manifest("run-1", "2026-12-01T10:00:00Z", SIZES)
    drills = drill_task.ItemDrill(None, BUCKET, manifest, tmp_path, lambda: NOW)  # type: ignore[arg-type]
    failures = iter(
        [
            GitCommandFailed("git for-each-ref failed (exit 128)", "fatal: broken"),
            OSError(28, "full"),
        ]
    )

    def breaks(item_key, work, result):
        raise next(failures)

    monkeypatch.setattr(drills, "_drill", breaks)
    first, second = drills.run("repository/a"), drills.run("repository/b")
    assert (first.status, first.check) == ("failed", "restore")
    assert first.error.startswith("GitCommandFailed")
    assert (second.status, second.check, second.error) == (
        "failed",
        "restore",
        "OSError: [Errno 28] full",
    )
