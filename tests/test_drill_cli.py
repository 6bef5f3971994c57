"""``ghbackup drill`` and ``ghbackup drills`` against a deployed stack (moto in this
process), and the last proof per run in ``ghbackup runs``."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from cli import drill as drill_cli
from cli import main as cli
from ghbackup import drill
from ghbackup.records import drill_report_key, run_manifest_key
from tests.test_drill import _manifest

BUCKET = "ghbackup-backups"
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:ghbackup"


@pytest.fixture
def aws(monkeypatch, tmp_path):
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "GHBACKUP_DRILL_STATE_MACHINE_ARN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("GHBACKUP_BUCKET", BUCKET)
    monkeypatch.setenv("GHBACKUP_STATE_MACHINE_ARN", MACHINE)
    monkeypatch.setattr(drill_cli, "sleep", lambda seconds: None)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        yield s3


def _report(s3, drill_id: str, run_id: str, status: str, finished: str) -> None:
    body = {"drill_id": drill_id, "run_id": run_id, "status": status, "started_at": finished,
            "finished_at": finished, "items": [{"item_key": "repository/acme/a",
            "status": "passed" if status == "SUCCEEDED" else "failed", "check": None
            if status == "SUCCEEDED" else "verify", "error": None if status == "SUCCEEDED"
            else "acme/a/repository.bundle: git fsck failed"}]}  # fmt: skip
    s3.put_object(Bucket=BUCKET, Key=drill_report_key(drill_id), Body=json.dumps(body))


def test_drills_lists_reports_newest_first_with_what_failed(aws, capsys):
    _report(aws, "drill-1", "run-1", "SUCCEEDED", "2026-11-05T10:00:00Z")
    _report(aws, "drill-2", "run-2", "FAILED", "2026-12-05T10:00:00Z")
    assert cli.main(["drills", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["drill_id"], r["status"]) for r in listed] == [
        ("drill-2", "FAILED"), ("drill-1", "SUCCEEDED")
    ]  # fmt: skip
    assert cli.main(["drills"]) == 0
    table = capsys.readouterr().out
    assert "repository/acme/a: verify: acme/a/repository.bundle" in table.replace("\n", "")


def test_runs_shows_when_each_run_was_last_proven_restorable(aws, capsys):
    for run_id in ("run-1", "run-2"):
        manifest = _manifest(run_id, "2026-11-01T10:00:00Z", {"acme/a": 10})
        manifest.archive = None
        aws.put_object(Bucket=BUCKET, Key=run_manifest_key(run_id),
                       Body=json.dumps(manifest.to_json()))  # fmt: skip
    _report(aws, "drill-1", "run-1", "SUCCEEDED", "2026-11-05T10:00:00Z")
    _report(aws, "drill-2", "run-2", "FAILED", "2026-12-05T10:00:00Z")
    assert cli.main(["runs", "--json"]) == 0
    rows = {row["run_id"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["run-1"]["proven_at"] == "2026-11-05T10:00:00Z"
    assert rows["run-2"]["proven_at"] is None  # a failed drill proves nothing


def test_drill_starts_the_drill_machine_with_the_given_input(aws, capsys):
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    role = "arn:aws:iam::123456789012:role/sfn"
    definition = json.dumps({"StartAt": "x", "States": {"x": {"Type": "Succeed"}}})
    drill_arn = sfn.create_state_machine(name="ghbackup-drill", definition=definition,
                                         roleArn=role)["stateMachineArn"]  # fmt: skip
    assert cli.main(["drill", "--run", "run-1", "--items", "3", "--drill-id", "drill-x"]) == 0
    assert capsys.readouterr().out.strip() == "drill-x"
    executions = sfn.list_executions(stateMachineArn=drill_arn)["executions"]
    assert [e["name"] for e in executions] == ["drill-x"]
    described = sfn.describe_execution(executionArn=executions[0]["executionArn"])
    assert json.loads(described["input"]) == {"run": "run-1", "items": 3}


def test_drill_refuses_a_sample_size_outside_its_bounds(aws, capsys):
    assert cli.main(["drill", "--items", "0"]) == 2
    assert "items" in capsys.readouterr().err


def test_drill_wait_follows_the_execution_and_exits_with_the_drills_result(aws, capsys):
    class Executions:
        def __init__(self) -> None:
            self.answers = ["RUNNING", "RUNNING", "FAILED"]

        def describe_execution(self, executionArn):
            return {"status": self.answers.pop(0)}

    _report(aws, "drill-w", "run-1", "FAILED", "2026-12-05T10:00:00Z")
    slept: list[float] = []
    status, report = drill.wait_for_drill(
        Executions(), aws, BUCKET, "arn:aws:states:us-east-1:1:execution:ghbackup-drill:drill-w",
        sleep=slept.append,
    )  # fmt: skip
    assert status == "FAILED" and slept == [60.0, 60.0]
    assert report is not None and report.failures() == [
        "repository/acme/a: verify: acme/a/repository.bundle: git fsck failed"
    ]


def test_a_bucket_whose_runs_expired_but_keeps_drill_reports_is_still_a_ghbackup_bucket(
    aws, capsys
):
    _report(aws, "drill-1", "run-1", "SUCCEEDED", "2026-11-05T10:00:00Z")
    assert cli.main(["runs", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
