"""Run the real state machine on this machine, against a local AWS that never reaches AWS.

``run_local()`` starts moto on 127.0.0.1 (``workflow.local_aws``), creates what Terraform
would (bucket, KMS key, SNS topic with an SQS queue that captures what is published, the
GitHub credentials as an SSM SecureString, the three Lambda functions, an ECS cluster and task
definition, the state machine with its placeholders filled the way templatefile fills them),
starts one execution named after the run id and waits for it, reporting progress from the
per-item result.json objects as they appear. The Lambda handlers run in-process and every
ECS task is a ``python -m container.entrypoint`` subprocess. When it ends, the run zip and
manifest are exported from the local S3 into ``out_dir/<run id>/`` (the containers' logs
go to ``out_dir/<run id>/logs/``). That folder is locked while the run runs, and once it
holds the run's archive the id is used: a second run with it refuses to start, as Step
Functions refuses a second execution name. A run that failed or was interrupted leaves no
archive, and the same id continues it.
The warm copies incremental runs keep (``latest/``) live in ``out_dir/state/``: loaded into
the local S3 before the run and exported after it, so a second run with the same
``out_dir`` captures only what changed. An interrupted run (or one that ended before
Finalize) exports the warm copies of the items it finished, so those count too.

Task states can instead be answered from a MockConfigFile test case (``mock_config`` and
``test_case``), which is how tests/workflow/mock_config.json runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import sys
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from ghbackup import exit_codes
from ghbackup.errors import BackupError, ConfigurationError, StorageError
from ghbackup.executions import StagedProgress
from ghbackup.extract import read_run_manifest
from ghbackup.finalize import DEFAULT_STORAGE_CLASS
from ghbackup.records import (
    ExportedObject,
    LocalRunOutcome,
    Notification,
    RunSummary,
    default_run_id,
    run_prefix,
)
from ghbackup.stored_credentials import PARAMETER_VARIABLE, forget_stored_credentials
from workflow import emulation
from workflow.emulation import EMULATION
from workflow.local_aws import DUMMY_CREDENTIALS, REGION, LocalAWS, start_local_aws
from workflow.mock_config import MockConfig, to_moto_test_case
from workflow.run_folder import check_run_folder as check_run_folder  # the CLI's check
from workflow.run_folder import release_run_folder, reserve_run_folder

WORKFLOW_DIR = Path(__file__).resolve().parent
DEFINITION_PATH = WORKFLOW_DIR / "state_machine.asl.json"
REPO_ROOT = WORKFLOW_DIR.parent

STATE_MACHINE_NAME = "ghbackup"
BUCKET = "ghbackup-local"
TOPIC_NAME = "ghbackup-runs"
TOKEN_PARAMETER = "/ghbackup/github-credentials"  # noqa: S105 - a parameter name
CONTAINER_NAME = "engine"
ROLE_NAME = "ghbackup-local"
FUNCTIONS = {
    "validate": ("ghbackup-validate-input", "tasks.validate_input.handler"),
    "list": ("ghbackup-list-items", "tasks.list_items.handler"),
    "finalize": ("ghbackup-finalize-run", "tasks.finalize_run.handler"),
}
# Settings the runner controls; anything else in the environment is left alone, except
# these, which could point boto3 at a real account.
_AWS_SELECTORS = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)
_PLACEHOLDER = re.compile(r"\$\$\{|\$\{([^}]*)\}")
# How often the execution's status is asked for (a cheap call: the run's end is seen within
# this), and how often the progress is read from the stored results (a listing of every
# item's objects, so less often).
_POLL_SECONDS = 0.2
_PROGRESS_SECONDS = 1.0
# Batches (ECS tasks) at once: the Terraform module's default for max_concurrency, so a
# local run schedules its batches as a deployed one does.
DEFAULT_MAX_CONCURRENCY = 10

Progress = Callable[[int, int, int], None]


class LocalRunError(RuntimeError):
    """The local run could not be set up or did not finish."""


def fill_placeholders(template: str, values: Mapping[str, str]) -> str:
    """Replace ``${name}`` as Terraform's templatefile does: every name must be given,
    ``$${`` stays a literal ``${``. Values go into JSON strings, so they must not need
    escaping."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name = match.group(1)
        if name not in values:
            raise KeyError(f"the template needs a value for ${{{name}}}")
        value = str(values[name])
        if any(char in value for char in '"\\\n'):
            raise ValueError(f"${{{name}}} would need JSON escaping: {value!r}")
        return value

    return _PLACEHOLDER.sub(replace, template)


def definition_with(values: Mapping[str, str]) -> str:
    """The state machine definition with its placeholders filled."""
    return fill_placeholders(DEFINITION_PATH.read_text(), values)


@contextlib.contextmanager
def _local_only_environment(local: LocalAWS) -> Iterator[None]:
    """Point every boto3 client of this process at ``local`` with dummy credentials."""
    with emulation.patched_environment(local.environment, unset=_AWS_SELECTORS):
        session = boto3.Session()
        credentials = session.get_credentials()
        frozen = credentials.get_frozen_credentials() if credentials else None
        if frozen is None or frozen.access_key != DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"]:
            raise LocalRunError("refusing to run: boto3 would not use the dummy credentials")
        if not re.match(r"^http://127\.0\.0\.1:\d+$", os.environ["AWS_ENDPOINT_URL"]):
            raise LocalRunError("refusing to run: the endpoint is not on 127.0.0.1")
        yield


def _client(local: LocalAWS, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=local.endpoint_url,
        region_name=REGION,
        aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=DUMMY_CREDENTIALS["AWS_SESSION_TOKEN"],
        config=Config(retries={"max_attempts": 2}),
    )


@dataclass
class LocalDeployment:
    """What ``deploy()`` created: the names a run needs."""

    state_machine_arn: str
    bucket: str
    topic_arn: str
    queue_url: str
    kms_key_id: str
    placeholders: dict[str, str]


def _empty_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README", "The handlers run in-process; see workflow/moto_fixes.py.\n")
    return buffer.getvalue()


def deploy(
    local: LocalAWS,
    *,
    github_api_url: str,
    credentials: str,
    default_input: Mapping[str, Any] | None = None,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    storage_class: str = DEFAULT_STORAGE_CLASS,
) -> LocalDeployment:
    """Create the resources Terraform creates, on the local AWS."""
    iam, s3, kms, sns, sqs, ssm, lam, ec2, ecs, sfn = (
        _client(local, name)
        for name in (
            "iam",
            "s3",
            "kms",
            "sns",
            "sqs",
            "ssm",
            "lambda",
            "ec2",
            "ecs",
            "stepfunctions",
        )
    )
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {
                    "Service": [
                        "lambda.amazonaws.com",
                        "states.amazonaws.com",
                        "ecs-tasks.amazonaws.com",
                    ]
                },
            }
        ],
    }
    role_arn = iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust))[
        "Role"
    ]["Arn"]
    s3.create_bucket(Bucket=BUCKET)
    kms_key_id = kms.create_key(Description="ghbackup local run archives")["KeyMetadata"]["KeyId"]
    topic_arn = sns.create_topic(Name=TOPIC_NAME)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"{TOPIC_NAME}-capture")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    ssm.put_parameter(Name=TOKEN_PARAMETER, Value=credentials, Type="SecureString", Overwrite=True)

    environment = {
        "BACKUP_BUCKET": BUCKET,
        "GITHUB_API_URL": github_api_url,
        "GITHUB_CREDENTIALS_PARAMETER": TOKEN_PARAMETER,
        "DEFAULT_INPUT": json.dumps(dict(default_input or {})),
        "RUN_ARCHIVE_STORAGE_CLASS": storage_class,
        "RUN_ARCHIVE_KMS_KEY_ID": kms_key_id,
        "POWERTOOLS_SERVICE_NAME": "ghbackup",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }
    code = _empty_zip()
    function_arns = {}
    for key, (name, handler) in FUNCTIONS.items():
        function_arns[key] = lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role_arn,
            Handler=handler,
            Code={"ZipFile": code},
            Timeout=900,
            MemorySize=512,
            Environment={"Variables": environment},
        )["FunctionArn"]

    vpc_id = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    subnet_ids = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.42.{index}.0/24")["Subnet"]["SubnetId"]
        for index in (1, 2)
    ]
    group_id = ec2.create_security_group(
        GroupName="ghbackup-tasks", Description="ghbackup tasks", VpcId=vpc_id
    )["GroupId"]
    cluster_arn = ecs.create_cluster(
        clusterName="ghbackup",
        capacityProviders=["FARGATE", "FARGATE_SPOT"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],
    )["cluster"]["clusterArn"]
    task_definition_arn = ecs.register_task_definition(
        family="ghbackup-engine",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="1024",
        memory="2048",
        containerDefinitions=[
            {
                "name": CONTAINER_NAME,
                "image": "ghbackup-engine:local",
                "memory": 2048,
                "essential": True,
                "environment": [
                    {"name": name, "value": value}
                    for name, value in task_environment(github_api_url).items()
                ],
            }
        ],
    )["taskDefinition"]["taskDefinitionArn"]

    placeholders = {
        "validate_function_arn": function_arns["validate"],
        "list_function_arn": function_arns["list"],
        "finalize_function_arn": function_arns["finalize"],
        "cluster_arn": cluster_arn,
        "task_definition_arn": task_definition_arn,
        "container_name": CONTAINER_NAME,
        "subnet_ids": ",".join(subnet_ids),
        "security_group_ids": group_id,
        "assign_public_ip": "DISABLED",
        "topic_arn": topic_arn,
        "bucket": BUCKET,
        "max_concurrency": str(int(max_concurrency)),
    }
    state_machine_arn = sfn.create_state_machine(
        name=STATE_MACHINE_NAME,
        definition=definition_with(placeholders),
        roleArn=role_arn,
        type="STANDARD",
    )["stateMachineArn"]
    return LocalDeployment(
        state_machine_arn=state_machine_arn,
        bucket=BUCKET,
        topic_arn=topic_arn,
        queue_url=queue_url,
        kms_key_id=kms_key_id,
        placeholders=placeholders,
    )


def state_path(history: list[dict[str, Any]]) -> list[str]:
    """Names of the states entered, in order (top level and inside Map iterations)."""
    path = []
    for event in history:
        details = event.get("stateEnteredEventDetails")
        if event["type"].endswith("StateEntered") and details:
            path.append(details["name"])
    return path


class _ProgressWatcher:
    """Reports the run's item counts (``ghbackup.executions.StagedProgress``) when they
    change."""

    def __init__(self, s3: Any, bucket: str, run_id: str, progress: Progress | None) -> None:
        self._staged = StagedProgress(s3, bucket, run_id)
        self._progress = progress
        self._last: tuple[int, int, int] | None = None

    def poll(self) -> None:
        found = self._staged.poll()
        self.report(found.done, found.failed, found.total)

    def poll_quietly(self) -> Any:
        """The counts now (``RunProgress``), or zeros when they cannot be read."""
        from ghbackup.executions import RunProgress

        try:
            return self._staged.poll()
        except (BackupError, ValueError):
            return RunProgress(done=0, failed=0, total=0)

    def report(self, done: int, failed: int, total: int) -> None:
        current = (done, failed, total)
        if self._progress is not None and current != self._last:
            self._last = current
            self._progress(*current)


def _run_summary(
    s3: Any, bucket: str, run_id: str, published: list[Notification]
) -> RunSummary | None:
    """The summary of the run's stored manifest. A MockConfigFile test case that answers
    for Finalize stores no manifest: then the summary it published, when that is whole.
    None when the run ended before Finalize."""
    try:
        return RunSummary.of(read_run_manifest(s3, bucket, run_id))
    except StorageError:
        pass
    message = published[-1].message if published else None
    if message and message.lstrip().startswith("{"):
        try:
            return RunSummary.from_json(message)
        except ValueError:
            return None  # cut to fit SNS: not a whole summary
    return None


def _published_messages(sqs: Any, queue_url: str) -> list[Notification]:
    messages = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        if not batch.get("Messages"):
            return messages
        for message in batch["Messages"]:
            envelope = json.loads(message["Body"])
            messages.append(
                Notification(
                    subject=envelope.get("Subject"),
                    message=envelope.get("Message"),
                    attributes={
                        name: value.get("Value")
                        for name, value in (envelope.get("MessageAttributes") or {}).items()
                    },
                )
            )
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def _download(s3: Any, bucket: str, key: str, path: Path) -> None:
    """One GetObject streamed into ``path`` (a managed download would start a transfer
    manager and its threads for every object, most of them small)."""
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    with path.open("wb") as handle:
        for chunk in iter(lambda: body.read(8 * 1024 * 1024), b""):
            handle.write(chunk)


def _export_run(s3: Any, bucket: str, run_id: str, out_dir: Path) -> dict[str, ExportedObject]:
    """Download runs/<run_id>/* into out_dir/<run_id>/ (so runs never overwrite each other),
    each through a ``.partial`` file renamed when complete; return {key: where it went}.
    StorageError (no ``.partial`` left) when a file cannot be written."""
    out_dir = out_dir / run_id
    exported = {}
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=run_prefix(run_id))
    for page in pages:
        for entry in page.get("Contents", []):
            target = out_dir / entry["Key"].rsplit("/", 1)[-1]
            partial = target.with_name(target.name + ".partial")
            if entry.get("StorageClass") in ("GLACIER", "DEEP_ARCHIVE"):
                # As on AWS, an archived object must be restored before it can be read.
                s3.restore_object(Bucket=bucket, Key=entry["Key"], RestoreRequest={"Days": 1})
            try:
                _download(s3, bucket, entry["Key"], partial)
                partial.replace(target)
            except OSError as exc:
                partial.unlink(missing_ok=True)
                raise StorageError(f"writing {target} failed: {exc.strerror}") from None
            exported[entry["Key"]] = ExportedObject(
                path=str(target), storage_class=entry.get("StorageClass", "STANDARD")
            )
    return exported


STATE_FOLDER = "state"


STATE_WORKERS = 8
_STATE_IN_MEMORY_BYTES = 8 * 1024 * 1024


def _load_state(s3: Any, local: LocalAWS, bucket: str, out_dir: Path) -> dict[str, str]:
    """Put ``out_dir/state/latest/...`` (the warm copies an earlier local run exported)
    into the local S3 and return each key's ETag, so that only what the run changes is
    exported again. Each zip's ``sha256`` metadata is computed from the file here, so a
    state.json that does not describe its zip is still not trusted."""
    root = out_dir / STATE_FOLDER
    files = [
        path
        for path in (sorted((root / "latest").rglob("*")) if (root / "latest").is_dir() else [])
        if path.is_file() and not path.name.endswith(".partial")
    ]

    def load(path: Path) -> tuple[str, str]:
        key = path.relative_to(root).as_posix()
        metadata = {}
        with path.open("rb") as handle:
            if path.name == "item.zip":
                metadata = {"sha256": hashlib.file_digest(handle, "sha256").hexdigest()}
                handle.seek(0)
            if path.stat().st_size <= _STATE_IN_MEMORY_BYTES:
                # Straight into the in-process S3: an HTTP round trip per small file would
                # cost a second run over an unchanged account more than its probes.
                return key, local.put_object_directly(bucket, key, handle.read(), metadata)
            answer = s3.put_object(Bucket=bucket, Key=key, Body=handle, Metadata=metadata)
        return key, answer["ETag"]

    with ThreadPoolExecutor(max_workers=STATE_WORKERS, thread_name_prefix="state") as pool:
        return dict(pool.map(load, files))


def _export_state(s3: Any, bucket: str, out_dir: Path, loaded: Mapping[str, str]) -> None:
    """Download what the run changed under ``latest/`` (an ETag other than the one
    ``loaded`` put there) into ``out_dir/state/latest/`` for the next local run, each file
    through a ``.partial`` renamed when complete, every zip before any state.json (a stop
    halfway leaves a state beside a zip it does not describe: not trusted)."""
    root = out_dir / STATE_FOLDER
    keys = [
        entry["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="latest/")
        for entry in page.get("Contents", [])
        if loaded.get(entry["Key"]) != entry["ETag"]
    ]

    def export(key: str) -> None:
        target = root / key
        partial = target.with_name(target.name + ".partial")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            _download(s3, bucket, key, partial)
            partial.replace(target)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise StorageError(f"writing {target} failed: {exc.strerror}") from None

    states = [key for key in keys if key.endswith("state.json")]
    with ThreadPoolExecutor(max_workers=STATE_WORKERS, thread_name_prefix="state") as pool:
        # Every zip (and pages file) is in place before the first state that names it.
        list(pool.map(export, sorted(set(keys) - set(states))))
        list(pool.map(export, sorted(states)))


_APP_VARIABLES = ("GITHUB_APP_ID", "GITHUB_APP_INSTALLATION_ID", "GITHUB_APP_PRIVATE_KEY")


def _github_credentials(env: Mapping[str, str], *, mocked: bool) -> str:
    """The value stored in the local SSM parameter, which the list step and every task read
    as on AWS: GITHUB_TOKEN, or a GitHub App's GITHUB_APP_ID + _INSTALLATION_ID +
    _PRIVATE_KEY as the JSON form."""
    token = env.get("GITHUB_TOKEN", "").strip()
    if token:
        return token
    if all(env.get(name, "").strip() for name in _APP_VARIABLES):
        return json.dumps(
            {
                "app_id": env["GITHUB_APP_ID"],
                "installation_id": env["GITHUB_APP_INSTALLATION_ID"],
                "private_key": env["GITHUB_APP_PRIVATE_KEY"],
            }
        )
    if mocked:
        return "mock-token-unused"  # noqa: S105 - mocked runs never call GitHub
    raise ConfigurationError(
        "set GITHUB_TOKEN (or GITHUB_APP_ID, GITHUB_APP_INSTALLATION_ID and "
        "GITHUB_APP_PRIVATE_KEY): the list step and the tasks need it"
    )


def task_environment(github_api_url: str) -> dict[str, str]:
    """The task definition's environment, as Terraform's (terraform/ecs.tf): where the
    credentials are stored, never the credentials themselves."""
    return {"GITHUB_API_URL": github_api_url, PARAMETER_VARIABLE: TOKEN_PARAMETER}


class RunInterrupted(BackupError):
    """Ctrl-C (or SIGTERM) stopped a local run. ``kept``: the items that had finished and
    whose warm copies were exported into ``out_dir/state/`` (the next run with the same
    ``--out``, or this run continued, does not capture them again unless they changed)."""

    exit_code = exit_codes.INTERRUPTED

    def __init__(self, run_id: str, folder: Path, kept: int, done: int, total: int) -> None:
        super().__init__(f"run {run_id} interrupted")
        self.run_id, self.folder = run_id, folder
        self.kept, self.done, self.total = kept, done, total


def run_local(
    execution_input: dict,
    *,
    out_dir: Path,
    github_api_url: str,
    progress: Progress | None = None,
    run_id: str | None = None,
    default_input: Mapping[str, Any] | None = None,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    mock_config: Path | None = None,
    test_case: str | None = None,
    staged_objects: Mapping[str, bytes] | None = None,
    container_command: list[str] | None = None,
    retry_delay_scale: float = 1.0,
    timeout_seconds: float = 6 * 3600,
) -> LocalRunOutcome:
    """Execute the state machine locally; return its outcome (``LocalRunOutcome``: the
    execution's status, the run's summary from its stored manifest, what was published, the
    states entered and the exported files).

    ``progress(done, failed, total)`` is called whenever the counts change: ``done`` items
    have a result (succeeded or failed), ``failed`` of them failed.

    A run id whose folder exists without an archive (a run that failed or was interrupted)
    is continued: the items it finished are reused from the warm copies it exported.
    KeyboardInterrupt (Ctrl-C; the CLI turns SIGTERM into it) stops the run, exports the
    warm copies of the items that finished, and raises ``RunInterrupted``.
    """
    run_id = run_id or default_run_id()
    out_dir = Path(out_dir)
    mocked = None
    if mock_config is not None:
        if not test_case:
            raise ConfigurationError("a mock config needs the name of a test case")
        mocked = MockConfig.load(mock_config).test_case(STATE_MACHINE_NAME, test_case)
    secret_value = _github_credentials(os.environ, mocked=mocked is not None)

    run_folder, lock, _ = reserve_run_folder(out_dir, run_id)
    keep_folder = False
    try:
        local = start_local_aws()
    except BaseException:
        release_run_folder(run_folder, lock, keep=False)  # nothing ran: the id is free
        raise
    try:
        with _local_only_environment(local):
            # The list step keeps the value it read across invocations; a new local AWS
            # starts from nothing.
            forget_stored_credentials()
            deployment = deploy(
                local,
                github_api_url=github_api_url,
                credentials=secret_value,
                default_input=default_input,
                max_concurrency=max_concurrency,
            )
            EMULATION.set_retry_delay_scale(retry_delay_scale)
            EMULATION.configure_container(
                emulation.LocalContainer(
                    command=container_command or [sys.executable, "-m", "container.entrypoint"],
                    # No credential: the task reads the SSM parameter itself, as on AWS.
                    environment={
                        **local.environment,
                        **task_environment(github_api_url),
                        "PYTHONPATH": str(REPO_ROOT),
                    },
                    cwd=REPO_ROOT,
                    log_dir=run_folder / "logs",
                )
            )
            s3, sqs, sfn = (_client(local, name) for name in ("s3", "sqs", "stepfunctions"))
            for key, body in (staged_objects or {}).items():
                s3.put_object(Bucket=deployment.bucket, Key=key, Body=body)
            # The same --out makes the run incremental: its warm copies and their state.
            loaded = _load_state(s3, local, deployment.bucket, out_dir)
            if mocked is not None:
                EMULATION.register_mock_test_case(run_id, to_moto_test_case(mocked))
            execution_arn = sfn.start_execution(
                stateMachineArn=deployment.state_machine_arn,
                name=run_id,
                input=json.dumps(execution_input),
            )["executionArn"]
            watcher = _ProgressWatcher(s3, deployment.bucket, run_id, progress)
            try:
                described = wait_for_execution(
                    sfn, execution_arn, f"run {run_id}", timeout_seconds, watcher
                )
            except KeyboardInterrupt:
                keep_folder = True  # even empty: --resume names it
                raise _interrupted(
                    sfn, s3, deployment.bucket, execution_arn, run_folder, loaded, watcher
                ) from None
            history = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)
            published = _published_messages(sqs, deployment.queue_url)
            summary = _run_summary(s3, deployment.bucket, run_id, published)
            if summary is not None:
                counts = summary.counts
                watcher.report(counts.total, counts.failed, counts.total)
            else:
                # Ended before Finalize: what finished still counts for the next run.
                _promote_finished(s3, deployment.bucket, run_id)
            try:
                exported = _export_run(s3, deployment.bucket, run_id, out_dir)
                _export_state(s3, deployment.bucket, out_dir, loaded)
            except StorageError as exc:
                # The local S3 lives in this process's memory: once it stops, the run zip
                # exists nowhere else. Say so, with what was kept.
                raise StorageError(
                    f"run {run_id} ended {described['status']}, but exporting it failed: {exc}; "
                    f"the run's archive was only in the local S3 (in memory, gone when this "
                    f"command ends); {run_folder} keeps the containers' logs only: free space "
                    f"and run the same command again"
                ) from None
            return LocalRunOutcome(
                run_id=run_id,
                status=described["status"],
                error=described.get("error"),
                cause=described.get("cause"),
                summary=summary,
                notification=published[-1] if published else None,
                path=state_path(history["events"]),
                history=history["events"],
                iterations=[
                    {**iteration, "path": state_path(iteration["events"])}
                    for iteration in EMULATION.iteration_histories(run_id)
                ],
                files=[entry.path for entry in exported.values()],
                objects=exported,
            )
    finally:
        EMULATION.configure_container(None)
        local.stop()
        release_run_folder(run_folder, lock, keep=keep_folder)


def wait_for_execution(
    sfn: Any, execution_arn: str, what: str, timeout: float, watcher: _ProgressWatcher | None = None
) -> dict[str, Any]:
    """Wait for the execution to end (``what``, e.g. "run R", names it if it does not in
    ``timeout`` seconds), reporting progress through ``watcher``; its DescribeExecution answer."""
    deadline = time.monotonic() + timeout
    next_progress = time.monotonic()
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        if time.monotonic() > deadline:
            sfn.stop_execution(executionArn=execution_arn, error="LocalTimeout")
            raise LocalRunError(f"{what} did not finish in {timeout} s")
        if watcher is not None and time.monotonic() >= next_progress:
            watcher.poll()
            next_progress = time.monotonic() + _PROGRESS_SECONDS
        time.sleep(_POLL_SECONDS)


# Seconds the task processes get to end after SIGTERM when a run is interrupted (an item
# finishing in that time is kept); then they are killed.
INTERRUPT_GRACE_SECONDS = 5.0


def _interrupted(
    sfn: Any,
    s3: Any,
    bucket: str,
    execution_arn: str,
    run_folder: Path,
    loaded: Mapping[str, str],
    watcher: _ProgressWatcher,
) -> RunInterrupted:
    """Stop the execution and its tasks, keep what finished (warm copies exported to
    ``out_dir/state/``), and say so."""
    run_id = run_folder.name
    with contextlib.suppress(ClientError):  # it may have ended on its own meanwhile
        sfn.stop_execution(executionArn=execution_arn, error="Interrupted")
    EMULATION.terminate_all_tasks(INTERRUPT_GRACE_SECONDS)
    kept = _promote_finished(s3, bucket, run_id)
    _export_state(s3, bucket, run_folder.parent, loaded)
    found = watcher.poll_quietly()
    return RunInterrupted(run_id, run_folder, kept, found.done, found.total)


def _promote_finished(s3: Any, bucket: str, run_id: str) -> int:
    """Make every item this run captured and finished (succeeded, with complete
    validators) its item's warm copy now, as Finalize would have; returns how many items
    finished (captured or reused). A failure leaves that item to be captured again."""
    from ghbackup import incremental
    from ghbackup.records import ItemResult, ReusedItems, reused_items_key, staging_prefix

    finished = 0
    prefix = f"{staging_prefix(run_id)}items/"
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        for entry in page.get("Contents", []):
            if not entry["Key"].endswith("/result.json"):
                continue
            try:
                body = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
                result = ItemResult.from_json(json.loads(body))
            except (ValueError, BackupError, ClientError):
                continue  # unreadable: that item is captured again
            if result.status != "succeeded":
                continue
            finished += 1
            validators = incremental.read_validators(s3, bucket, run_id, result.item)
            if validators is not None:
                with contextlib.suppress(BackupError):
                    incremental.promote(s3, bucket, result, validators)
    with contextlib.suppress(BackupError, ValueError, ClientError):
        reused = s3.get_object(Bucket=bucket, Key=reused_items_key(run_id))["Body"].read()
        finished += len(ReusedItems.from_json(json.loads(reused)).results)
    return finished
