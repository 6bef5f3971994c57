"""The drill state machine's definition (workflow/drill.asl.json): valid JSON, accepted by
statelint and moto, readable, its placeholders the ones Terraform fills, and every way out
reported before the execution ends."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from tests.test_workflow_definition import _states, _strings
from workflow.local_drill import DRILL_DEFINITION_PATH
from workflow.local_runner import fill_placeholders

# docs/design.md, "Restore drill": the names terraform/drill.tf's templatefile is given.
PLACEHOLDERS = {
    "plan_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:drill-plan",
    "check_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:drill-check",
    "report_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:drill-report",
    "cluster_arn": "arn:aws:ecs:us-east-1:123456789012:cluster/ghbackup",
    "task_definition_arn": "arn:aws:ecs:us-east-1:123456789012:task-definition/ghbackup:1",
    "drill_task_role_arn": "arn:aws:iam::123456789012:role/ghbackup-drill-task",
    "container_name": "engine",
    "subnet_ids": "subnet-1,subnet-2",
    "security_group_ids": "sg-1",
    "assign_public_ip": "DISABLED",
    "topic_arn": "arn:aws:sns:us-east-1:123456789012:ghbackup",
    "bucket": "ghbackup-archive",
}
TERRAFORM = DRILL_DEFINITION_PATH.parents[1] / "terraform" / "drill.tf"


def _definition() -> dict:
    return json.loads(DRILL_DEFINITION_PATH.read_text())


def test_placeholders_are_inside_strings_and_are_what_terraform_fills():
    text = DRILL_DEFINITION_PATH.read_text()
    used_in_strings = {n for s in _strings(_definition()) for n in re.findall(r"\$\{([^}]*)\}", s)}
    assert set(re.findall(r"\$\{([^}]*)\}", text)) == used_in_strings == set(PLACEHOLDERS)
    rendered = re.search(r"templatefile\(local\.drill_definition_path, \{(.*?)\}\)",
                         TERRAFORM.read_text(), re.S)  # fmt: skip
    assert rendered is not None
    assert set(re.findall(r"^\s*(\w+)\s*=", rendered.group(1), re.M)) == set(PLACEHOLDERS)


def test_every_state_has_a_comment_and_a_sentence_name():
    for name, state in _states(_definition()).items():
        assert state.get("Comment"), f"{name} has no Comment"
        assert " " in name and name[0].isupper(), f"{name!r} does not read as a sentence"


def test_statelint_and_moto_accept_the_definition(tmp_path):
    from moto.stepfunctions.parser.asl.static_analyser.static_analyser import StaticAnalyser

    filled = tmp_path / "drill.json"
    filled.write_text(fill_placeholders(DRILL_DEFINITION_PATH.read_text(), PLACEHOLDERS))
    run = subprocess.run([sys.executable, "-m", "statelint", str(filled)],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    StaticAnalyser().analyse(filled.read_text())


def test_the_restore_poll_loop_lasts_longer_than_the_slowest_tier():
    check = _definition()["States"]["Check that the run zip is readable"]
    (poll,) = [r for r in check["Retry"] if r["ErrorEquals"] == ["RestoreInProgress"]]
    assert poll["BackoffRate"] == 1.0
    assert poll["IntervalSeconds"] * poll["MaxAttempts"] > 48 * 3600  # DEEP_ARCHIVE Bulk


def test_every_failure_is_reported_and_published_before_the_execution_ends():
    states = _definition()["States"]
    for name, state in states.items():
        if (
            state["Type"] == "Task"
            and name != "Publish the drill result"
            and "sns" not in (state["Resource"])
        ):
            targets = {catch["Next"] for catch in state.get("Catch", [])}
            assert targets, f"{name} catches nothing"
            assert targets <= {"Write the drill report", "Note that the drill has no plan",
                               "Notify that the drill could not report"}, name  # fmt: skip


def test_the_drill_task_runs_the_drill_module_with_its_own_role():
    task = _definition()["States"]["Restore the sampled items in a container"]
    overrides = task["Parameters"]["Overrides"]
    assert overrides["TaskRoleArn"] == "${drill_task_role_arn}"
    (container,) = overrides["ContainerOverrides"]
    assert container["Command"] == ["python", "-m", "container.drill"]
    names = {pair["Name"] for pair in container["Environment"]}
    assert names == {"DRILL_ID", "DRILL_RUN_ID", "DRILL_ITEMS", "BACKUP_BUCKET"}
