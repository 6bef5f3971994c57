"""The local AWS: executes state machines, answers the Terraform provider's two calls."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from workflow.local_aws import DUMMY_CREDENTIALS, REGION, start_local_aws
from workflow.local_runner import ROLE_NAME

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sfn():
    local = start_local_aws()
    try:
        yield boto3.client(
            "stepfunctions",
            endpoint_url=local.endpoint_url,
            region_name=REGION,
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
    finally:
        local.stop()


def test_it_listens_on_loopback_and_only_one_runs_per_process(sfn):
    assert sfn.meta.endpoint_url.startswith("http://127.0.0.1:")
    # moto's backends are process-wide: a second server would share and reset them.
    with pytest.raises(RuntimeError, match="already running"):
        start_local_aws()


def test_state_machines_are_executed(sfn):
    arn = sfn.create_state_machine(
        name="executes",
        definition=json.dumps(
            {
                "StartAt": "Add",
                "States": {
                    "Add": {
                        "Type": "Pass",
                        "Parameters": {"sum.$": "States.MathAdd($.a, 1)"},
                        "End": True,
                    }
                },
            }
        ),
        roleArn=f"arn:aws:iam::123456789012:role/{ROLE_NAME}",
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, name="one", input='{"a": 41}')[
        "executionArn"
    ]
    for _ in range(50):
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            break
        time.sleep(0.1)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"sum": 42}


def test_validate_state_machine_definition_answers_ok_and_fail(sfn):
    good = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}
    assert sfn.validate_state_machine_definition(definition=json.dumps(good))["result"] == "OK"
    bad = {
        "StartAt": "A",
        "States": {"A": {"Type": "Task", "Resource": "arn:aws:states:::nosuch:x", "End": True}},
    }
    answer = sfn.validate_state_machine_definition(definition=json.dumps(bad))
    assert answer["result"] == "FAIL"
    assert "nosuch" in answer["diagnostics"][0]["message"]


def test_list_state_machine_versions_is_empty(sfn):
    arn = sfn.create_state_machine(
        name="versions",
        definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}),
        roleArn=f"arn:aws:iam::123456789012:role/{ROLE_NAME}",
    )["stateMachineArn"]
    assert sfn.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"] == []
