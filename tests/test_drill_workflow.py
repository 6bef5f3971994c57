"""The restore drill's state machine (workflow/drill.asl.json) end to end on the local AWS:
MockConfigFile cases (tests/workflow/drill_mock_config.json) for the paths that take S3
hours, and real drills (plan, restore check, a container.drill process, report) over run
archives built from real git repositories, one of them damaged after the fact."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from cli import main as cli
from ghbackup.records import DrillItemResult, DrillResults, drill_results_key
from tests.drill_runs import build_local_run
from workflow.emulation import EMULATION
from workflow.local_drill import run_local_drill

pytestmark = pytest.mark.integration

MOCK_CONFIG = Path(__file__).parent / "workflow" / "drill_mock_config.json"


def _results(drill_id: str, *failed: tuple[str, str, str]) -> dict[str, bytes]:
    """The drill task's results.json as the mocked task would have stored it."""
    bad = {key: (check, error) for key, check, error in failed}
    items = [
        DrillItemResult(item_key=key, status="passed", bytes_read=1000)
        if key not in bad
        else DrillItemResult(item_key=key, status="failed", check=bad[key][0], error=bad[key][1])
        for key in ("repository/acme/api", "repository/acme/web")
    ]
    results = DrillResults(
        drill_id=drill_id, run_id="run-mock", started_at="2026-12-01T16:00:05Z",
        first_byte_at="2026-12-01T16:00:06Z",
        restored_at=None if failed else "2026-12-01T16:01:00Z",
        finished_at="2026-12-01T16:01:00Z", bytes_read=2000, items=items,
    )  # fmt: skip
    return {drill_results_key(drill_id): results.to_bytes()}


def test_drill_waits_while_the_restore_is_in_progress_then_proves_the_run(tmp_path):
    before = len(EMULATION.retry_delays())
    outcome = run_local_drill(
        {}, out_dir=tmp_path, drill_id="mock-drill", mock_config=MOCK_CONFIG,
        test_case="RestoreInProgressThenDone", staged_objects=_results("mock-drill"),
        retry_delay_scale=0.0,
    )  # fmt: skip
    assert outcome.status == "SUCCEEDED", (outcome.error, outcome.cause)
    # Three looks while S3 restores, each after the Retry's half hour, then the task.
    assert EMULATION.retry_delays()[before:] == [1800, 1800, 1800]
    assert outcome.path.count("Check that the run zip is readable") == 1
    assert outcome.path[-1] == "The run is proven restorable"
    report = outcome.report
    assert report is not None and report.status == "SUCCEEDED"
    assert (report.run_id, report.restore, report.restore_tier) == ("run-mock", "requested", "Bulk")
    assert [item.status for item in report.items] == ["passed", "passed"]
    assert report.bytes_read == 2000
    assert outcome.notification is not None
    assert outcome.notification.attributes == {
        "status": "SUCCEEDED", "kind": "drill", "drill_id": "mock-drill"
    }  # fmt: skip


def test_a_damaged_item_fails_the_drill_naming_the_item_and_the_check(tmp_path):
    damage = ("repository/acme/web", "verify", "acme/web/repository.bundle: git fetch failed")
    outcome = run_local_drill(
        {}, out_dir=tmp_path, drill_id="mock-drill", mock_config=MOCK_CONFIG,
        test_case="DamagedItemFailsTheDrill", staged_objects=_results("mock-drill", damage),
        retry_delay_scale=0.0,
    )  # fmt: skip
    assert outcome.status == "FAILED"
    assert outcome.error == "DrillFailed"
    assert outcome.report is not None and outcome.report.status == "FAILED"
    assert outcome.notification is not None
    assert outcome.notification.attributes["status"] == "FAILED"
    assert "repository/acme/web: verify: acme/web/repository.bundle" in (
        outcome.notification.message or ""
    )
    assert "FAILED, 1/2 items" in (outcome.notification.subject or "")


def test_a_run_zip_that_was_deleted_fails_the_drill_naming_it(tmp_path):
    run = build_local_run(tmp_path / "runs", "run-gone", ["acme/api"])
    (run / "ghbackup-run-gone.zip").unlink()
    outcome = run_local_drill(
        {"run": "run-gone"}, out_dir=tmp_path / "runs", drill_id="drill-gone",
        mock_config=MOCK_CONFIG, test_case="RunZipDeleted", retry_delay_scale=0.0,
    )  # fmt: skip
    assert outcome.status == "FAILED"
    assert "Note that the drill has no plan" in outcome.path
    assert "Restore the sampled items in a container" not in outcome.path
    report = outcome.report
    assert report is not None and report.error_type == "UnknownRun"
    assert "runs/run-gone/ghbackup-run-gone.zip does not exist" in (report.error or "")
    assert "ghbackup-run-gone.zip does not exist" in (outcome.notification.message or "")


def test_real_drill_restores_the_sample_and_leaves_only_the_report(tmp_path):
    runs = tmp_path / "runs"
    build_local_run(runs, "run-good", ["acme/api", "acme/web", "acme/docs"], large="acme/web")
    outcome = run_local_drill(
        {"run": "newest", "items": 2}, out_dir=runs, drill_id="drill-good", retry_delay_scale=0.0
    )
    assert outcome.status == "SUCCEEDED", (outcome.error, outcome.cause)
    report = outcome.report
    assert report is not None and report.run_id == "run-good"
    assert report.storage_class == "GLACIER" and report.restore == "requested"
    assert [item.item_key for item in report.items][0] == "repository/acme/web"  # the largest
    assert len(report.items) == 2 and all(item.status == "passed" for item in report.items)
    assert all(item.refs > 0 and item.files > 0 for item in report.items)
    assert report.bytes_read > 0 and report.time_to_restored_seconds is not None
    stored = json.loads(outcome.report_path.read_text())
    assert stored["status"] == "SUCCEEDED"


def test_a_bundle_damaged_in_the_stored_run_zip_is_caught_by_the_drill(tmp_path, capsys):
    runs = tmp_path / "runs"
    build_local_run(runs, "run-bad", ["acme/api", "acme/web"], damaged="acme/web")
    argv = ["drill", "--local", "--out", str(runs), "--run", "run-bad", "--items", "2",
            "--drill-id", "drill-bad", "--json"]  # fmt: skip
    assert cli.main(argv) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "FAILED"
    by_key = {item["item_key"]: item for item in report["items"]}
    assert by_key["repository/acme/api"]["status"] == "passed"
    damaged = by_key["repository/acme/web"]
    # Every checksum agrees (the zip's, the entry's CRC and SHA-256): git finds the damage.
    assert damaged["status"] == "failed" and damaged["check"] == "verify"
    assert "acme/web/repository.bundle" in damaged["error"]
    assert (runs / "drills" / "drill-bad" / "report.json").is_file()


def test_real_drill_looks_again_while_s3_restores_then_restores_the_sample(tmp_path):
    """No mock: the check Lambda sees S3's ongoing-request="true" until restores are
    released, and the state machine's Retry looks again (its half hour scaled down)."""
    runs = tmp_path / "runs"
    build_local_run(runs, "run-slow", ["acme/api"])
    before = len(EMULATION.retry_delays())
    done = threading.Event()

    def release_after_two_looks() -> None:
        while not done.is_set():
            if EMULATION.retry_delays()[before:].count(1800) >= 2:
                EMULATION.hold_restores(False)
                return
            time.sleep(0.05)

    EMULATION.hold_restores(True)
    watcher = threading.Thread(target=release_after_two_looks, daemon=True)
    watcher.start()
    try:
        outcome = run_local_drill(
            {"run": "run-slow"}, out_dir=runs, drill_id="drill-slow", retry_delay_scale=0.0005
        )
    finally:
        done.set()
        EMULATION.hold_restores(False)
    assert outcome.status == "SUCCEEDED", (outcome.error, outcome.cause)
    assert EMULATION.retry_delays()[before:].count(1800) >= 2
    assert outcome.report is not None and outcome.report.restore == "requested"
    assert [item.status for item in outcome.report.items] == ["passed"]
