"""Reading the GitHub credentials from where a deployment keeps them.

The list Lambda and the ECS task both read them here, with their own role: an SSM
SecureString parameter named by GITHUB_CREDENTIALS_PARAMETER (decrypted) or a Secrets
Manager secret named by GITHUB_CREDENTIALS_SECRET. The value is a bare token, ``{"token"}``
or a GitHub App's ``{"app_id", "installation_id", "private_key"}``
(``Credentials.from_secret_value``). Nothing of it is put in an environment, and no task
definition carries it: ECS's ``secrets`` would leave it in the environment the init
process keeps (/proc/1/environ).

Own boto3 clients rather than Powertools' parameters utility: its shared providers use
botocore's defaults (60 s timeouts, legacy retries) and keep a client bound to the first
endpoint they saw. Here every read has short timeouts and bounded retries, and the Lambda
keeps its short in-process cache (``max_age``) between warm invocations.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from ghbackup.credentials import Credentials, remember_secret
from ghbackup.errors import ConfigurationError, CredentialsUnavailable

PARAMETER_VARIABLE = "GITHUB_CREDENTIALS_PARAMETER"
SECRET_VARIABLE = "GITHUB_CREDENTIALS_SECRET"  # noqa: S105 - a variable name, not a secret

# A read gives up after about 4 tries of 5 s to connect and 15 s to answer.
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 15
MAX_ATTEMPTS = 4

# Errors a retry cannot mend: the name is wrong, or the role or the key refuses.
_FINAL_CODES = frozenset(
    {
        "ParameterNotFound",
        "ParameterVersionNotFound",
        "ResourceNotFoundException",
        "AccessDeniedException",
        "AccessDenied",
        "UnauthorizedOperation",
        "InvalidKeyId",
        "KMSAccessDeniedException",
        "KMSDisabledException",
        "KMSInvalidStateException",
        "KMSNotFoundException",
        "DecryptionFailure",
        "InvalidRequestException",
        "ValidationException",
    }
)

_cache: dict[tuple[str, str, str], tuple[str, float]] = {}
_cache_lock = threading.Lock()


def stored_location(env: Mapping[str, str]) -> tuple[str, str] | None:
    """``("ssm", name)`` or ``("secretsmanager", id)`` from ``env``, or None when neither
    variable is set; ConfigurationError when both are."""
    parameter = env.get(PARAMETER_VARIABLE, "").strip()
    secret = env.get(SECRET_VARIABLE, "").strip()
    if parameter and secret:
        raise ConfigurationError(f"set {PARAMETER_VARIABLE} or {SECRET_VARIABLE}, not both")
    if parameter:
        return "ssm", parameter
    if secret:
        return "secretsmanager", secret
    return None


def read_stored_credentials(
    env: Mapping[str, str],
    api_url: str,
    *,
    max_age: float = 0.0,
    clock: Callable[[], float] = time.monotonic,
    client: Callable[[str], Any] | None = None,
) -> Credentials:
    """The credentials stored where ``env`` says (see ``stored_location``).

    ``max_age`` > 0 reuses a value read less than that many seconds ago in this process
    (the Lambda's warm invocations). ConfigurationError when nothing names a location or
    AWS answers that the name, the role or the key is wrong; CredentialsUnavailable when
    AWS could not be reached after the bounded retries."""
    location = stored_location(env)
    if location is None:
        raise ConfigurationError(
            f"set {PARAMETER_VARIABLE} (SSM SecureString) or {SECRET_VARIABLE} (Secrets Manager)"
        )
    service, name = location
    key = (service, name, os.environ.get("AWS_ENDPOINT_URL", ""))
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None and max_age > 0 and clock() - cached[1] < max_age:
        value = cached[0]
    else:
        value = _read(service, name, client or _client)
        remember_secret(value)  # the raw value too: a JSON form holds the key
        with _cache_lock:
            _cache[key] = (value, clock())
    return Credentials.from_secret_value(value, api_url)


def forget_stored_credentials() -> None:
    """Drop every cached value (a new local AWS, a test)."""
    with _cache_lock:
        _cache.clear()


def _client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
    )
    if service == "ssm":
        return boto3.client("ssm", config=config)
    return boto3.client("secretsmanager", config=config)


def _read(service: str, name: str, client: Callable[[str], Any]) -> str:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    what = "SSM parameter" if service == "ssm" else "Secrets Manager secret"
    try:
        if service == "ssm":
            answer = client("ssm").get_parameter(Name=name, WithDecryption=True)
            value = answer["Parameter"]["Value"]
        else:
            value = client("secretsmanager").get_secret_value(SecretId=name).get("SecretString")
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code") or "unknown")
        if code in _FINAL_CODES:
            raise ConfigurationError(
                f"cannot read the GitHub credentials from {what} {name}: {code}"
            ) from None
        raise CredentialsUnavailable(
            f"reading the GitHub credentials from {what} {name} failed: {code}"
        ) from None
    except NoCredentialsError:
        raise ConfigurationError(
            f"cannot read the GitHub credentials from {what} {name}: no AWS credentials"
        ) from None
    except BotoCoreError as exc:
        raise CredentialsUnavailable(
            f"reading the GitHub credentials from {what} {name} failed: {type(exc).__name__}"
        ) from None
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"the {what} {name} holds no GitHub credentials")
    return value
