"""GitHub credentials: a personal access token or a GitHub App installation.

The secret lives in memory only. It reaches the API as an ``Authorization`` header and git
as the answer of a credential helper scoped to the GitHub host that reads it from a
descriptor the parent holds (``ghbackup.git_credential``): it never appears on a command
line, in a file, in any process's environment, in a repository's config, in a log line or in
an exception message (``redact`` scrubs it from anything that might echo it).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import jwt
import requests

from ghbackup.errors import AuthenticationFailed, ConfigurationError, GitHubUnavailable
from ghbackup.records import parse_timestamp
from ghbackup.retry import Backoff, retrying

# Where the credentials are used unless GITHUB_API_URL says otherwise (GitHub Enterprise
# Server: https://HOST/api/v3).
DEFAULT_API_URL = "https://api.github.com"

# Refresh an App installation token this long before GitHub says it expires (they last 1 h).
APP_TOKEN_REFRESH_MARGIN = 300.0
MINT_ATTEMPTS = 4

_known_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def remember_secret(value: str) -> None:
    """Register a value that must never be printed; ``redact`` and the log filter hide it."""
    if value and len(value) >= 6:
        with _secrets_lock:
            _known_secrets.add(value)


def redact(text: str) -> str:
    """Replace every registered secret in ``text`` with ``***``."""
    with _secrets_lock:
        secrets = sorted(_known_secrets, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def redact_all(value: Any) -> Any:
    """``value`` with every registered secret replaced in every string inside it (dict keys
    and values, lists, tuples); other objects become their redacted ``str``. For structured
    log records, redacted before they are serialized (a secret with a newline no longer
    matches once JSON has escaped it)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_all(k): redact_all(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_all(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))


def redacting_json(record: dict[str, Any]) -> str:
    """A Powertools ``Logger(json_serializer=...)``: the whole structured record, message,
    ``extra`` keys, exception text and stack trace, scrubbed of secrets, as one JSON line."""
    return json.dumps(redact_all(record), separators=(",", ":"), ensure_ascii=False)


class RedactingFormatter(logging.Formatter):
    """Formats with ``inner`` (default: a plain Formatter) and scrubs the whole output, the
    traceback and any field the format string adds included."""

    def __init__(self, inner: logging.Formatter | None = None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record))


class RedactingFilter(logging.Filter):
    """Logging filter that scrubs registered secrets from every record's message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class Credentials:
    """Something that yields a valid token for the GitHub API and git."""

    def token(self, min_remaining: float = 0.0) -> str:
        """A token valid for at least ``min_remaining`` more seconds (where tokens expire)."""
        raise NotImplementedError

    def invalidate(self) -> None:
        """Forget a cached token (after a 401), so the next ``token()`` fetches a new one."""

    @property
    def kind(self) -> str:
        raise NotImplementedError

    def __repr__(self) -> str:  # never show the secret
        return f"<{type(self).__name__} {self.kind}>"

    @staticmethod
    def from_mapping(env: Mapping[str, str], api_url: str | None = None) -> Credentials:
        """Credentials from ``GITHUB_TOKEN`` or ``GITHUB_APP_ID`` + ``GITHUB_APP_PRIVATE_KEY``
        + ``GITHUB_APP_INSTALLATION_ID`` (the container's and the CLI's environment)."""
        token = env.get("GITHUB_TOKEN", "").strip()
        app_id = env.get("GITHUB_APP_ID", "").strip()
        if token and app_id:
            raise ConfigurationError("set either GITHUB_TOKEN or GITHUB_APP_ID, not both")
        if token:
            # ECS injects the whole stored secret; it may be the JSON form the Lambdas read.
            if token.startswith("{"):
                return Credentials.from_secret_value(
                    token, api_url or env.get("GITHUB_API_URL") or DEFAULT_API_URL
                )
            return TokenCredentials(token)
        if app_id:
            key = env.get("GITHUB_APP_PRIVATE_KEY", "")
            installation = env.get("GITHUB_APP_INSTALLATION_ID", "").strip()
            if not key or not installation:
                raise ConfigurationError(
                    "GITHUB_APP_ID needs GITHUB_APP_PRIVATE_KEY and GITHUB_APP_INSTALLATION_ID"
                )
            return AppCredentials(
                app_id=app_id,
                private_key=key,
                installation_id=installation,
                api_url=api_url or env.get("GITHUB_API_URL") or DEFAULT_API_URL,
            )
        raise ConfigurationError(
            "no GitHub credentials: set GITHUB_TOKEN, or GITHUB_APP_ID with "
            "GITHUB_APP_PRIVATE_KEY and GITHUB_APP_INSTALLATION_ID"
        )

    @staticmethod
    def from_secret_value(value: str, api_url: str) -> Credentials:
        """Credentials from a stored secret (SSM SecureString or Secrets Manager): a bare
        token, ``{"token": ...}`` or ``{"app_id", "installation_id", "private_key"}``."""
        text = value.strip()
        if not text:
            raise ConfigurationError("the stored GitHub credentials are empty")
        if not text.startswith("{"):
            return TokenCredentials(text)
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            raise ConfigurationError("the stored GitHub credentials are not valid JSON") from None
        if not isinstance(data, dict):
            raise ConfigurationError("the stored GitHub credentials must be a JSON object")
        if data.get("token"):
            return TokenCredentials(str(data["token"]))
        missing = [k for k in ("app_id", "installation_id", "private_key") if not data.get(k)]
        if missing:
            raise ConfigurationError(
                "the stored GitHub credentials need 'token', or 'app_id', 'installation_id' "
                f"and 'private_key' (missing: {', '.join(missing)})"
            )
        return AppCredentials(
            app_id=str(data["app_id"]),
            installation_id=str(data["installation_id"]),
            private_key=str(data["private_key"]),
            api_url=api_url,
        )


class TokenCredentials(Credentials):
    """A classic or fine-grained personal access token (or a pre-minted App token)."""

    def __init__(self, token: str) -> None:
        self._token = token
        remember_secret(token)

    def token(self, min_remaining: float = 0.0) -> str:
        return self._token

    @property
    def kind(self) -> str:
        return "token"


@dataclass(repr=False)
class AppCredentials(Credentials):
    """A GitHub App installation: mints an installation token from a JWT signed with the
    App's private key and refreshes it before it expires, so long captures keep working."""

    app_id: str
    installation_id: str
    private_key: str
    api_url: str
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    timeout: float = 30.0
    _token: str | None = field(default=None, init=False)
    _expires_at: float = field(default=0.0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        remember_secret(self.private_key)

    @property
    def kind(self) -> str:
        return "github-app"

    def __repr__(self) -> str:
        return f"<AppCredentials app_id={self.app_id} installation={self.installation_id}>"

    def invalidate(self) -> None:
        with self._lock:
            self._token, self._expires_at = None, 0.0

    def token(self, min_remaining: float = 0.0) -> str:
        margin = max(APP_TOKEN_REFRESH_MARGIN, min_remaining)
        with self._lock:
            if self._token is None or self.clock() >= self._expires_at - margin:
                self._token, self._expires_at = self._mint()
            return self._token

    def app_jwt(self) -> str:
        """A JWT for the App itself: issued 60 s in the past against clock drift, 9 minutes
        long (GitHub allows at most 10)."""
        now = int(self.clock())
        payload = {"iat": now - 60, "exp": now + 540, "iss": self.app_id}
        try:
            return jwt.encode(payload, self.private_key, algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError):
            raise ConfigurationError(
                "GITHUB_APP_PRIVATE_KEY is not a valid RSA private key"
            ) from None

    def _mint(self) -> tuple[str, float]:
        """POST for an installation token; 5xx and connection errors retried, bounded."""
        url = f"{self.api_url.rstrip('/')}/app/installations/{self.installation_id}/access_tokens"

        def post() -> tuple[str, float]:
            headers = {
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            }
            try:
                resp = requests.post(
                    url, headers=headers, auth=BearerAuth(self.app_jwt()), timeout=self.timeout
                )
            except requests.RequestException as exc:
                raise _MintFailed(type(exc).__name__) from None
            if resp.status_code in (401, 403, 404):
                raise AuthenticationFailed(
                    f"GitHub refused the App credentials (HTTP {resp.status_code})",
                    resp.status_code,
                )
            if resp.status_code != 201:
                raise _MintFailed(f"HTTP {resp.status_code}")
            return self._accept(resp)

        try:
            for attempt in retrying(
                Backoff(attempts=MINT_ATTEMPTS, base=2.0, cap=30.0),
                what="minting a GitHub App token",
                retry_on=lambda exc: isinstance(exc, _MintFailed),
                sleep=self.sleep,
            ):
                with attempt:
                    return post()
        except _MintFailed as exc:
            raise GitHubUnavailable(
                f"minting an App token failed {MINT_ATTEMPTS} times: {exc}"
            ) from None
        raise AssertionError("unreachable: retrying either returns or raises")

    def _accept(self, resp: requests.Response) -> tuple[str, float]:
        try:
            body = resp.json()
            token = str(body["token"])
        except (ValueError, KeyError, TypeError):
            raise GitHubUnavailable(
                "GitHub answered the App token request without a token"
            ) from None
        remember_secret(token)
        return token, _parse_expiry(body.get("expires_at"), self.clock() + 3600)


class _MintFailed(Exception):
    """A try at minting an App token that another try may mend (5xx, connection)."""


def _parse_expiry(value: Any, default: float) -> float:
    if not isinstance(value, str):
        return default
    try:
        return parse_timestamp(value).timestamp()
    except ValueError:
        return default


def safe_url(url: str) -> str:
    """``url`` without any userinfo (``https://user:token@host/x`` -> ``https://host/x``),
    for messages and logs; URLs of other forms (a local path, ``git@host:x``) unchanged."""
    parts = urlsplit(url)
    if parts.scheme and parts.netloc:
        return parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]).geturl()
    return url


class BearerAuth(requests.auth.AuthBase):
    """The token as ``Authorization: Bearer``. Given as requests' ``auth``, not as a header:
    without it requests looks the host up in ~/.netrc on every request, and an entry found
    there would replace the header with other credentials."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "BearerAuth(<redacted>)"
