"""``ghbackup start`` and ``watch`` against the local AWS (moto server) with the stack the
local runner deploys; task states answered by tests/workflow/mock_config.json."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from cli import main as cli
from ghbackup import finalize
from ghbackup.extract import read_run_manifest
from ghbackup.records import run_manifest_key
from tests.test_finalize import repo, stage
from tests.test_operate import engine_zip
from workflow.emulation import EMULATION
from workflow.local_aws import start_local_aws
from workflow.local_runner import _client, _local_only_environment, deploy
from workflow.mock_config import MockConfig, to_moto_test_case

pytestmark = pytest.mark.integration

MOCK_CONFIG = "tests/workflow/mock_config.json"
RUN_ID = "mock-run"  # the run id the mocked responses name


@pytest.fixture
def stack(monkeypatch, tmp_path):
    local = start_local_aws()
    try:
        with _local_only_environment(local):
            deployment = deploy(local, github_api_url="http://127.0.0.1:9", credentials="unused")
            s3 = _client(local, "s3")
            monkeypatch.setenv("GHBACKUP_BUCKET", deployment.bucket)
            monkeypatch.setenv("GHBACKUP_STATE_MACHINE_ARN", deployment.state_machine_arn)
            monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
            monkeypatch.setattr("cli.operate.sleep", lambda s: time.sleep(0.2))
            yield deployment, s3
    finally:
        local.stop()


def _prepare(s3, bucket, test_case, names):
    """The run's manifest as Finalize would write it (Finalize itself is mocked), the
    items.json the list step writes and the items' result records (which ``watch`` counts,
    so staging stays), and the mocked answers for the execution."""
    items = [repo(name) for name in names]
    for item in items:
        stage(s3, bucket, RUN_ID, item, engine_zip(item, 1000))
    finalize.assemble_run(s3, bucket=bucket, run_id=RUN_ID, items=items, delete_staging_after=False)
    s3.put_object(Bucket=bucket, Key=f"staging/{RUN_ID}/items.json",
                  Body=json.dumps([i.to_json() for i in items]).encode())  # fmt: skip
    case = MockConfig.load(MOCK_CONFIG).test_case("ghbackup", test_case)
    EMULATION.register_mock_test_case(RUN_ID, to_moto_test_case(case))


def test_start_validates_starts_and_watches_to_the_summary(stack, capsys):
    deployment, s3 = stack
    _prepare(s3, deployment.bucket, "HappyPath", ["acme/one", "acme/two"])

    code = cli.main(["start", "--org", "acme", "--run-id", RUN_ID, "--wait"])

    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.strip() == RUN_ID
    assert (
        f"#/v2/executions/details/arn:aws:states:us-east-1:123456789012:execution:ghbackup:{RUN_ID}"
        in err
    )
    assert "2/2" in err and f"run {RUN_ID}: SUCCEEDED" in err


def test_watch_exits_3_for_a_partial_run(stack, capsys):
    deployment, s3 = stack
    _prepare(s3, deployment.bucket, "HappyPath", ["acme/one", "acme/broken"])
    # the execution succeeds; the run's status is the manifest's
    manifest = read_run_manifest(s3, deployment.bucket, RUN_ID)
    manifest.status = "PARTIAL"
    s3.put_object(Bucket=deployment.bucket, Key=run_manifest_key(RUN_ID),
                  Body=json.dumps(manifest.to_json()).encode())  # fmt: skip
    assert (
        cli.main(["start", "--repo", "acme/one", "--repo", "acme/broken", "--run-id", RUN_ID]) == 0
    )

    code = cli.main(["watch", RUN_ID])

    err = capsys.readouterr().err
    assert code == 3 and f"run {RUN_ID}: PARTIAL" in err


def test_start_refuses_input_the_state_machine_would_refuse(stack, capsys):
    deployment, _ = stack
    code = cli.main(["start", "--repo", "not a repository", "--run-id", "run-bad"])
    err = capsys.readouterr().err
    assert code == 2 and "InvalidInput" in err
    sfn = boto3.client("stepfunctions")  # the local AWS: the fixture patched the environment
    assert sfn.list_executions(stateMachineArn=deployment.state_machine_arn)["executions"] == []


def test_watch_of_an_unknown_run_is_exit_10(stack, capsys):
    assert cli.main(["watch", "run-never"]) == 10


def test_start_without_a_selection_says_what_the_stacks_defaults_back_up(
    stack, capsys, monkeypatch
):
    deployment, _ = stack
    planned = []
    monkeypatch.setattr(
        "cli.selection.dry_run", lambda selection, api, defaults: planned.append(defaults) or 0
    )
    assert cli.main(["start", "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "the run backs up this stack's defaults: the GitHub account" in err

    sfn, lam = boto3.client("stepfunctions"), boto3.client("lambda")
    definition = json.loads(
        sfn.describe_state_machine(stateMachineArn=deployment.state_machine_arn)["definition"]
    )
    validate = definition["States"][definition["StartAt"]]["Parameters"]["FunctionName"]
    variables = lam.get_function_configuration(FunctionName=validate)["Environment"]["Variables"]
    variables["DEFAULT_INPUT"] = json.dumps({"orgs": ["acme"], "skip_forks": True})
    lam.update_function_configuration(FunctionName=validate, Environment={"Variables": variables})
    assert cli.main(["start", "--dry-run", "--skip-archived"]) == 0
    err = capsys.readouterr().err
    assert 'this stack\'s defaults: {"orgs": ["acme"]}' in err
    assert planned[-1] == {"orgs": ["acme"], "skip_forks": True}
    assert sfn.list_executions(stateMachineArn=deployment.state_machine_arn)["executions"] == []
