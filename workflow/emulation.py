"""What a local run needs that moto does not emulate, held by one object.

moto's Lambda only echoes and its ECS only stores tasks. A local run calls the functions'
Python handlers in this process and runs each ECS task as a process of the container's
entrypoint; tests also answer Task states from a MockConfigFile, scale Retry waits to zero,
read each Distributed Map iteration's history and hold Glacier restores in progress.
``LocalEmulation`` keeps all of that state; ``EMULATION`` is the one instance the moto
hooks in ``workflow.moto_fixes`` consult (moto's classes are patched once per process).
Nothing here patches moto: every patch lives in ``workflow.moto_fixes``.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Handlers a local run may call in-process, by their module.
LOCAL_HANDLER_MODULES = frozenset(
    {"tasks.validate_input", "tasks.list_items", "tasks.finalize_run"}
    | {"tasks.drill_plan", "tasks.drill_check", "tasks.drill_report"}
)


# -- Lambda: handlers in this process ---------------------------------------------------------


@dataclass
class LambdaContext:
    """The attributes of AWS's Lambda context object that Powertools reads."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = ""
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    deadline_epoch_ms: int = 0

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.deadline_epoch_ms - int(time.time() * 1000))


@contextlib.contextmanager
def patched_environment(variables: Mapping[str, str], unset: Iterable[str] = ()) -> Iterator[None]:
    """``os.environ`` with ``variables`` set and ``unset`` removed; as it was afterwards."""
    removed = tuple(unset)
    saved = {name: os.environ.get(name) for name in {*variables, *removed}}
    for name in removed:
        os.environ.pop(name, None)
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def is_local_handler(handler: str) -> bool:
    """Whether a function's Handler string names one of the project's handlers."""
    return handler.rpartition(".")[0] in LOCAL_HANDLER_MODULES


def _load_handler(handler: str) -> Callable[[Any, Any], Any]:
    module_name, _, function_name = handler.rpartition(".")
    if module_name not in LOCAL_HANDLER_MODULES:
        raise RuntimeError(f"handler {handler!r} is not one the local runner may run")
    module = importlib.import_module(module_name)
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    for client_name in ("s3", "sfn", "sns"):
        client = getattr(module, client_name, None)
        # A module imported before the local endpoint was set talks to real AWS: reload it.
        if client is not None and client.meta.endpoint_url != endpoint:
            module = importlib.reload(module)
            break
    return getattr(module, function_name)  # type: ignore[no-any-return]


_lambda_lock = threading.Lock()
# Powertools warns on every handler that publishes no metric of its own; on AWS that goes to
# CloudWatch, here it would be printed to the person running the command, twice a run.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)


def invoke_in_process(function: Any, body: bytes | str | None) -> tuple[bytes, str | None]:
    """Run a moto Lambda function's Python handler; return (payload, function error)."""
    event = json.loads(body or "{}")
    context = LambdaContext(
        function_name=function.function_name,
        invoked_function_arn=function.function_arn,
        aws_request_id=os.urandom(16).hex(),
        deadline_epoch_ms=int(time.time() * 1000) + int(function.timeout or 3) * 1000,
    )
    with _lambda_lock, patched_environment(dict(function.environment_vars or {})):
        try:
            result = _load_handler(function.handler)(event, context)
        except Exception as error:  # noqa: BLE001 - becomes the function error, as on AWS
            payload = {"errorType": type(error).__name__, "errorMessage": str(error)}
            return json.dumps(payload).encode(), "Unhandled"
    return json.dumps(result).encode(), None


# -- ECS: tasks as processes ------------------------------------------------------------------


@dataclass
class LocalContainer:
    """How the local runner runs the engine's container as a process."""

    command: list[str]
    environment: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    log_dir: Path | None = None
    timeout_seconds: float = 3600.0


@dataclass
class _LocalTask:
    process: subprocess.Popen[bytes]
    started: float
    log_path: Path | None


# What a local task must not inherit from the runner's environment: the user's GitHub
# credentials (the task reads the local SSM parameter, as on AWS) and any AWS setting (the
# container's environment gives the local endpoint and dummy credentials).
_NOT_INHERITED_PREFIXES = ("GITHUB_", "AWS_")


def inherited_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The part of the runner's environment a local task process inherits."""
    return {k: v for k, v in environ.items() if not k.startswith(_NOT_INHERITED_PREFIXES)}


def _override_command(overrides: Mapping[str, Any] | None) -> list[str] | None:
    """A container override's command (it replaces the image's CMD, as on ECS); its
    ``python`` is this interpreter."""
    for container in (overrides or {}).get("containerOverrides", []) or []:
        command = [str(part) for part in container.get("command") or []]
        if command:
            return [sys.executable if command[0] == "python" else command[0], *command[1:]]
    return None


def _override_environment(overrides: Mapping[str, Any] | None) -> dict[str, str]:
    environment: dict[str, str] = {}
    for container in (overrides or {}).get("containerOverrides", []) or []:
        for pair in container.get("environment", []) or []:
            environment[str(pair["name"])] = str(pair.get("value", ""))
    return environment


class LocalEmulation:
    """The state of the local emulation: the container that ECS tasks run, their processes,
    mocked test cases, the Retry clock, Map iteration histories and held Glacier restores."""

    def __init__(self) -> None:
        self.container: LocalContainer | None = None
        self._tasks: dict[str, _LocalTask] = {}
        self._tasks_lock = threading.Lock()
        self._task_observers: list[Callable[[str, str], None]] = []
        self._mock_test_cases: dict[str, Any] = {}
        self.retry_delay_scale = 1.0
        self._retry_delays: list[float] = []
        self._iterations: dict[str, list[dict[str, Any]]] = {}
        self._iterations_lock = threading.Lock()
        self.restores_held = False

    # -- ECS tasks ------------------------------------------------------------------------

    def configure_container(self, container: LocalContainer | None) -> None:
        """Set (or clear) what an ECS task runs; until set, tasks are moto's own."""
        self.container = container

    def is_local_task(self, task_arn: str) -> bool:
        with self._tasks_lock:
            return task_arn in self._tasks

    def running_task_count(self) -> int:
        """How many task processes are running right now (the Map's concurrency, observed)."""
        with self._tasks_lock:
            return sum(1 for task in self._tasks.values() if task.process.poll() is None)

    def add_task_observer(self, observer: Callable[[str, str], None]) -> None:
        """Call observer(task_arn, "started") when a task process starts (tests count them)."""
        self._task_observers.append(observer)

    def remove_task_observer(self, observer: Callable[[str, str], None]) -> None:
        """Stop calling an observer added with add_task_observer."""
        if observer in self._task_observers:
            self._task_observers.remove(observer)

    def start_task(self, task_arn: str, overrides: Mapping[str, Any] | None) -> None:
        """Start the container's command for ``task_arn`` with the task's overrides."""
        container = self.container
        if container is None:
            raise RuntimeError("no local container configured: call configure_container() first")
        environment = {
            **inherited_environment(os.environ),
            **container.environment,
            **_override_environment(overrides),
        }
        command = _override_command(overrides) or container.command
        log_path = None
        log_file: Any = subprocess.DEVNULL
        if container.log_dir is not None:
            container.log_dir.mkdir(parents=True, exist_ok=True)
            log_path = container.log_dir / f"{task_arn.rsplit('/', 1)[-1]}.log"
            log_file = log_path.open("wb")
        try:
            process = subprocess.Popen(
                command,
                env=environment,
                cwd=container.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        finally:
            if log_path is not None:
                log_file.close()
        with self._tasks_lock:
            self._tasks[task_arn] = _LocalTask(process, time.monotonic(), log_path)
        for observer in self._task_observers:
            observer(task_arn, "started")

    def task_state(self, task_arn: str) -> tuple[str, int | None, str]:
        """(last status, exit code, reason) of a local task process."""
        with self._tasks_lock:
            task = self._tasks.get(task_arn)
        if task is None:
            return "STOPPED", None, ""
        code = task.process.poll()
        container = self.container
        if (
            code is None
            and container
            and time.monotonic() - task.started > container.timeout_seconds
        ):
            task.process.kill()
            code = task.process.wait()
        if code is None:
            return "RUNNING", None, ""
        reason = ""
        if code != 0 and task.log_path is not None and task.log_path.exists():
            lines = task.log_path.read_text(errors="replace").strip().splitlines()
            reason = lines[-1][:255] if lines else ""
        return "STOPPED", code, reason

    def stop_task(self, task_arn: str) -> bool:
        """Send SIGTERM to a running task process, as ECS StopTask (and a Fargate Spot
        interruption) does; False when it is not running."""
        with self._tasks_lock:
            task = self._tasks.get(task_arn)
        if task is None or task.process.poll() is not None:
            return False
        task.process.terminate()
        return True

    def terminate_all_tasks(self, grace_seconds: float) -> None:
        """SIGTERM every running task process (as ECS StopTask does), wait up to
        ``grace_seconds`` for them to end, then kill the rest (an interrupted local run)."""
        with self._tasks_lock:
            tasks = list(self._tasks.values())
        running = [task for task in tasks if task.process.poll() is None]
        for task in running:
            task.process.terminate()
        deadline = time.monotonic() + grace_seconds
        for task in running:
            try:
                task.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                task.process.kill()
                task.process.wait()

    def stop_all_tasks(self) -> None:
        """Kill every task process still running (the local runner's cleanup)."""
        with self._tasks_lock:
            tasks = list(self._tasks.values())
            self._tasks.clear()
        for task in tasks:
            if task.process.poll() is None:
                task.process.kill()
                task.process.wait()

    # -- MockConfigFile test cases ---------------------------------------------------------

    def register_mock_test_case(self, execution_name: str, test_case: Any) -> None:
        """Answer the Task states of the execution ``execution_name`` from ``test_case``."""
        self._mock_test_cases[execution_name] = test_case

    def mock_test_case(self, execution_name: str) -> Any:
        return self._mock_test_cases.get(execution_name)

    # -- the Retry clock -------------------------------------------------------------------

    def set_retry_delay_scale(self, scale: float) -> None:
        """Multiply every Retry wait by ``scale`` (0.0 in tests); the asked delays are recorded."""
        self.retry_delay_scale = scale

    def retry_sleep(self, seconds: float) -> None:
        self._retry_delays.append(seconds)
        time.sleep(seconds * self.retry_delay_scale)

    def retry_delays(self) -> list[float]:
        """Every Retry wait the interpreter asked for, in seconds, before scaling."""
        return list(self._retry_delays)

    # -- Distributed Map iterations -------------------------------------------------------

    def record_iteration(self, execution_name: str, index: int, events: Any) -> None:
        with self._iterations_lock:
            self._iterations.setdefault(execution_name, []).append(
                {"index": index, "events": events}
            )

    def iteration_histories(self, execution_name: str) -> list[dict[str, Any]]:
        """``[{"index": n, "events": [...]}]`` for every Map item the execution ran."""
        with self._iterations_lock:
            return sorted(self._iterations.get(execution_name, []), key=lambda i: i["index"])

    def forget_runs(self) -> None:
        """Drop registered mock test cases and recorded iteration histories (moto's reset
        forgets the executions they belong to)."""
        self._mock_test_cases.clear()
        with self._iterations_lock:
            self._iterations.clear()

    # -- Glacier restores ------------------------------------------------------------------

    def hold_restores(self, hold: bool = True) -> None:
        """While held, RestoreObject leaves the object in progress as S3 does for hours;
        releasing completes every restore in progress (at the next read of the object)."""
        from moto.moto_api import state_manager

        self.restores_held = hold
        if hold:
            state_manager.set_transition(
                KEY_RESTORE_MODEL, {"progression": "manual", "times": 2**62}
            )
        else:
            state_manager.unset_transition(KEY_RESTORE_MODEL)


# moto's own state model for a key's restore, progressed by hand while restores are held.
KEY_RESTORE_MODEL = "s3::keyrestore"

EMULATION = LocalEmulation()
"""The emulation the moto hooks consult (moto's classes are patched once per process)."""
