"""ECS task entrypoint: environment in, one backed-up item out, exit code for Step Functions.

Environment (docs/design.md): BACKUP_ITEM, RUN_ID, BACKUP_BUCKET + BACKUP_PREFIX or
BACKUP_OUTPUT_DIR, GITHUB_API_URL, GITHUB_TOKEN or GITHUB_APP_ID + GITHUB_APP_PRIVATE_KEY +
GITHUB_APP_INSTALLATION_ID, optional GHBACKUP_SCRATCH_DIR. Exit 0 only when the item is
complete and stored; otherwise the error's exit code and one line on stderr.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

from ghbackup.backup import backup_item
from ghbackup.credentials import DEFAULT_API_URL, Credentials, RedactingFilter, redact
from ghbackup.errors import BackupError, ConfigurationError, StorageError, exit_code_for
from ghbackup.github import GitHubClient, RetryPolicy
from ghbackup.gitmirror import GitSettings
from ghbackup.records import BackupItem
from ghbackup.store import Destination, DirectoryDestination, S3Destination

logger = Logger(service="ghbackup-capture")


def main(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    _configure_logging()
    try:
        item = BackupItem.from_json(_required(env, "BACKUP_ITEM"))
        run_id = _required(env, "RUN_ID")
        credentials = Credentials.from_mapping(env)
        api_url = env.get("GITHUB_API_URL") or DEFAULT_API_URL
        destination = _destination(env)
        policy, git = _retry_settings(env)
    except BackupError as exc:
        return _fail(exc)

    logger.append_keys(run_id=run_id, item=item.key)
    client = GitHubClient(api_url, credentials, policy=policy)
    scratch = Path(env["GHBACKUP_SCRATCH_DIR"]) if env.get("GHBACKUP_SCRATCH_DIR") else None
    logger.info("capture started")
    try:
        result = backup_item(
            item,
            client,
            destination,
            run_id=run_id,
            scratch=scratch,
            progress=_log_progress,
            git=git,
        )
    except StorageError as exc:
        return _fail(exc)
    logger.info(
        "capture finished",
        extra={
            "status": result.status,
            "zip_bytes": result.zip_bytes,
            "github_requests": result.github_requests,
            "counts": result.counts,
            "skipped": result.skipped,
        },
    )
    if result.status != "succeeded":
        print(f"ghbackup: {item.key}: {result.error_type}: {result.error}", file=sys.stderr)
        return exit_code_for(result.error_type)
    return 0


def _destination(env: Mapping[str, str]) -> Destination:
    bucket, out_dir = env.get("BACKUP_BUCKET"), env.get("BACKUP_OUTPUT_DIR")
    if bucket and out_dir:
        raise ConfigurationError("set BACKUP_BUCKET or BACKUP_OUTPUT_DIR, not both")
    if out_dir:
        return DirectoryDestination(Path(out_dir))
    if bucket:
        import boto3
        from botocore.config import Config

        config = Config(
            retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=10, read_timeout=120
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


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"{name} is not set")
    return value


def _fail(exc: BackupError) -> int:
    message = redact(str(exc))
    logger.error("capture failed", extra={"error_type": type(exc).__name__, "error": message})
    print(f"ghbackup: {type(exc).__name__}: {message}", file=sys.stderr)
    return exc.exit_code


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
