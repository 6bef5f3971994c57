"""ECS task entrypoint: environment in, backed-up items out, exit code for Step Functions.

Environment (docs/design.md): BACKUP_BATCH (a pointer into the run's items.json, what the
state machine sends) or BACKUP_ITEM (one item), RUN_ID, BACKUP_BUCKET + BACKUP_PREFIX or
BACKUP_OUTPUT_DIR, GITHUB_API_URL, the credentials' location GITHUB_CREDENTIALS_PARAMETER (SSM
SecureString) or GITHUB_CREDENTIALS_SECRET (Secrets Manager), read with the task's role, or
else (a laptop) GITHUB_TOKEN or GITHUB_APP_ID + GITHUB_APP_PRIVATE_KEY +
GITHUB_APP_INSTALLATION_ID, optional GHBACKUP_SCRATCH_DIR, GHBACKUP_CONCURRENCY (items of a
batch captured at once, default 4) and GHBACKUP_STOP_GRACE_SECONDS (how long items already
running may finish after SIGTERM, default 20; keep it under the task's stopTimeout).

Exit codes: for a batch, 0 when every item ended in a final result (succeeded, or failed in a
way a retry cannot fix) and non-zero only when a retry can help (ghbackup.batch); for one
item, 0 only when the item is complete and stored. Failures are one line each on stderr.
No credential is ever in an environment the task gives away: read from SSM or Secrets
Manager they never enter one; given as GITHUB_TOKEN they leave the process environment
before anything else runs (so no child inherits them); git gets the token through a
descriptor (ghbackup.git_credential). Every log line (message, extra fields, traceback) is
scrubbed of them (ghbackup.credentials.redacting_json).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from pathlib import Path
from types import FrameType

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

from ghbackup.backup import backup_item
from ghbackup.batch import (
    DEFAULT_CONCURRENCY,
    STOPPED_EXIT_CODE,
    backup_batch,
    has_final_result,
    read_item_list,
)
from ghbackup.credentials import (
    DEFAULT_API_URL,
    Credentials,
    RedactingFilter,
    redact,
    redacting_json,
    remember_secret,
)
from ghbackup.errors import (
    BackupError,
    ConfigurationError,
    InvalidItem,
    StorageError,
    exit_code_for,
    is_retryable,
)
from ghbackup.github import GitHubClient, RetryPolicy
from ghbackup.gitmirror import GitSettings
from ghbackup.incremental import prepare_capture
from ghbackup.kept_pages import keep_pages
from ghbackup.records import BackupItem, BatchPointer, ItemResult
from ghbackup.store import Destination, DirectoryDestination, S3Destination
from ghbackup.stored_credentials import read_stored_credentials, stored_location

# Every field of every line (message, extra keys, traceback) scrubbed of secrets.
logger = Logger(service="ghbackup-capture", json_serializer=redacting_json)

# Variables holding a secret: read once, then removed from the process environment.
SECRET_VARIABLES = ("GITHUB_TOKEN", "GITHUB_APP_PRIVATE_KEY")
# An item is under 200 characters; a longer BACKUP_ITEM is refused without being echoed.
MAX_ITEM_CHARS = 4096
MAX_MESSAGE_CHARS = 500


def main(env: MutableMapping[str, str] | Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    for name in SECRET_VARIABLES:
        remember_secret(env.get(name, "").strip())  # before anything can log it
    # Out of the environment before anything runs: the variables' values are kept in
    # ``given`` only until the credentials are built from them.
    given = {name: env[name] for name in SECRET_VARIABLES if name in env}
    forget_credentials(env)
    _configure_logging()
    try:
        return _main(env, given)
    except Exception as exc:  # noqa: BLE001 - one scrubbed line, never a raw traceback
        logger.exception("entrypoint failed")
        detail = redact(f"{type(exc).__name__}: {exc}".splitlines()[0])[:MAX_MESSAGE_CHARS]
        print(f"ghbackup: UnexpectedError: {detail}", file=sys.stderr)
        return exit_code_for("UnexpectedError")


def _main(env: MutableMapping[str, str] | Mapping[str, str], given: dict[str, str]) -> int:
    try:
        credentials = _credentials(env, given)
        given.clear()
        batch_text, item_text = env.get("BACKUP_BATCH", "").strip(), _item_text(env)
        if batch_text and item_text:
            raise ConfigurationError("set BACKUP_BATCH or BACKUP_ITEM, not both")
        pointer = BatchPointer.from_json(batch_text) if batch_text else None
        item = None if pointer else BackupItem.from_json(_required_item(item_text))
        run_id = _required(env, "RUN_ID")
        api_url = env.get("GITHUB_API_URL") or DEFAULT_API_URL
        concurrency = _concurrency(env)
        destination = _destination(env, concurrency)
        policy, git = _retry_settings(env)
        grace = _grace_seconds(env)
    except BackupError as exc:
        return _fail(exc)
    scratch = Path(env["GHBACKUP_SCRATCH_DIR"]) if env.get("GHBACKUP_SCRATCH_DIR") else None

    def capture(one: BackupItem, workdir: Path | None) -> ItemResult:
        client = GitHubClient(api_url, credentials, policy=policy)
        logger.info("capture started", extra={"item": one.key})
        result = backup_item(
            one,
            client,
            destination,
            run_id=run_id,
            scratch=workdir,
            progress=_log_progress,
            git=git,
            before_capture=_observer(destination, run_id, one, client),
            # The execution input's verify_items, carried by the batch pointer.
            verify=pointer.verify_items if pointer else True,
        )
        captured = result.status == "succeeded" and result.capture != "reused"
        if captured and isinstance(destination, S3Destination):
            keep_pages(destination.s3, destination.bucket, run_id, one, client)
        logger.info(
            "capture finished",
            extra={
                "item": one.key,
                "status": result.status,
                "zip_bytes": result.zip_bytes,
                "github_requests": result.github_requests,
                "verified": result.verified,
                "verify_seconds": result.verify_seconds,
                "counts": result.counts,
                "skipped": result.skipped,
            },
        )
        return result

    logger.append_keys(run_id=run_id)
    if pointer is None:
        assert item is not None
        return _run_item(item, capture, scratch)
    return _run_batch(
        pointer, destination, run_id, capture, scratch, concurrency=concurrency, grace=grace
    )


def _run_item(
    item: BackupItem, capture: Callable[[BackupItem, Path | None], ItemResult], scratch: Path | None
) -> int:
    """One item, as ``ghbackup backup-item`` and older callers run it: exit 0 only when it
    is complete and stored. SIGTERM ends the capture at once (its scratch folder removed,
    nothing stored)."""
    logger.append_keys(item=item.key)
    previous = signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        result = capture(item, scratch)
    except StorageError as exc:
        return _fail(exc)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if result.status != "succeeded":
        _print_line(f"{item.key}: {result.error_type}: {result.error}")
        return exit_code_for(result.error_type)
    return 0


def _run_batch(
    pointer: BatchPointer,
    destination: Destination,
    run_id: str,
    capture: Callable[[BackupItem, Path | None], ItemResult],
    scratch: Path | None,
    *,
    concurrency: int,
    grace: float,
) -> int:
    """The batch's items, ``concurrency`` at a time; see ghbackup.batch."""
    logger.append_keys(batch=pointer.batch)
    try:
        items = pointer.select(read_item_list(destination))
    except BackupError as exc:
        return _fail(exc)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if not stop.is_set():
            logger.warning(
                "stop requested: no new item starts",
                extra={"signal": signal.Signals(signum).name, "grace_seconds": grace},
            )
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    # Every item's scratch folder lives under this one, removed on every way out.
    root = Path(tempfile.mkdtemp(prefix="ghbackup-batch-", dir=scratch))
    logger.info("batch started", extra={"items": len(items), "first": pointer.first})
    try:
        outcome = backup_batch(
            items,
            lambda item: capture(item, root),
            already_final=lambda item: has_final_result(destination, item, run_id),
            concurrency=concurrency,
            stop=stop,
            grace_seconds=grace,
        )
        if outcome.unfinished:
            _end_child_processes()
    finally:
        shutil.rmtree(root, ignore_errors=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    failed = [r for r in outcome.results if r.status != "succeeded"]
    for result in failed:
        _print_line(f"{result.item.key}: {result.error_type}: {result.error}")
    for item, error in outcome.storage_errors:
        _print_line(f"{item.key}: StorageError: {redact(str(error))}")
    summary = (
        f"batch {pointer.batch}: {len(outcome.results) - len(failed)} succeeded, "
        f"{sum(1 for r in failed if not is_retryable(r.error_type))} failed for good, "
        f"{sum(1 for r in failed if is_retryable(r.error_type)) + len(outcome.storage_errors)}"
        f" failed and worth a retry, {len(outcome.skipped)} already final"
    )
    if outcome.stopped:
        summary += (
            f", stopped with {len(outcome.not_started)} not started and "
            f"{len(outcome.unfinished)} unfinished"
        )
    logger.info("batch finished", extra={"summary": summary, "exit_code": outcome.exit_code})
    _print_line(summary)
    if outcome.unfinished:
        # Capture threads are still running and would keep the interpreter alive.
        logging.shutdown()
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(outcome.exit_code)
    return outcome.exit_code


def _credentials(env: Mapping[str, str], given: Mapping[str, str]) -> Credentials:
    """From where a deployment stores them (GITHUB_CREDENTIALS_PARAMETER or _SECRET), or
    from the variables a person set (``given``: GITHUB_TOKEN, or the App's), not both."""
    api_url = env.get("GITHUB_API_URL") or DEFAULT_API_URL
    if stored_location(env) is not None:
        if any(value.strip() for value in given.values()):
            names = " and ".join(sorted(given))
            raise ConfigurationError(
                f"set GITHUB_CREDENTIALS_PARAMETER (or _SECRET) or {names}, not both"
            )
        return read_stored_credentials(env, api_url)
    return Credentials.from_mapping({**env, **given}, api_url=api_url)


def forget_credentials(env: MutableMapping[str, str] | Mapping[str, str]) -> None:
    """Remove the secret variables from ``os.environ`` (and so from every child's
    environment), from ``env`` when it can change, and from the environment block the
    kernel shows in /proc/<pid>/environ."""
    for name in SECRET_VARIABLES:
        os.environ.pop(name, None)
        if isinstance(env, MutableMapping):
            env.pop(name, None)
    _blank_initial_environment(SECRET_VARIABLES)


def _blank_initial_environment(names: Sequence[str]) -> None:
    """Overwrite the values of ``names`` in the process's initial environment block.

    Unsetting a variable only removes libc's pointer to it: the bytes stay where the kernel
    put them at exec, readable through /proc/<pid>/environ by any process of the same user.
    """
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        # Fields after the command name start at field 3; env_start and env_end are 50, 51.
        env_start, env_end = int(fields[47]), int(fields[48])
        block = Path("/proc/self/environ").read_bytes()
    except (OSError, IndexError, ValueError):
        return  # not Linux: nothing the kernel exposes
    if not env_start or len(block) > env_end - env_start:
        return
    import ctypes

    if ctypes.string_at(env_start, len(block)) != block:
        return  # not the layout expected: write nothing rather than guess
    offset = 0
    for entry in block.split(b"\0"):
        name, _, value = entry.partition(b"=")
        if value and name.decode(errors="replace") in names:
            ctypes.memset(env_start + offset + len(name) + 1, ord("*"), len(value))
        offset += len(entry) + 1


def _item_text(env: Mapping[str, str]) -> str:
    text = env.get("BACKUP_ITEM", "").strip()
    if len(text) > MAX_ITEM_CHARS:
        raise InvalidItem(f"BACKUP_ITEM is {len(text)} characters, more than {MAX_ITEM_CHARS}")
    return text


def _required_item(text: str) -> str:
    if not text:
        raise ConfigurationError("set BACKUP_BATCH or BACKUP_ITEM")
    return text


def _observer(
    destination: Destination, run_id: str, item: BackupItem, client: GitHubClient
) -> Callable[[], ItemResult | None] | None:
    """In a run on S3, what an incremental run prepares before the capture: the decision
    the list step had no time for (a reused item needs no capture), the probes of an item it
    could not compare, or the pages of the item's last capture."""
    if not isinstance(destination, S3Destination):
        return None
    return lambda: prepare_capture(destination.s3, destination.bucket, run_id, item, client)


def _destination(env: Mapping[str, str], concurrency: int = 1) -> Destination:
    bucket, out_dir = env.get("BACKUP_BUCKET"), env.get("BACKUP_OUTPUT_DIR")
    if bucket and out_dir:
        raise ConfigurationError("set BACKUP_BUCKET or BACKUP_OUTPUT_DIR, not both")
    if out_dir:
        return DirectoryDestination(Path(out_dir))
    if bucket:
        import boto3
        from botocore.config import Config

        config = Config(
            retries={"max_attempts": 5, "mode": "standard"},
            connect_timeout=10,
            read_timeout=120,
            # Each concurrent item's upload uses up to 10 connections (boto3's default).
            max_pool_connections=max(10, 10 * concurrency),
        )
        return S3Destination(
            boto3.client("s3", config=config), bucket, _required(env, "BACKUP_PREFIX")
        )
    raise ConfigurationError(
        "no destination: set BACKUP_BUCKET and BACKUP_PREFIX, or BACKUP_OUTPUT_DIR"
    )


def _retry_settings(env: Mapping[str, str]) -> tuple[RetryPolicy, GitSettings]:
    """Bounded retries: GHBACKUP_RETRY_ATTEMPTS (default 6) for API calls and git processes,
    GHBACKUP_MAX_RATE_LIMIT_WAIT seconds (default 3600) for one rate-limit wait."""
    try:
        attempts = int(env.get("GHBACKUP_RETRY_ATTEMPTS", "6"))
        max_wait = float(env.get("GHBACKUP_MAX_RATE_LIMIT_WAIT", "3600"))
    except ValueError:
        raise ConfigurationError(
            "GHBACKUP_RETRY_ATTEMPTS and GHBACKUP_MAX_RATE_LIMIT_WAIT must be numbers"
        ) from None
    if not 1 <= attempts <= 20:
        raise ConfigurationError("GHBACKUP_RETRY_ATTEMPTS must be between 1 and 20")
    return RetryPolicy(max_attempts=attempts, max_rate_limit_wait=max_wait), GitSettings(
        attempts=min(attempts, 3)
    )


def _concurrency(env: Mapping[str, str]) -> int:
    """GHBACKUP_CONCURRENCY: items of a batch captured at once (default 4, at most 16, so
    Map concurrency x this stays well under GitHub's 100 concurrent requests per token)."""
    text = env.get("GHBACKUP_CONCURRENCY", "").strip() or str(DEFAULT_CONCURRENCY)
    if not text.isdigit() or not 1 <= int(text) <= 16:
        raise ConfigurationError("GHBACKUP_CONCURRENCY must be a whole number from 1 to 16")
    return int(text)


def _grace_seconds(env: Mapping[str, str]) -> float:
    try:
        grace = float(env.get("GHBACKUP_STOP_GRACE_SECONDS", "").strip() or "20")
    except ValueError:
        grace = -1.0
    if not 0 <= grace <= 3600:
        raise ConfigurationError("GHBACKUP_STOP_GRACE_SECONDS must be seconds from 0 to 3600")
    return grace


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"{name} is not set")
    return value


def _fail(exc: BackupError) -> int:
    message = redact(str(exc))[:MAX_MESSAGE_CHARS]
    logger.error("capture failed", extra={"error_type": type(exc).__name__, "error": message})
    print(f"ghbackup: {type(exc).__name__}: {message}", file=sys.stderr)
    return exc.exit_code


def _print_line(text: str) -> None:
    line = redact(" ".join(text.split()))[:MAX_MESSAGE_CHARS]
    print(f"ghbackup: {line}", file=sys.stderr, flush=True)


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    # SystemExit unwinds through the capture: its scratch folder is removed, a running git
    # child is killed by subprocess.run, and no result claims a half-made zip.
    raise SystemExit(STOPPED_EXIT_CODE)


def _end_child_processes() -> None:
    """SIGTERM this process's children (git, git-lfs) still running after the grace."""
    me = os.getpid()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if parent == me:
                os.kill(int(stat.parent.name), signal.SIGTERM)
        except (OSError, ValueError, IndexError):
            continue  # gone already, or not ours to read


def _log_progress(phase: str, advance: int, total: int | None) -> None:
    logger.debug("progress", extra={"phase": phase, "advance": advance, "total": total})


def _configure_logging() -> None:
    logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))
    copy_config_to_registered_loggers(source_logger=logger, include={"ghbackup"})
    for handler in [*logger.handlers, *logging.getLogger("ghbackup").handlers]:
        handler.addFilter(RedactingFilter())
    logger.addFilter(RedactingFilter())


if __name__ == "__main__":
    sys.exit(main())
