"""Each fix in workflow/moto_fixes.py, proven on a small state machine.

Every test here fails when its fix stops applying (moto moved the patched code, changed the
behaviour, or is not the pinned version); the ``stock moto`` tests fail when moto itself no
longer has the gap, i.e. when the fix can go.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
import time

import moto
import pytest
from botocore.exceptions import ClientError

from workflow import emulation, moto_fixes
from workflow.emulation import EMULATION
from workflow.local_aws import ACCOUNT_ID, start_local_aws
from workflow.local_runner import ROLE_NAME, _client, _local_only_environment, deploy

pytestmark = pytest.mark.integration
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/{ROLE_NAME}"
_names = itertools.count()


def test_moto_is_the_version_the_fixes_were_verified_against(monkeypatch):
    assert moto.__version__ == moto_fixes.EXPECTED_MOTO_VERSION == "5.2.5"
    moto_fixes.check_moto_version()
    monkeypatch.setattr(moto, "__version__", "5.2.6")
    with pytest.raises(moto_fixes.MotoVersionMismatch, match="verified against moto 5.2.5"):
        moto_fixes.apply_all()


@pytest.fixture(scope="module")
def aws():
    local = start_local_aws()
    try:
        with _local_only_environment(local):
            deployment = deploy(local, github_api_url="http://127.0.0.1:9", credentials="unused")
            EMULATION.set_retry_delay_scale(0.0)
            yield local, deployment
    finally:
        EMULATION.set_retry_delay_scale(1.0)
        EMULATION.configure_container(None)
        local.stop()


def _run(local, definition: dict, execution_input: dict | None = None, timeout: float = 60):
    sfn = _client(local, "stepfunctions")
    name = f"fix-test-{next(_names)}"
    arn = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE_ARN)[
        "stateMachineArn"
    ]
    execution = sfn.start_execution(
        stateMachineArn=arn, name=name, input=json.dumps(execution_input or {})
    )["executionArn"]
    deadline = time.monotonic() + timeout
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "execution did not finish"
        time.sleep(0.2)
    events = sfn.get_execution_history(executionArn=execution)["events"]
    return described, events


def _ecs_parameters(deployment) -> dict:
    p = deployment.placeholders
    return {
        "Cluster": p["cluster_arn"],
        "TaskDefinition": p["task_definition_arn"],
        "NetworkConfiguration": {
            "AwsvpcConfiguration": {
                "Subnets": p["subnet_ids"].split(","),
                "SecurityGroups": [p["security_group_ids"]],
            }
        },
        "Overrides": {
            "ContainerOverrides": [
                {"Name": "engine", "Environment": [{"Name": "ATTEMPTS_FILE", "Value.$": "$.file"}]}
            ]
        },
    }


def _one_ecs_task(deployment, resource: str, **state) -> dict:
    """A machine of one ECS task state (``state``: Retry and the like)."""
    run = {"Type": "Task", "Resource": resource, "Parameters": _ecs_parameters(deployment)}
    return {"StartAt": "Run", "States": {"Run": {**run, **state, "End": True}}}


def _container(script: str) -> emulation.LocalContainer:
    return emulation.LocalContainer(command=[sys.executable, "-c", textwrap.dedent(script)])


FAIL_ON_FIRST_ATTEMPT = """
    import os, pathlib, sys
    path = pathlib.Path(os.environ["ATTEMPTS_FILE"])
    attempts = int(path.read_text() or 0) + 1 if path.exists() else 1
    path.write_text(str(attempts))
    sys.exit(1 if attempts == 1 else 0)
"""


def test_ecs_run_task_parameters_and_response_are_converted(aws):
    local, deployment = aws
    EMULATION.configure_container(_container("pass"))
    definition = _one_ecs_task(deployment, "arn:aws:states:::ecs:runTask")
    described, _ = _run(local, definition, {"file": "/dev/null"})
    assert described["status"] == "SUCCEEDED", described.get("cause")
    assert json.loads(described["output"])["Tasks"][0]["ClusterArn"].endswith("cluster/ghbackup")


def test_aws_sdk_parameters_are_converted(aws):
    local, deployment = aws
    definition = {
        "StartAt": "Describe",
        "States": {
            "Describe": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:ecs:describeClusters",
                "Parameters": {"Clusters": [deployment.placeholders["cluster_arn"]]},
                "End": True,
            }
        },
    }
    described, _ = _run(local, definition)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    assert json.loads(described["output"])["Clusters"][0]["ClusterName"] == "ghbackup"


def test_sync_task_fails_on_a_non_zero_exit_and_its_retry_succeeds(aws, tmp_path):
    local, deployment = aws
    EMULATION.configure_container(_container(FAIL_ON_FIRST_ATTEMPT))
    attempts = tmp_path / "attempts"
    definition = _one_ecs_task(
        deployment,
        "arn:aws:states:::ecs:runTask.sync",
        Retry=[{"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 1, "MaxAttempts": 2}],
    )
    described, events = _run(local, definition, {"file": str(attempts)})
    # Without the retry fix the 2nd attempt reports States.Timeout although it succeeded.
    assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
    assert attempts.read_text() == "2"
    failures = [e["taskFailedEventDetails"] for e in events if e["type"] == "TaskFailed"]
    assert [f["error"] for f in failures] == ["States.TaskFailed"]
    assert json.loads(failures[0]["cause"])["Containers"][0]["ExitCode"] == 1


def test_sync_task_runs_the_container_process_and_waits_for_it(aws, tmp_path):
    local, deployment = aws
    EMULATION.configure_container(
        _container(
            """
            import os, pathlib, time
            time.sleep(1.5)
            pathlib.Path(os.environ["ATTEMPTS_FILE"]).write_text("ran")
            """
        )
    )
    definition = _one_ecs_task(deployment, "arn:aws:states:::ecs:runTask.sync")
    marker = tmp_path / "marker"
    described, _ = _run(local, definition, {"file": str(marker)})
    assert described["status"] == "SUCCEEDED"
    # The override environment reached the process, and .sync waited until it exited.
    assert marker.read_text() == "ran"
    output = json.loads(described["output"])
    assert output["LastStatus"] == "STOPPED" and output["Containers"][0]["ExitCode"] == 0


STATES_ERROR_MACHINE = {
    "StartAt": "Each",
    "States": {
        "Each": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ItemProcessor": {
                "StartAt": "Fail like a task",
                "States": {
                    "Fail like a task": {"Type": "Fail", "ErrorPath": "$.error", "Cause": "x"}
                },
            },
            "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "Caught"}],
            "End": True,
        },
        "Caught": {"Type": "Pass", "End": True},
    },
}


def test_states_error_leaving_a_map_iteration_is_caught_by_name(aws):
    local, _ = aws
    described, events = _run(
        local, STATES_ERROR_MACHINE, {"items": [{"error": "States.TaskFailed"}]}
    )
    assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
    entered = [
        e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
    ]
    assert entered[-1] == "Caught"


def test_fail_state_re_raises_a_states_error(aws):
    local, _ = aws
    definition = {
        "StartAt": "Fail",
        "States": {"Fail": {"Type": "Fail", "ErrorPath": "$.Error", "CausePath": "$.Cause"}},
    }
    described, _ = _run(local, definition, {"Error": "States.TaskFailed", "Cause": "why"})
    assert (described["status"], described["error"]) == ("FAILED", "States.TaskFailed")
    assert described["cause"].endswith("why")


def test_lambda_runs_the_python_handler_and_its_error_class_is_the_error_name(aws):
    local, deployment = aws
    definition = {
        "StartAt": "Validate",
        "States": {
            "Validate": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {
                    "FunctionName": deployment.placeholders["validate_function_arn"],
                    "Payload": {"run_id": "r", "input.$": "$"},
                },
                "OutputPath": "$.Payload",
                "End": True,
            }
        },
    }
    described, _ = _run(local, definition, {"orgs": ["acme"]})
    assert json.loads(described["output"]) == {"run_id": "r", "selection": {"orgs": ["acme"]}}
    described, _ = _run(local, definition, {"colour": "red"})
    assert described["status"] == "FAILED"
    assert described["error"] == "InvalidInput"
    assert "unknown field 'colour'" in json.loads(described["cause"])["errorMessage"]


def test_retry_waits_go_through_the_scalable_clock(aws):
    local, _ = aws
    definition = {
        "StartAt": "Fail",
        "States": {
            "Fail": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
                "Parameters": {"Bucket": "ghbackup-local", "Key": "missing"},
                "Retry": [
                    {
                        "ErrorEquals": ["States.ALL"],
                        "IntervalSeconds": 30,
                        "MaxAttempts": 1,
                        "JitterStrategy": "NONE",
                    }
                ],
                "End": True,
            }
        },
    }
    before = len(EMULATION.retry_delays())
    started = time.monotonic()
    described, _ = _run(local, definition)
    assert described["status"] == "FAILED"
    assert time.monotonic() - started < 10
    assert EMULATION.retry_delays()[before:] == [30]


def test_distributed_map_iterations_keep_their_own_history(aws):
    local, _ = aws
    definition = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 3,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "First",
                    "States": {
                        "First": {"Type": "Wait", "Seconds": 1, "Next": "Second"},
                        "Second": {"Type": "Pass", "End": True},
                    },
                },
                "End": True,
            }
        },
    }
    described, _ = _run(local, definition, {"items": [1, 2, 3]})
    assert described["status"] == "SUCCEEDED"
    name = described["name"]
    histories = EMULATION.iteration_histories(name)
    assert [h["index"] for h in histories] == [0, 1, 2]
    for history in histories:
        entered = [
            e["stateEnteredEventDetails"]["name"]
            for e in history["events"]
            if "stateEnteredEventDetails" in e
        ]
        assert entered == ["First", "Second"]


def test_a_bad_definition_does_not_poison_the_next_one(aws):
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    with pytest.raises(Exception, match="nosuch"):
        AmazonStateLanguageParser.parse(json.dumps(_POISON))
    AmazonStateLanguageParser.parse(json.dumps(_JSONPATH))


_POISON = {
    "QueryLanguage": "JSONata",
    "StartAt": "A",
    "States": {"A": {"Type": "Task", "Resource": "arn:aws:states:::nosuch:thing", "End": True}},
}
_JSONPATH = {
    "StartAt": "A",
    "States": {"A": {"Type": "Pass", "Parameters": {"x.$": "$.y"}, "End": True}},
}


def _stock_moto(script: str) -> str:
    """Run ``script`` in a fresh interpreter where no fix is applied (and no endpoint of the
    module's local AWS, whose server has them, is inherited)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    run = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    return run.stdout + run.stderr


def test_stock_moto_still_lets_one_bad_definition_poison_the_next():
    output = _stock_moto(
        f"""
        import json
        from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
        for definition in ({json.dumps(_POISON)!r}, {json.dumps(_JSONPATH)!r}):
            try:
                AmazonStateLanguageParser.parse(definition)
                print("PARSED")
            except Exception as error:
                print("FAILED", type(error).__name__)
        """
    )
    assert output.split() == ["FAILED", "RecognitionException", "FAILED", "ValueError"]


def test_stock_moto_still_rejects_states_errors_as_custom_names():
    output = _stock_moto(
        """
        from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
            iteration_worker,
        )
        try:
            iteration_worker.CustomErrorName(error_name="States.TaskFailed")
            print("ACCEPTED")
        except ValueError:
            print("REJECTED")
        """
    )
    assert output.strip() == "REJECTED"


def test_stock_moto_still_skips_integration_casing_and_echoes_lambda():
    output = _stock_moto(
        """
        from moto.awslambda_simple.models import LambdaSimpleBackend
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import StateTaskService
        params = {"Cluster": "c"}
        StateTaskService._normalise_parameters(None, params)
        print("CASING", sorted(params))
        backend = LambdaSimpleBackend("us-east-1", "123456789012")
        print("LAMBDA", backend.invoke("f", None, '{"a": 1}', {}, {}).decode())
        """
    )
    assert "CASING ['Cluster']" in output
    assert 'LAMBDA {"a": 1}' in output


def test_a_versioned_bucket_with_delete_markers_can_be_emptied(aws):
    local, _ = aws
    s3 = _client(local, "s3")
    s3.create_bucket(Bucket="markers")
    s3.put_bucket_versioning(Bucket="markers", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="markers", Key="k", Body=b"x")
    s3.delete_object(Bucket="markers", Key="k")  # leaves a delete marker
    versions = s3.list_object_versions(Bucket="markers")
    objects = [
        {"Key": v["Key"], "VersionId": v["VersionId"]}
        for v in versions.get("Versions", []) + versions.get("DeleteMarkers", [])
    ]
    result = s3.delete_objects(Bucket="markers", Delete={"Objects": objects})
    assert len(result["Deleted"]) == 2
    s3.delete_bucket(Bucket="markers")


def test_stock_moto_still_cannot_dispose_of_a_delete_marker():
    output = _stock_moto(
        """
        from moto.s3.models import FakeDeleteMarker
        print("HAS_DISPOSE" if hasattr(FakeDeleteMarker, "dispose") else "NO_DISPOSE")
        """
    )
    assert output.strip() == "NO_DISPOSE"


def test_stock_moto_still_does_not_answer_terraforms_two_step_functions_calls():
    output = _stock_moto(
        """
        from moto.stepfunctions.responses import StepFunctionResponse
        for name in ("validate_state_machine_definition", "list_state_machine_versions"):
            print(name, hasattr(StepFunctionResponse, name))
        """
    )
    assert "validate_state_machine_definition False" in output
    assert "list_state_machine_versions False" in output


def test_the_server_routes_each_host_once_and_still_to_its_service(aws):
    local, _ = aws
    s3 = _client(local, "s3")
    s3.create_bucket(Bucket="routed")
    s3.put_object(Bucket="routed", Key="k", Body=b"x")
    assert s3.get_object(Bucket="routed", Key="k")["Body"].read() == b"x"
    assert _client(local, "sts").get_caller_identity()["Account"] == ACCOUNT_ID
    from moto import backends

    calls = []
    original = backends.list_of_moto_modules
    backends.list_of_moto_modules = lambda: calls.append(1) or original()
    try:
        for _ in range(5):
            s3.head_object(Bucket="routed", Key="k")
    finally:
        backends.list_of_moto_modules = original
    assert calls == []  # routed from the cache, not by listing moto's folder again


def test_stock_moto_still_lists_its_package_folder_to_route_a_host():
    output = _stock_moto(
        """
        from moto import backends
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication
        calls = []
        original = backends.list_of_moto_modules
        backends.list_of_moto_modules = lambda: calls.append(1) or original()
        app = DomainDispatcherApplication.__new__(DomainDispatcherApplication)
        app.backend_url_patterns = []
        for _ in range(2):
            app.get_backend_for_host("s3")
        print("LISTED", len(calls))
        """
    )
    assert output.strip() == "LISTED 2"  # once moto caches its routes, fix 13 can go


def test_a_copy_whose_source_changed_is_refused(aws):
    local, _ = aws
    s3 = _client(local, "s3")
    s3.create_bucket(Bucket="copies")
    etag = s3.put_object(Bucket="copies", Key="src", Body=b"one")["ETag"]
    s3.copy_object(Bucket="copies", Key="a", CopySource={"Bucket": "copies", "Key": "src"},
                   CopySourceIfMatch=etag)  # fmt: skip
    s3.put_object(Bucket="copies", Key="src", Body=b"two")
    with pytest.raises(ClientError) as raised:
        s3.copy_object(Bucket="copies", Key="b", CopySource={"Bucket": "copies", "Key": "src"},
                       CopySourceIfMatch=etag)  # fmt: skip
    assert raised.value.response["Error"]["Code"] == "PreconditionFailed"
    assert "Contents" not in s3.list_objects_v2(Bucket="copies", Prefix="b")


def test_stock_moto_still_copies_whatever_the_source_if_match_says():
    output = _stock_moto(
        """
        import boto3
        from moto import mock_aws
        with mock_aws():
            s3 = boto3.client("s3", region_name="us-east-1")
            s3.create_bucket(Bucket="copies")
            s3.put_object(Bucket="copies", Key="src", Body=b"one")
            s3.copy_object(Bucket="copies", Key="b", CopySource={"Bucket": "copies", "Key": "src"},
                           CopySourceIfMatch='"not-its-etag"')
            print("COPIED")
        """
    )
    assert output.strip() == "COPIED"  # once moto checks it, fix 14 can go
