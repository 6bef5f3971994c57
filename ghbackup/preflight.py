"""Ask GitHub once, before a run starts anything, whether the run can work at all: the API
answers, it accepts the credentials, and the organisations and users named exist and are
visible. Each failure is one ``BackupError`` whose message names the host and what to check,
in about a second (one try, short timeouts), instead of a run that retries for a minute and
then fails with the list step's raw error."""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from ghbackup.credentials import Credentials
from ghbackup.errors import (
    AuthenticationFailed,
    GitHubError,
    GitHubUnavailable,
    NotFound,
    RateLimitExceeded,
)
from ghbackup.github import GitHubClient
from ghbackup.github_http import RetryPolicy

# One try each: a person is waiting, and the run itself retries what is transient.
PREFLIGHT_POLICY = RetryPolicy(
    max_attempts=1, connect_timeout=5.0, read_timeout=20.0, max_rate_limit_wait=0.0
)


class GitHubUnreachable(GitHubUnavailable):
    """The API URL does not answer at all (refused, unknown host, no answer in time)."""


def check_github(
    api_url: str,
    credentials: Credentials,
    selection: Mapping[str, Any] | Any,
    *,
    client: GitHubClient | None = None,
) -> None:
    """Raise a one-line ``GitHubError`` when the run cannot work: GitHub at ``api_url``
    does not answer, rejects ``credentials``, or does not know (or does not show this
    credential) an organisation or user of ``selection`` (the execution input)."""
    client = client or GitHubClient(api_url, credentials, policy=PREFLIGHT_POLICY)
    where = api_url.rstrip("/")
    try:
        # Answered for any valid credential (a token or an App installation) and free.
        client.get("rate_limit")
    except NotFound:
        pass  # GitHub Enterprise Server without rate limiting: 404, after authentication
    except RateLimitExceeded:
        return  # the run waits for the reset; nothing here can be told before it
    except AuthenticationFailed:
        raise AuthenticationFailed(
            f"GitHub at {where} rejected the {_credential_words(credentials)} (401): "
            f"check {_credential_variables(credentials)}",
            401,
        ) from None
    except GitHubUnavailable as exc:
        if exc.status is not None:
            raise GitHubUnavailable(
                f"GitHub at {where} answered HTTP {exc.status}: try again later, or check "
                "--api-url",
                exc.status,
            ) from None
        raise GitHubUnreachable(f"{_unreachable(api_url)}: check --api-url") from None
    except GitHubError as exc:  # 403 (an IP allow list, say) or another refusal
        raise GitHubError(
            f"GitHub at {where} refused the run's first request: {exc}", exc.status
        ) from None
    if not isinstance(selection, Mapping):
        return  # not an execution input at all: the run's validation names what is wrong
    try:
        for org in _names(selection.get("orgs")):
            _check_account(client, where, org, "organisation")
        for user in _names(selection.get("users")):
            _check_account(client, where, user, "user")
    except RateLimitExceeded:
        return  # as above: the run waits, and its list step asks again


def _check_account(client: GitHubClient, where: str, login: str, kind: str) -> None:
    escaped = quote(login, safe="")
    path = f"orgs/{escaped}" if kind == "organisation" else f"users/{escaped}"
    try:
        client.get(path)
        return
    except NotFound:
        pass
    except RateLimitExceeded:
        raise
    except GitHubError as exc:
        raise GitHubError(
            f"GitHub at {where} refused to show {kind} {login!r}: {exc}", exc.status
        ) from None
    if kind == "organisation":
        other = _account_type(client, login)
        if other == "User":
            raise NotFound(
                f"{login!r} is a user, not an organisation, at {where}: use --user {login}", 404
            )
        raise NotFound(
            f"organisation {login!r} not found at {where}: a typo? a user (then --user)? "
            "or a credential that cannot see it (a private organisation needs read:org, or "
            "the App installed there)",
            404,
        )
    raise NotFound(
        f"user {login!r} not found at {where}: a typo? or a credential that cannot see it",
        404,
    )


def _account_type(client: GitHubClient, login: str) -> str | None:
    try:
        answer = client.get(f"users/{quote(login, safe='')}")
    except GitHubError:
        return None
    return answer.get("type") if isinstance(answer, dict) else None


def _names(value: Any) -> Iterable[str]:
    """The strings of an input list; anything else is left to the input's own validation."""
    if isinstance(value, list):
        return [name for name in value if isinstance(name, str) and name.strip()]
    return []


def _credential_words(credentials: Credentials) -> str:
    return "GitHub App's credentials" if credentials.kind == "github-app" else "token"


def _credential_variables(credentials: Credentials) -> str:
    if credentials.kind == "github-app":
        return "GITHUB_APP_ID, GITHUB_APP_INSTALLATION_ID and GITHUB_APP_PRIVATE_KEY"
    return "GITHUB_TOKEN"


def _unreachable(api_url: str) -> str:
    """Why nothing answers at ``api_url``, naming host and port (one direct connection
    attempt tells a refusal from an unknown host or silence)."""
    parts = urlsplit(api_url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = f"{host}:{port}"
    try:
        with socket.create_connection((host, port), timeout=PREFLIGHT_POLICY.connect_timeout):
            pass
    except ConnectionRefusedError:
        return f"GitHub at {api_url} is not reachable: {target} refused the connection"
    except socket.gaierror:
        return f"GitHub at {api_url} is not reachable: unknown host {host!r}"
    except TimeoutError:
        return (
            f"GitHub at {api_url} is not reachable: {target} did not answer in "
            f"{PREFLIGHT_POLICY.connect_timeout:.0f} s"
        )
    except OSError as exc:
        return f"GitHub at {api_url} is not reachable: {target}: {exc.strerror or exc}"
    # It connects directly, so the failure was TLS, a proxy, or the server closing.
    return (
        f"GitHub at {api_url} is not reachable: {target} accepts connections but gave no "
        "HTTP answer"
    )
