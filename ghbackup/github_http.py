"""The HTTP pieces of the GitHub client: one request as it is tried, the retry signal,
error messages, origins and paths, and smaller pages for listings GitHub times out on."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from ghbackup.credentials import redact
from ghbackup.errors import GitHubError, NotFound

# The smallest page asked for when GitHub keeps timing out on a large one.
MIN_PER_PAGE = 25


@dataclass(frozen=True)
class ConditionalAnswer:
    """One answer to a conditional GET (``GitHubClient.conditional_get``)."""

    status: int
    etag: str | None = None
    last_modified: str | None = None
    body_sha256: str | None = None
    next_url: str | None = None
    body: bytes = b""  # empty for a 304


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often to wait. Defaults follow GitHub's guidance."""

    max_attempts: int = 6  # per request, for 5xx / connection errors / secondary limits
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    secondary_backoff_start: float = 60.0  # GitHub: wait at least a minute when no retry-after
    max_rate_limit_wait: float = 3600.0  # a single wait longer than this gives up
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    download_read_timeout: float = 300.0
    min_download_rate: float = 10_000.0  # bytes/s averaged, checked after two minutes


class OptionalResource:
    """Result of fetching something that may legitimately be absent (disabled, forbidden)."""

    def __init__(self, value: Any = None, reason: str | None = None) -> None:
        self.value = value
        self.reason = reason

    @property
    def present(self) -> bool:
        return self.reason is None


# Statuses that mean "this resource is not available here", not "the backup failed".
_OPTIONAL_STATUSES = {
    403: "forbidden for this token",
    404: "not found",
    409: "repository is empty",
    410: "disabled",
    451: "unavailable for legal reasons",
}


def optional_or_raise(exc: GitHubError) -> OptionalResource:
    """A plain 403/404/409/410 answer means "not available here"; anything else (a rate limit
    that outlasted its waits, GitHub unavailable, bad credentials) must fail the capture,
    never pass as a skipped part."""
    if type(exc) in (GitHubError, NotFound) and exc.status in _OPTIONAL_STATUSES:
        reason = f"{_OPTIONAL_STATUSES[exc.status]} (HTTP {exc.status})"
        if exc.blocked:  # say which notice (DMCA, ToS) and where
            reason += f": {exc.blocked}"
        return OptionalResource(reason=reason)
    raise exc


@dataclass
class Request:
    """One API request as ``_send`` tries it; ``url`` and ``params`` follow redirects."""

    method: str
    url: str
    params: dict[str, Any] | None
    etag: str | None
    accept: str
    stream: bool
    read_timeout: float | None
    follow_redirects: bool
    json_body: Any
    data: bytes | IO[bytes] | None
    content_type: str | None
    creates: bool
    origin: tuple[str, str]
    if_modified_since: str | None = None


class TryAgain(Exception):
    """A try that another may mend: ``final`` is the error when none is left, ``wait`` the
    seconds GitHub asked for (None: back off)."""

    def __init__(self, why: str, final: GitHubError, wait: float | None = None) -> None:
        super().__init__(why)
        self.final = final
        self.wait = wait


class TransientError(Exception):
    pass


def smaller_pages(
    url: str, query: dict[str, Any] | None
) -> tuple[str, dict[str, Any] | None] | None:
    """The request for the first half of the page ``url`` (+ ``query``) asks for, in pages
    half the size; None below MIN_PER_PAGE. Page-numbered listings keep their place (page n
    of size p starts where page 2n-1 of size p/2 does); cursor listings just shrink."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)  # repeated keys kept, in order
    pairs += [(k, str(v)) for k, v in (query or {}).items()]
    fields = dict(pairs)
    try:
        size = int(fields.get("per_page", 30))  # GitHub's default page size
        page = int(fields["page"]) if "page" in fields else None
    except ValueError:
        return None
    if size // 2 < MIN_PER_PAGE:
        return None
    changed = {"per_page": str(size // 2)}
    if page is not None:
        changed["page"] = str(2 * page - 1)
    kept: list[tuple[str, str]] = []
    for key, value in pairs:
        if key in changed:  # once, where it first stood
            value = changed.pop(key)
        elif key in ("per_page", "page"):
            continue  # a repeat of a key already changed
        kept.append((key, value))
    kept += changed.items()  # not in the request before
    return urlunsplit(parts._replace(query=urlencode(kept))), None


def error_message(resp: requests.Response) -> tuple[str, str | None]:
    """GitHub's message of an error answer, one line, and the block notice when GitHub
    blocked the resource (451 or 403 with ``block``: a DMCA or ToS notice, and its page)."""
    blocked = None
    try:
        body = resp.json()
        message = body.get("message", "") if isinstance(body, dict) else ""
        block = body.get("block") if isinstance(body, dict) else None
        if isinstance(block, dict):
            why = block.get("reason") or "unspecified reason"
            message = f"{message or 'Repository access blocked'} by GitHub ({why})"
            if block.get("html_url"):
                message += f": {block['html_url']}"
            blocked = one_line(message)
    except ValueError:
        message = resp.text[:200] if resp.text else ""
    return one_line(message), blocked


def one_line(text: str) -> str:
    return redact(" ".join(str(text).split()))[:200]


def origin_of(url: str) -> tuple[str, str]:
    """(scheme, host[:port]) with the scheme's default port left out."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    default = {"https": 443, "http": 80}.get(scheme)
    port = parts.port if parts.port not in (None, default) else None
    return scheme, host if port is None else f"{host}:{port}"


def describe(exc: BaseException) -> str:
    # The type only: requests' messages embed URLs and pool internals, never useful in a log.
    return type(exc).__name__


def path_of(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).path or url


def to_float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def never_sent(exc: requests.RequestException) -> bool:
    """Whether the request certainly never reached GitHub (no connection was made)."""
    from urllib3.exceptions import NewConnectionError

    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(exc, requests.ConnectionError) and isinstance(reason, NewConnectionError)


class EnvironmentOnceSession(requests.Session):
    """A requests Session that reads the proxy and CA settings of the environment once per
    host instead of on every request: requests walks the whole of ``os.environ`` twice per
    request to find proxies, which cost the list step more CPU than its probes. The
    environment's proxy settings do not change while a process runs."""

    def __init__(self) -> None:
        super().__init__()
        self._settings: dict[tuple[str, str], Any] = {}
        self._settings_lock = threading.Lock()

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        if proxies or not self.trust_env:  # a caller's own proxies: requests decides
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(str(url))
        where = (parts.scheme, parts.netloc)
        with self._settings_lock:
            found = self._settings.get(where)
        if found is None:
            found = super().merge_environment_settings(url, {}, None, None, None)
            with self._settings_lock:
                self._settings[where] = found
        return {
            "proxies": dict(found["proxies"]),
            "stream": self.stream if stream is None else stream,
            "verify": found["verify"] if verify is None or verify is True else verify,
            "cert": self.cert if cert is None else cert,
        }


def new_session(pool_size: int = 16) -> requests.Session:
    """A pooled session without requests' own retries (the client's retry decides)."""
    session = EnvironmentOnceSession()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
