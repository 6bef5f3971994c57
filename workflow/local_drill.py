"""Run the restore drill's state machine (workflow/drill.asl.json) on this machine, over the
run archives a local run exported, against the same local AWS as ``run_local``.

``run_local_drill()`` starts moto on 127.0.0.1, deploys what Terraform deploys for backups
(``workflow.local_runner.deploy``) plus the drill's three functions and its state machine,
stores each local run (``out_dir/<run id>/ghbackup-<run id>.zip`` in GLACIER, as Finalize
stores it, and its ``manifest.json``) under ``runs/`` and starts one drill execution. The
emulated S3 answers a Glacier restore at once (as it does for ``ghbackup get``), unless the
emulation holds restores; the drill task runs as a ``python -m container.drill`` process.
The report is exported to ``out_dir/drills/<drill id>/report.json`` and the task's log to
``out_dir/drills/<drill id>/logs/``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities import parameters

from ghbackup import s3 as s3io
from ghbackup.drill import default_drill_id
from ghbackup.errors import ConfigurationError, RunAlreadyExists
from ghbackup.records import MANIFEST_NAME, Notification, run_archive_key, run_manifest_key
from ghbackup.records.drills import DrillReport, drill_report_key
from workflow import emulation
from workflow.emulation import EMULATION
from workflow.local_aws import start_local_aws
from workflow.local_runner import (
    REPO_ROOT,
    WORKFLOW_DIR,
    LocalDeployment,
    _client,
    _empty_zip,
    _local_only_environment,
    _published_messages,
    deploy,
    fill_placeholders,
    state_path,
    wait_for_execution,
)
from workflow.mock_config import MockConfig, to_moto_test_case

DRILL_DEFINITION_PATH = WORKFLOW_DIR / "drill.asl.json"
DRILL_STATE_MACHINE_NAME = "ghbackup-drill"
DRILL_FUNCTIONS = {
    "plan": ("ghbackup-drill-plan", "tasks.drill_plan.handler"),
    "check": ("ghbackup-drill-check", "tasks.drill_check.handler"),
    "report": ("ghbackup-drill-report", "tasks.drill_report.handler"),
}
DRILLS_FOLDER = "drills"
_POLL_SECONDS = 0.2


@dataclass
class LocalDrillOutcome:
    """How a local drill ended: the execution's status, the stored report, what was
    published and the states entered."""

    drill_id: str
    status: str
    error: str | None
    cause: str | None
    report: DrillReport | None
    report_path: Path | None
    notification: Notification | None
    path: list[str] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)


def local_runs(out_dir: Path) -> dict[str, Path]:
    """``{run id: folder}`` of the runs a local run exported into ``out_dir``."""
    if not out_dir.is_dir():
        return {}
    return {
        folder.name: folder
        for folder in sorted(out_dir.iterdir())
        if (folder / MANIFEST_NAME).is_file()
    }


def deploy_drill(local: Any, deployment: LocalDeployment) -> str:
    """The drill's functions and state machine beside ``deployment``; returns its ARN."""
    lam, sfn = _client(local, "lambda"), _client(local, "stepfunctions")
    role_arn = lam.get_function(FunctionName="ghbackup-finalize-run")["Configuration"]["Role"]
    environment = {
        "BACKUP_BUCKET": deployment.bucket,
        "DRILL_DEFAULT_INPUT": "{}",
        # The emulated S3 restores at once: no need to wait for the tier's shortest time.
        "DRILL_MAX_FIRST_WAIT_SECONDS": "0",
        "POWERTOOLS_SERVICE_NAME": "ghbackup",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }
    arns = {}
    for key, (name, handler) in DRILL_FUNCTIONS.items():
        arns[f"{key}_function_arn"] = lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role_arn,
            Handler=handler,
            Code={"ZipFile": _empty_zip()},
            Timeout=900,
            MemorySize=512,
            Environment={"Variables": environment},
        )["FunctionArn"]
    keep = ("cluster_arn", "task_definition_arn", "container_name", "subnet_ids",
            "security_group_ids", "assign_public_ip", "topic_arn", "bucket")  # fmt: skip
    values = {name: deployment.placeholders[name] for name in keep} | arns
    values["drill_task_role_arn"] = role_arn
    definition = fill_placeholders(DRILL_DEFINITION_PATH.read_text(), values)
    return str(
        sfn.create_state_machine(
            name=DRILL_STATE_MACHINE_NAME, definition=definition, roleArn=role_arn, type="STANDARD"
        )["stateMachineArn"]
    )


def stage_runs(s3: Any, bucket: str, runs: Mapping[str, Path], storage_class: str) -> None:
    """Store each local run as Finalize stores it: the run zip in ``storage_class``, the
    manifest in STANDARD."""
    for run_id, folder in runs.items():
        archive = folder / f"ghbackup-{run_id}.zip"
        if archive.is_file():
            with archive.open("rb") as body:
                s3.put_object(Bucket=bucket, Key=run_archive_key(run_id), Body=body,
                              StorageClass=storage_class)  # fmt: skip
        s3.put_object(Bucket=bucket, Key=run_manifest_key(run_id),
                      Body=(folder / MANIFEST_NAME).read_bytes())  # fmt: skip


def _reserve(out_dir: Path, drill_id: str) -> Path:
    folder = out_dir / DRILLS_FOLDER / drill_id
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        folder.mkdir()
    except FileExistsError:
        raise RunAlreadyExists(f"drill {drill_id} already exists ({folder})") from None
    return folder


def run_local_drill(
    drill_input: dict[str, Any],
    *,
    out_dir: Path,
    drill_id: str | None = None,
    runs: Mapping[str, Path] | None = None,
    storage_class: str = "GLACIER",
    mock_config: Path | None = None,
    test_case: str | None = None,
    staged_objects: Mapping[str, bytes] | None = None,
    retry_delay_scale: float = 1.0,
    timeout_seconds: float = 3600,
) -> LocalDrillOutcome:
    """Execute the drill state machine locally over ``runs`` (default: every run exported
    into ``out_dir``); return how it ended. ``staged_objects`` are stored in the bucket
    first (tests); ``mock_config``/``test_case`` answer Task states from a MockConfigFile."""
    out_dir = Path(out_dir)
    drill_id = drill_id or default_drill_id()
    runs = local_runs(out_dir) if runs is None else runs
    if not runs and not staged_objects and mock_config is None:
        raise ConfigurationError(f"no local run in {out_dir}: run `ghbackup run --local` first")
    mocked = None
    if mock_config is not None:
        if not test_case:
            raise ConfigurationError("a mock config needs the name of a test case")
        mocked = MockConfig.load(mock_config).test_case(DRILL_STATE_MACHINE_NAME, test_case)
    folder = _reserve(out_dir, drill_id)
    local = start_local_aws()
    try:
        with _local_only_environment(local):
            parameters.clear_caches()
            deployment = deploy(local, github_api_url="http://127.0.0.1:9", credentials="unused")
            machine_arn = deploy_drill(local, deployment)
            EMULATION.set_retry_delay_scale(retry_delay_scale)
            EMULATION.configure_container(
                emulation.LocalContainer(
                    command=[sys.executable, "-m", "container.drill"],
                    environment={**local.environment, "PYTHONPATH": str(REPO_ROOT)},
                    cwd=REPO_ROOT,
                    log_dir=folder / "logs",
                )
            )
            s3, sqs, sfn = (_client(local, name) for name in ("s3", "sqs", "stepfunctions"))
            stage_runs(s3, deployment.bucket, runs, storage_class)
            for key, body in (staged_objects or {}).items():
                s3.put_object(Bucket=deployment.bucket, Key=key, Body=body)
            if mocked is not None:
                EMULATION.register_mock_test_case(drill_id, to_moto_test_case(mocked))
            arn = sfn.start_execution(
                stateMachineArn=machine_arn, name=drill_id, input=json.dumps(drill_input)
            )["executionArn"]
            described = wait_for_execution(sfn, arn, f"drill {drill_id}", timeout_seconds)
            history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
            published = _published_messages(sqs, deployment.queue_url)
            report, report_path = _export_report(s3, deployment.bucket, drill_id, folder)
            return LocalDrillOutcome(
                drill_id=drill_id,
                status=described["status"],
                error=described.get("error"),
                cause=described.get("cause"),
                report=report,
                report_path=report_path,
                notification=published[-1] if published else None,
                path=state_path(history),
                history=history,
            )
    finally:
        EMULATION.configure_container(None)
        local.stop()


def _export_report(
    s3: Any, bucket: str, drill_id: str, folder: Path
) -> tuple[DrillReport | None, Path | None]:
    data = s3io.read_json(s3, bucket, drill_report_key(drill_id))
    if data is None:
        return None, None
    report = DrillReport.from_json(data)
    path = folder / "report.json"
    path.write_bytes(report.to_bytes())
    return report, path
