"""The state machine definition: valid JSON, accepted by statelint and moto, readable."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from workflow.local_runner import DEFINITION_PATH, definition_with, fill_placeholders

# docs/design.md, "State machine": the only names Terraform's templatefile is given.
PLACEHOLDERS = {
    "validate_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:validate",
    "list_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:list",
    "finalize_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:finalize",
    "cluster_arn": "arn:aws:ecs:us-east-1:123456789012:cluster/ghbackup",
    "task_definition_arn": "arn:aws:ecs:us-east-1:123456789012:task-definition/ghbackup:1",
    "container_name": "engine",
    "subnet_ids": "subnet-1,subnet-2",
    "security_group_ids": "sg-1",
    "assign_public_ip": "DISABLED",
    "topic_arn": "arn:aws:sns:us-east-1:123456789012:ghbackup",
    "bucket": "ghbackup-archive",
    "max_concurrency": "8",
}
# statelint 3.1.0 predates Distributed Map's ReaderConfig.InputType (required by AWS for a
# JSON ItemReader) and wants ToleratedFailurePercentage as an integer, while moto's parser
# only accepts it written as a decimal (100.0); both are JSON numbers to AWS. Exactly these
# two messages are ignored; anything else statelint says fails the test.
STATELINT_FALSE_POSITIVES = (
    'Field "InputType" not allowed in State Machine.States.Back up each batch.ItemReader.'
    "ReaderConfig",
    "State Machine.States.Back up each batch.ToleratedFailurePercentage is 100.0 but should be "
    "an Integer",
)


def _states(definition: dict) -> dict[str, dict]:
    found = {}
    for name, state in definition["States"].items():
        found[name] = state
        for nested in (state.get("ItemProcessor"), *state.get("Branches", [])):
            if nested:
                found.update(_states(nested))
    return found


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *_strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_definition_is_json_with_placeholders_only_inside_strings():
    text = DEFINITION_PATH.read_text()
    definition = json.loads(text)
    used_in_strings = {
        name for s in _strings(definition) for name in re.findall(r"\$\{([^}]*)\}", s)
    }
    used_anywhere = set(re.findall(r"\$\{([^}]*)\}", text))
    assert used_anywhere == used_in_strings
    assert used_anywhere == set(PLACEHOLDERS)


def test_every_state_has_a_comment_and_a_sentence_name():
    for name, state in _states(json.loads(DEFINITION_PATH.read_text())).items():
        assert state.get("Comment"), f"{name} has no Comment"
        assert " " in name and name[0].isupper(), f"{name!r} does not read as a sentence"


def test_definition_uses_jsonpath_only():
    definition = json.loads(DEFINITION_PATH.read_text())
    assert definition.get("QueryLanguage", "JSONPath") == "JSONPath"
    for name, state in _states(definition).items():
        assert "Assign" not in state and "QueryLanguage" not in state, name
        assert "Arguments" not in state and "Output" not in state, name


def test_statelint_accepts_the_definition(tmp_path):
    filled = tmp_path / "state_machine.json"
    filled.write_text(definition_with(PLACEHOLDERS))
    run = subprocess.run(
        [sys.executable, "-m", "statelint", str(filled)], capture_output=True, text=True
    )
    problems = [
        line.strip()
        for line in (run.stdout + run.stderr).splitlines()
        if line.startswith(" ") and line.strip()
    ]
    unexpected = [p for p in problems if p not in STATELINT_FALSE_POSITIVES]
    assert unexpected == []
    assert run.returncode == 0 or set(problems) <= set(STATELINT_FALSE_POSITIVES)


def test_statelint_still_has_exactly_the_known_false_positives(tmp_path):
    """When statelint learns InputType, drop the filter above (this test then fails)."""
    filled = tmp_path / "state_machine.json"
    filled.write_text(definition_with(PLACEHOLDERS))
    run = subprocess.run(
        [sys.executable, "-m", "statelint", str(filled)], capture_output=True, text=True
    )
    assert {line.strip() for line in run.stdout.splitlines() if line.startswith(" ")} == set(
        STATELINT_FALSE_POSITIVES
    )


def test_moto_parser_accepts_the_definition():
    from moto.stepfunctions.parser.asl.static_analyser.static_analyser import StaticAnalyser

    StaticAnalyser().analyse(definition_with(PLACEHOLDERS))


def test_moto_parser_catches_a_resource_typo():
    from moto.stepfunctions.parser.asl.static_analyser.static_analyser import StaticAnalyser

    broken = definition_with(PLACEHOLDERS).replace("ecs:runTask.sync", "ecs:runTsk.sync")
    with pytest.raises(Exception, match="runTsk"):
        StaticAnalyser().analyse(broken)


def test_placeholders_are_filled_like_templatefile():
    assert fill_placeholders('"${a}-$${b}"', {"a": "x"}) == '"x-${b}"'
    with pytest.raises(KeyError, match="cluster_arn"):
        fill_placeholders('"${cluster_arn}"', {})
    with pytest.raises(ValueError, match="escaping"):
        fill_placeholders('"${a}"', {"a": 'say "hi"'})


def test_every_failure_before_the_summary_is_notified_then_fails_the_execution():
    states = json.loads(DEFINITION_PATH.read_text())["States"]
    for name in (
        "Validate the execution input",
        "List the items to back up",
        "Back up each batch",
        "Finalize the run",
    ):
        catches = states[name]["Catch"]
        assert catches[-1]["ErrorEquals"] == ["States.ALL"], name
        assert catches[-1]["Next"] == "Notify that the run failed", name
    assert states["Notify that the run failed"]["Next"] == "The run failed"
    assert states["The run failed"]["Type"] == "Fail"
    assert states["The run failed"]["ErrorPath"] == "$.Error"


def test_item_processor_never_fails_the_child_execution():
    item = json.loads(DEFINITION_PATH.read_text())["States"]["Back up each batch"]
    task = item["ItemProcessor"]["States"]["Back up the batch in a container"]
    assert item["ItemProcessor"]["ProcessorConfig"] == {
        "Mode": "DISTRIBUTED",
        "ExecutionType": "STANDARD",
    }
    assert item["ResultPath"] is None
    assert "LaunchType" not in task["Parameters"]
    assert task["Catch"] == [
        {
            "ErrorEquals": ["States.ALL"],
            "ResultPath": "$.error",
            "Next": "Record the batch as failed",
        }
    ]
    retried = {error for retrier in task["Retry"] for error in retrier["ErrorEquals"]}
    assert {"States.TaskFailed", "ECS.AmazonECSException", "ECS.ClientException"} <= retried
    for retrier in task["Retry"]:
        assert retrier["MaxAttempts"] <= 5 and retrier["JitterStrategy"] == "FULL"


def test_finalize_is_told_which_execution_it_finalizes():
    states = _states(json.loads(DEFINITION_PATH.read_text()))
    payload = states["Finalize the run"]["Parameters"]["Payload"]
    assert payload["execution.$"] == "$$.Execution.Id"
    assert payload["run_id.$"] == "$$.Execution.Name"
