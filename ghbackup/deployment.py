"""Which deployed stack the operating commands talk to, and how AWS errors reach the user.

A deployment is a bucket (run archives under ``runs/<run id>/``) and a state machine. They
come, first found wins, from the flags ``--bucket`` / ``--state-machine``, the environment
(``GHBACKUP_BUCKET``, ``GHBACKUP_STATE_MACHINE_ARN``), or the config file that
``ghbackup configure --from-terraform DIR`` writes (``$XDG_CONFIG_HOME/ghbackup/config.json``,
default ``~/.config/ghbackup/config.json``). AWS credentials, profile, region and endpoint
come from boto3's standard chain (``AWS_PROFILE``, ``AWS_REGION``, ``AWS_ENDPOINT_URL``...);
nothing here ever needs the GitHub token.

Every AWS failure becomes one of the named errors below, each with its own exit code, so a
script can tell "run the same command later" (75) from "that run does not exist" (10).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)

from ghbackup.errors import (
    AwsCredentialsMissing,
    AwsError,
    ConfigurationError,
    NotAGhbackupBucket,
)
from ghbackup.execution_input import parse_defaults
from ghbackup.s3 import error_code

CONFIG_FILE_NAME = "config.json"
TERRAFORM_TIMEOUT_SECONDS = 120
# Connect/read timeouts and bounded retries for every client the operating commands use.
CLIENT_CONFIG = Config(
    connect_timeout=10,
    read_timeout=60,
    retries={"max_attempts": 5, "mode": "standard"},
)


_CREDENTIAL_CODES = {
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidAccessKeyId",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
    "InvalidToken",
}


@contextmanager
def aws_errors(what: str) -> Iterator[None]:
    """Turn botocore's exceptions into one-line BackupErrors; ``what`` names the action."""
    try:
        yield
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise AwsCredentialsMissing(
            f"{what}: no AWS credentials ({type(exc).__name__}); set AWS_PROFILE or the "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY pair"
        ) from None
    except ProfileNotFound as exc:
        raise AwsCredentialsMissing(f"{what}: {exc}") from None
    except NoRegionError:
        raise ConfigurationError(f"{what}: no AWS region; set AWS_REGION") from None
    except ClientError as exc:
        code = error_code(exc)
        if code in _CREDENTIAL_CODES:
            raise AwsCredentialsMissing(f"{what}: AWS rejected the credentials ({code})") from None
        if code == "NoSuchBucket":
            raise NotAGhbackupBucket(f"{what}: the bucket does not exist") from None
        raise AwsError(
            f"{what}: {code}: {exc.response.get('Error', {}).get('Message', '')}".rstrip(": ")
        ) from None
    except (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError) as exc:
        raise AwsError(f"{what}: AWS is unreachable: {exc}") from None
    except BotoCoreError as exc:
        raise AwsError(f"{what}: {type(exc).__name__}: {exc}") from None


# --------------------------------------------------------------------------- deployment


@dataclass
class Deployment:
    """The bucket and state machine of one deployed stack, and the AWS session to reach
    them."""

    bucket: str | None
    state_machine_arn: str | None
    region: str | None = None

    def require_bucket(self) -> str:
        if not self.bucket:
            raise ConfigurationError(
                "which bucket? pass --bucket, set GHBACKUP_BUCKET, or run "
                "`ghbackup configure --from-terraform DIR`"
            )
        return self.bucket

    def require_state_machine(self) -> str:
        if not self.state_machine_arn:
            raise ConfigurationError(
                "which state machine? pass --state-machine, set GHBACKUP_STATE_MACHINE_ARN, "
                "or run `ghbackup configure --from-terraform DIR`"
            )
        return self.state_machine_arn

    def client(self, service: str) -> Any:
        """A boto3 client from the standard chain. AWS_REGION is honoured (older botocore
        reads only AWS_DEFAULT_REGION); the region in a state machine ARN is the fallback."""
        import boto3

        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None
        with aws_errors("AWS session"):
            session = boto3.Session()
            region = (
                region or session.region_name or self.region or _arn_region(self.state_machine_arn)
            )
            if session.get_credentials() is None:
                raise NoCredentialsError()
            return cast(Any, session).client(service, region_name=region, config=CLIENT_CONFIG)


def _arn_region(arn: str | None) -> str | None:
    parts = (arn or "").split(":")
    return parts[3] if len(parts) > 4 and parts[3] else None


def config_dir(env: Mapping[str, str] = os.environ) -> Path:
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".config")
    return Path(base) / "ghbackup"


def config_path(env: Mapping[str, str] = os.environ) -> Path:
    return config_dir(env) / CONFIG_FILE_NAME


def read_config(env: Mapping[str, str] = os.environ) -> dict[str, Any]:
    path = config_path(env)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigurationError(f"{path}: not readable JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path}: not a JSON object")
    return data


def resolve_deployment(
    bucket: str | None = None,
    state_machine_arn: str | None = None,
    env: Mapping[str, str] = os.environ,
) -> Deployment:
    """Flags first, then the environment, then the config file."""
    config = read_config(env)
    return Deployment(
        bucket=bucket or env.get("GHBACKUP_BUCKET") or config.get("bucket"),
        state_machine_arn=state_machine_arn
        or env.get("GHBACKUP_STATE_MACHINE_ARN")
        or config.get("state_machine_arn"),
        region=config.get("region"),
    )


def _output_value(outputs: Mapping[str, Any], name: str) -> Any:
    """An output of ``terraform output -json``: at the top, or inside an object output (a
    root module that exposes the whole module as one output)."""
    if name in outputs:
        return outputs[name].get("value")
    for output in outputs.values():
        value = output.get("value") if isinstance(output, Mapping) else None
        if isinstance(value, Mapping) and name in value:
            return value[name]
    return None


def deployment_from_terraform(
    directory: Path, *, timeout: float = TERRAFORM_TIMEOUT_SECONDS
) -> Deployment:
    """Read ``bucket_name`` and ``state_machine_arn`` from ``terraform output -json``."""
    if not Path(directory).is_dir():
        raise ConfigurationError(f"{directory}: not a directory")
    try:
        proc = subprocess.run(
            ["terraform", "output", "-json"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise ConfigurationError("terraform is not installed (not on PATH)") from None
    except subprocess.TimeoutExpired:
        raise ConfigurationError(f"terraform output did not answer in {timeout:.0f} s") from None
    if proc.returncode != 0:
        first = next((line for line in proc.stderr.splitlines() if line.strip()), "no message")
        raise ConfigurationError(f"terraform output failed in {directory}: {first.strip()}")
    try:
        outputs = json.loads(proc.stdout or "{}")
    except json.JSONDecodeError:
        raise ConfigurationError("terraform output -json did not print JSON") from None
    bucket = _output_value(outputs, "bucket_name")
    arn = _output_value(outputs, "state_machine_arn")
    if not bucket or not arn:
        missing = [n for n, v in (("bucket_name", bucket), ("state_machine_arn", arn)) if not v]
        raise ConfigurationError(
            f"terraform output in {directory} has no {' or '.join(missing)}: is the stack applied?"
        )
    return Deployment(bucket=str(bucket), state_machine_arn=str(arn), region=_arn_region(str(arn)))


def write_config(deployment: Deployment, env: Mapping[str, str] = os.environ) -> Path:
    """Store the deployment in the config file (atomically, readable by the user only)."""
    path = config_path(env)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        json.dumps(asdict(deployment), indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    tmp.chmod(0o600)
    tmp.replace(path)
    return path


_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_STATE_MACHINE_ARN = re.compile(
    r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]{1,80}$"
)


def deployment_from_arguments(bucket: str, state_machine_arn: str) -> Deployment:
    """A stack deployed elsewhere (another Terraform state, another team's account), named
    by hand: ConfigurationError, one line, when either name cannot be what AWS accepts."""
    if not _BUCKET_NAME.match(bucket) or ".." in bucket:
        raise ConfigurationError(
            f"--bucket {bucket!r} is not an S3 bucket name (3-63 lowercase letters, digits, "
            "dots and hyphens; no s3:// prefix)"
        )
    if not _STATE_MACHINE_ARN.match(state_machine_arn):
        raise ConfigurationError(
            f"--state-machine {state_machine_arn!r} is not a state machine ARN "
            "(arn:aws:states:REGION:ACCOUNT:stateMachine:NAME)"
        )
    return Deployment(
        bucket=bucket, state_machine_arn=state_machine_arn, region=_arn_region(state_machine_arn)
    )


def stack_defaults(deployment: Deployment) -> dict[str, Any]:
    """What ``{}`` means for this stack: the DEFAULT_INPUT of the function the state
    machine starts with (the validation step, which merges every input over it). Needs
    states:DescribeStateMachine, lambda:GetFunctionConfiguration and, when a customer key
    encrypts the function's variables, its kms:Decrypt; AwsError otherwise."""
    machine = deployment.require_state_machine()
    with aws_errors("read the stack's defaults"):
        definition = json.loads(
            deployment.client("stepfunctions").describe_state_machine(stateMachineArn=machine)[
                "definition"
            ]
        )
        first = definition.get("States", {}).get(definition.get("StartAt"), {})
        function = (first.get("Parameters") or {}).get("FunctionName")
        if not isinstance(function, str):
            raise ConfigurationError(
                f"{machine} does not start with ghbackup's validation function"
            )
        config = deployment.client("lambda").get_function_configuration(FunctionName=function)
    environment = config.get("Environment") or {}
    if "Error" in environment:
        # A customer-managed key encrypts the variables: reading them needs its kms:Decrypt.
        error = environment["Error"]
        raise AwsError(
            f"read the stack's defaults: {error.get('ErrorCode', 'Error')}: "
            f"{error.get('Message', '')}".rstrip(": ")
        )
    return parse_defaults((environment.get("Variables") or {}).get("DEFAULT_INPUT"))
