"""Every change the project makes to moto, in one place.

moto (pinned to exactly ``EXPECTED_MOTO_VERSION``) interprets the real state machine, but its
Step Functions interpreter (a vendored copy of LocalStack's) has bugs and gaps. Two kinds of
patch live here, apart:

- fixes of moto's bugs and gaps (1-4, 10, 12-14): each names what it closes, and
  ``tests/test_workflow_moto_fixes.py`` has a test that fails when moto fixes it upstream or
  moves the patched code;
- hooks for the local emulation (5-9, 11): moto's Lambda only echoes and its ECS only
  stores tasks; these hooks hand the work to ``workflow.emulation.EMULATION``, the object
  that holds the emulation's state (task processes, mock test cases, the Retry clock...).

The fixes patch moto's classes in this process, which is also the process that serves moto
(``workflow.local_aws`` runs moto's ThreadedMotoServer in a thread), so they apply to the
server. ``apply_all()`` is idempotent.
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
import time
from collections.abc import Callable
from functools import cache
from typing import Any

import moto

from workflow import moto_disk_s3
from workflow.emulation import EMULATION, invoke_in_process, is_local_handler

EXPECTED_MOTO_VERSION = "5.2.5"

LOG = logging.getLogger(__name__)

_applied: set[str] = set()
_apply_lock = threading.Lock()


class MotoVersionMismatch(RuntimeError):
    """moto is not the version these fixes were written and verified against."""


def check_moto_version() -> None:
    """Refuse to patch a moto these fixes were not verified against: they touch internals."""
    if moto.__version__ != EXPECTED_MOTO_VERSION:
        raise MotoVersionMismatch(
            f"workflow.moto_fixes was verified against moto {EXPECTED_MOTO_VERSION} but "
            f"moto {moto.__version__} is installed: pin moto[server]=={EXPECTED_MOTO_VERSION} "
            "or re-verify every fix (pytest tests/test_workflow_moto_fixes.py)"
        )


def _once(name: str, patch: Callable[[], None]) -> None:
    with _apply_lock:
        if name in _applied:
            return
        patch()
        _applied.add(name)


# --- 1. camelCase parameters of optimised integrations ------------------------------------
# moto stubs StateTaskService._normalise_parameters/_normalise_response as no-ops, so
# ecs:runTask sends "Cluster" to botocore unconverted and reads "Tasks" from a response
# that says "tasks". Converting through botocore's service model (the operation's input
# and output shapes) fixes ecs:runTask(.sync) and aws-sdk:* integrations.


@cache
def _operation_model(service_name: str, action_snake: str) -> Any:
    import botocore.session
    from botocore import xform_name

    try:
        service_model = botocore.session.get_session().get_service_model(service_name)
    except Exception:  # noqa: BLE001 - unknown service: leave the parameters alone
        return None
    for operation_name in service_model.operation_names:
        if xform_name(operation_name) == action_snake:
            return service_model.operation_model(operation_name)
    return None


def fix_integration_casing() -> None:
    """Convert optimised-integration parameters and responses with botocore's shapes."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (  # noqa: E501
        StateTaskService,
    )

    def _operation(self: Any, boto_service_name: str | None, service_action_name: str | None):
        return _operation_model(
            self._get_boto_service_name(boto_service_name=boto_service_name),
            self._get_boto_service_action(service_action_name=service_action_name),
        )

    def _normalise_parameters(
        self: Any,
        parameters: dict,
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        operation = _operation(self, boto_service_name, service_action_name)
        if operation is not None and operation.input_shape is not None:
            self._to_boto_request(parameters, operation.input_shape)

    def _normalise_response(
        self: Any,
        response: Any,
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        operation = _operation(self, boto_service_name, service_action_name)
        if operation is not None and operation.output_shape is not None:
            self._from_boto_response(response, operation.output_shape)

    def patch() -> None:
        StateTaskService._normalise_parameters = _normalise_parameters
        StateTaskService._normalise_response = _normalise_response

    _once("integration_casing", patch)


# --- 2. Retry of a .sync task reports States.Timeout ---------------------------------------
# A .sync task also listens on its task-token callback endpoint. Attempt 1 ends with
# interrupt_all(), which leaves the endpoint's event set; a retry reuses the same token, so
# attempt 2's listener wakes at once with no outcome and reports a timeout. A .sync task
# that is not a waitForTaskToken task has no token to wait for: don't listen.


def fix_sync_retry_timeout() -> None:
    """Stop .sync tasks from listening on the (stale) task-token callback endpoint."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
        ResourceCondition,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (  # noqa: E501
        StateTaskServiceCallback,
    )

    original = StateTaskServiceCallback._eval_sync

    def _eval_sync(
        self: Any,
        env: Any,
        sync_resolver: Any,
        timeout_seconds: Any,
        callback_endpoint: Any,
        heartbeat_endpoint: Any,
    ) -> Any:
        if self.resource.condition != ResourceCondition.WaitForTaskToken:
            callback_endpoint = None
        return original(
            self,
            env=env,
            sync_resolver=sync_resolver,
            timeout_seconds=timeout_seconds,
            callback_endpoint=callback_endpoint,
            heartbeat_endpoint=heartbeat_endpoint,
        )

    def patch() -> None:
        StateTaskServiceCallback._eval_sync = _eval_sync

    _once("sync_retry_timeout", patch)


# --- 3. States.* errors leaving a Map iteration, a Parallel branch, a Fail or a mock -------
# These places wrap the error name in CustomErrorName, which rejects the "States." prefix
# ("Custom Error Names MUST NOT begin with the prefix 'States.'"): a States.TaskFailed leaving
# a Map iteration becomes a States.Runtime crash, a Map-level Catch on it never matches, a
# Fail state cannot re-raise States.* through ErrorPath and a MockConfigFile cannot Throw one.


def _error_name(error_name: str | None) -> Any:
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import (
        CustomErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )

    if error_name is not None and error_name.startswith("States."):
        try:
            return StatesErrorName.from_name(error_name)
        except ValueError:
            # A States.* name the grammar does not know: still an error name, not a crash.
            return ErrorName(error_name=error_name)
    return CustomErrorName(error_name=error_name)


_ERROR_NAME_MODULES = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.iteration_worker",
    "moto.stepfunctions.parser.asl.component.state.exec.state_parallel.branches_decl",
    "moto.stepfunctions.parser.asl.component.state.fail.state_fail",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.mock_eval_utils",
)


def fix_states_error_names() -> None:
    """Let States.* error names cross Map, Parallel, Fail and mocked responses unchanged."""

    def patch() -> None:
        for module_name in _ERROR_NAME_MODULES:
            module = importlib.import_module(module_name)
            if not hasattr(module, "CustomErrorName"):
                raise RuntimeError(f"{module_name} no longer uses CustomErrorName")
            module.CustomErrorName = _error_name

    _once("states_error_names", patch)


# --- 4. One bad definition poisons every later one -----------------------------------------
# Preprocessor keeps its query-language scope stack in a class-level list; a definition that
# fails to parse leaves an entry behind, and every later JSONPath definition in the process
# is then read in the wrong scope. Give each Preprocessor its own list.


def fix_preprocessor_scope_leak() -> None:
    """Make the parser's query-language scope stack per instance, not per class."""
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

    if not isinstance(Preprocessor.__dict__.get("_query_language_per_scope"), list):
        raise RuntimeError("Preprocessor no longer has a class-level _query_language_per_scope")
    original_init = Preprocessor.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self._query_language_per_scope = []

    def patch() -> None:
        Preprocessor.__init__ = __init__

    _once("preprocessor_scope_leak", patch)


# --- 5. Lambda: call the Python handler in this process -----------------------------------
# With {"lambda": {"use_docker": False}} moto's Lambda only echoes the payload. Call the
# function's Handler ("tasks.list_items.handler") in-process with the function's environment;
# a raised exception becomes {"errorType": <class name>, "errorMessage": ...} with the
# x-amz-function-error header, so the ASL error name is the class name, as on AWS.


def fix_lambda_runs_handlers() -> None:
    """Make moto's Docker-less Lambda call the function's Python handler in-process."""
    from moto.awslambda_simple.models import LambdaSimpleBackend

    original_invoke = LambdaSimpleBackend.invoke

    def invoke(
        self: Any,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> bytes:
        function = self.get_function(function_name, qualifier)
        if not is_local_handler(function.handler):
            # Not one of ours (e.g. another test's moto in this process): moto's echo.
            return original_invoke(self, function_name, qualifier, body, headers, response_headers)
        payload, function_error = invoke_in_process(function, body)
        if function_error:
            response_headers["x-amz-function-error"] = function_error
        return payload

    def patch() -> None:
        LambdaSimpleBackend.invoke = invoke

    _once("lambda_runs_handlers", patch)


# --- 6. ECS: each task is a subprocess running the container's entrypoint ------------------
# moto's ECS "runs" a task by storing it; .sync sees STOPPED at once and never looks at an
# exit code. Instead start the container's command as a subprocess with the task's
# ContainerOverrides environment (plus the local endpoint, dummy credentials and the GitHub
# settings), report RUNNING until it exits, and fail the .sync state with States.TaskFailed
# on a non-zero exit code, as Step Functions does on AWS. The Map's MaxConcurrency bounds how
# many iterations, hence how many subprocesses, run at once.


def fix_ecs_runs_processes() -> None:
    """Run each ECS task as a subprocess and fail .sync on a non-zero exit code."""
    from moto.ecs.models import EC2ContainerServiceBackend, Task
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (  # noqa: E501
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_ecs import (  # noqa: E501
        StateTaskServiceEcs,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

    original_run_task = EC2ContainerServiceBackend.run_task
    original_describe_tasks = EC2ContainerServiceBackend.describe_tasks
    original_status = Task.last_status
    original_build_sync_resolver = StateTaskServiceEcs._build_sync_resolver

    def run_task(self: Any, *args: Any, **kwargs: Any) -> list[Any]:
        tasks = original_run_task(self, *args, **kwargs)
        if EMULATION.container is None:
            # Not a local run (e.g. another test's moto in this process): moto as it was.
            return tasks
        for task in tasks:
            EMULATION.start_task(task.task_arn, task.overrides)
            task._local_status = "RUNNING"
        return tasks

    def _refresh(task: Any) -> None:
        # Before the response is serialised: containers come before lastStatus in the shape.
        status, code, reason = EMULATION.task_state(task.task_arn)
        task._local_status = status
        if status == "STOPPED":
            task.desired_status = "STOPPED"
            task.stopped_reason = reason or "Essential container in task exited"
            task.stop_code = "EssentialContainerExited"
            for container in task.containers:
                container.last_status = "STOPPED"
                container.exitCode = code
                container.reason = reason or None
        else:
            for container in task.containers:
                container.last_status = "RUNNING"

    def describe_tasks(self: Any, cluster_str: str, tasks: list[str]) -> list[Any]:
        described = original_describe_tasks(self, cluster_str, tasks)
        for task in described:
            if EMULATION.is_local_task(task.task_arn):
                _refresh(task)
        return described

    def _get_last_status(self: Any) -> str:
        local_status = getattr(self, "_local_status", None)
        return local_status if local_status is not None else original_status.fget(self)

    def _build_sync_resolver(
        self: Any,
        env: Any,
        resource_runtime_part: Any,
        normalised_parameters: dict,
        state_credentials: Any,
    ) -> Any:
        resolver = original_build_sync_resolver(
            self,
            env=env,
            resource_runtime_part=resource_runtime_part,
            normalised_parameters=normalised_parameters,
            state_credentials=state_credentials,
        )

        def _resolver() -> Any:
            task = resolver()
            if task is None:
                return None
            codes = [c.get("ExitCode") for c in task.get("Containers", [])]
            if any(code != 0 for code in codes):
                error = StatesErrorNameType.StatesTaskFailed.to_name()
                raise FailureEventException(
                    failure_event=FailureEvent(
                        env=env,
                        error_name=StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed),
                        event_type=HistoryEventType.TaskFailed,
                        event_details=EventDetails(
                            taskFailedEventDetails=TaskFailedEventDetails(
                                error=error,
                                cause=to_json_str(task),
                                resource=self._get_sfn_resource(),
                                resourceType=self._get_sfn_resource_type(),
                            )
                        ),
                    )
                )
            return task

        return _resolver

    def patch() -> None:
        EC2ContainerServiceBackend.run_task = run_task
        EC2ContainerServiceBackend.describe_tasks = describe_tasks
        Task.last_status = property(_get_last_status, original_status.fset)
        StateTaskServiceEcs._build_sync_resolver = _build_sync_resolver

    _once("ecs_runs_processes", patch)


# --- 7. MockConfigFile test cases --------------------------------------------------------
# moto's interpreter can answer Task states from mocked responses (Environment.mock_test_case)
# but nothing hands it one: the LocalStack reader behind it is unreachable. The local runner
# registers a test case (read by workflow.mock_config) under the execution's name and this
# fix gives it to that execution's worker; Map iterations inherit it.


def fix_mock_test_cases() -> None:
    """Hand a registered mock test case to the execution worker of the matching execution."""
    from moto.stepfunctions.parser.backend.execution import Execution

    original = Execution._get_start_execution_worker

    def _get_start_execution_worker(self: Any) -> Any:
        worker = original(self)
        test_case = EMULATION.mock_test_case(self.name)
        if test_case is not None:
            worker._mock_test_case = test_case
        return worker

    def patch() -> None:
        Execution._get_start_execution_worker = _get_start_execution_worker

    _once("mock_test_cases", patch)


# --- 8. A fake clock for Retry intervals -------------------------------------------------
# Retriers sleep for real (IntervalSeconds, BackoffRate, jitter). Tests scale the waits to
# zero so a retried path takes milliseconds; local runs keep them (scale 1.0).


class _ScaledTime:
    """Stands in for the ``time`` module inside moto's retrier: only ``sleep`` goes through
    the emulation's Retry clock."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        EMULATION.retry_sleep(seconds)


def fix_retry_clock() -> None:
    """Route the retrier's sleep through the scalable clock."""
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    if getattr(retrier_decl, "time", None) is not time and not isinstance(
        getattr(retrier_decl, "time", None), _ScaledTime
    ):
        raise RuntimeError("moto's retrier no longer sleeps through the time module")

    def patch() -> None:
        retrier_decl.time = _ScaledTime()

    _once("retry_clock", patch)


# --- 9. Histories of Distributed Map iterations ------------------------------------------
# On AWS each item of a Distributed Map is a child execution with its own history. moto runs
# them as frames sharing one event manager (not the parent's) and exposes no way to list
# them, so the path an item took (retries, the Catch) is invisible. Give each iteration its
# own event history, as a child execution has, and keep it by execution name.


def fix_record_map_iterations() -> None:
    """Keep the event history of every Distributed Map iteration, by execution name."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor.distributed_item_processor_worker import (  # noqa: E501
        DistributedItemProcessorWorker,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_manager import (
        EventHistoryContext,
        EventManager,
    )

    original = DistributedItemProcessorWorker._eval_job

    def _eval_job(self: Any, env: Any, job: Any) -> None:
        # Concurrent iterations share one event manager; give each its own history, as a
        # child execution has on AWS.
        env.event_manager = EventManager()
        env.event_history_context = EventHistoryContext.of_program_start()
        try:
            original(self, env=env, job=job)
        finally:
            events = env.event_manager.get_event_history()
            name = env.states.context_object.context_object_data["Execution"]["Name"]
            EMULATION.record_iteration(name, job.job_index, events)

    def patch() -> None:
        DistributedItemProcessorWorker._eval_job = _eval_job

    _once("record_map_iterations", patch)


# --- 10. Emptying a versioned bucket that holds delete markers ------------------------------
# moto's S3 DeleteObjects with a VersionId disposes of what it removes, and FakeDeleteMarker
# has no dispose(): deleting a delete marker answers HTTP 500. terraform destroy of a bucket
# with force_destroy empties it exactly that way after a run deleted its staging objects.


def fix_delete_marker_dispose() -> None:
    from moto.s3.models import FakeDeleteMarker

    def patch() -> None:
        # A delete marker holds no data buffer, so there is nothing to free.
        FakeDeleteMarker.dispose = lambda self, garbage=False: None  # type: ignore[attr-defined]

    _once("delete_marker_dispose", patch)


# --- 11. Glacier restores that take time ----------------------------------------------------
# S3 takes minutes to days to restore a GLACIER / DEEP_ARCHIVE object; meanwhile HeadObject
# answers x-amz-restore: ongoing-request="true", GetObject InvalidObjectState, and a second
# RestoreObject 409 RestoreAlreadyInProgress. moto completes every restore at once, so that
# middle state cannot be tested. While restores are held, a new restore stays in progress
# (moto's own "s3::keyrestore" state model, progressed by hand) until they are released.


def fix_restore_in_progress() -> None:
    """Give RestoreObject S3's in-progress state while EMULATION holds restores."""
    from moto.s3.exceptions import S3ClientError
    from moto.s3.models import FakeKey, S3Backend

    original_restore = FakeKey.restore
    original_restore_object = S3Backend.restore_object

    def restore(self: Any, days: int) -> None:
        original_restore(self, days)
        if EMULATION.restores_held:
            self.status = "IN_PROGRESS"

    def restore_object(self: Any, bucket_name: str, key_name: str, days: Any, type_: Any) -> bool:
        key = self.get_object(bucket_name, key_name)
        if key is not None and key.expiry_date is not None and key.status == "IN_PROGRESS":
            raise S3ClientError("RestoreAlreadyInProgress", "Object restore is already in progress")
        return original_restore_object(self, bucket_name, key_name, days, type_)

    def patch() -> None:
        FakeKey.restore = restore
        S3Backend.restore_object = restore_object

    _once("restore_in_progress", patch)


# --- 12. The two calls the Terraform AWS provider makes that moto does not answer ---------------
# aws_sfn_state_machine calls ValidateStateMachineDefinition (on every plan) and
# ListStateMachineVersions; moto answers neither (HTTP 500). Validate with moto's own ASL
# static analyser, and list no versions.


def _validate_definition(definition: str) -> dict[str, Any]:
    from moto.stepfunctions.parser.asl.static_analyser.static_analyser import StaticAnalyser

    try:
        StaticAnalyser().analyse(definition)
    except Exception as error:  # noqa: BLE001 - every parser complaint is a diagnostic
        message = " ".join(str(error).split())
        return {
            "result": "FAIL",
            "diagnostics": [
                {"severity": "ERROR", "code": "SCHEMA_VALIDATION_FAILED", "message": message}
            ],
            "truncated": False,
        }
    return {"result": "OK", "diagnostics": [], "truncated": False}


def fix_terraform_answers() -> None:
    """Teach moto's Step Functions the two calls the Terraform AWS provider needs."""
    from moto.stepfunctions.responses import StepFunctionResponse

    def validate_state_machine_definition(self: Any) -> str:
        return json.dumps(_validate_definition(self._get_param("definition") or ""))

    def list_state_machine_versions(self: Any) -> str:
        return json.dumps({"stateMachineVersions": []})

    def patch() -> None:
        StepFunctionResponse.validate_state_machine_definition = validate_state_machine_definition
        StepFunctionResponse.list_state_machine_versions = list_state_machine_versions

    _once("terraform_answers", patch)


# --- 13. The server routes every request by listing its own package folder -----------------
# DomainDispatcherApplication.get_application holds one lock for every request while
# get_backend_for_host lists moto's package folder (an isdir per entry) and then tries some
# hundreds of URL patterns. The answer depends only on the host, so the server spent most of
# a local run's S3 time routing, one request at a time. Remember it per host.


def fix_server_routing_cache() -> None:
    """Answer get_backend_for_host from a per-host cache (it is a pure function of the host)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.get_backend_for_host

    def get_backend_for_host(self: Any, host: str | None) -> Any:
        if host is None:
            return None
        routes = self.__dict__.setdefault("_ghbackup_routes", {})
        if host not in routes:
            routes[host] = original(self, host)
        return routes[host]

    def patch() -> None:
        DomainDispatcherApplication.get_backend_for_host = get_backend_for_host

    _once("server_routing_cache", patch)


# --- 14. CopyObject ignores x-amz-copy-source-if-match ----------------------------------------
# S3 answers 412 PreconditionFailed to a CopyObject (or UploadPartCopy) whose source's ETag is
# not the one x-amz-copy-source-if-match names; moto checks only -if-none-match and copies
# whatever is there. The list step stages a warm copy on exactly this condition, so that a
# zip replaced since its state was written is never staged as that state's.


def fix_copy_source_if_match() -> None:
    """Refuse a copy whose source does not have the ETag x-amz-copy-source-if-match names."""
    from urllib.parse import unquote

    from moto.s3.exceptions import PreconditionFailed
    from moto.s3.responses import S3Response

    original = S3Response._key_response_put

    def _key_response_put(self: Any, query: dict[str, Any], key_name: str) -> Any:
        wanted = self.headers.get("x-amz-copy-source-if-match")
        source = self.headers.get("x-amz-copy-source")
        if wanted and source:
            path = unquote(source.split("?", 1)[0]).lstrip("/")
            bucket_name, _, source_key = path.partition("/")
            found = self.backend.get_object(bucket_name, source_key)
            if found is not None and wanted.strip('"') != found.etag.strip('"'):
                raise PreconditionFailed(failed_condition="x-amz-copy-source-If-Match")
        return original(self, query, key_name)

    def patch() -> None:
        S3Response._key_response_put = _key_response_put

    _once("copy_source_if_match", patch)


ALL_FIXES: tuple[Callable[[], None], ...] = (
    fix_integration_casing,
    fix_sync_retry_timeout,
    fix_states_error_names,
    fix_preprocessor_scope_leak,
    fix_lambda_runs_handlers,
    fix_ecs_runs_processes,
    fix_mock_test_cases,
    fix_retry_clock,
    fix_record_map_iterations,
    fix_delete_marker_dispose,
    fix_restore_in_progress,
    fix_terraform_answers,
    fix_server_routing_cache,
    fix_copy_source_if_match,
)


def apply_all() -> None:
    """Check the moto version, then apply every fix (idempotent)."""
    check_moto_version()
    for fix in ALL_FIXES:
        fix()
    moto_disk_s3.apply()
