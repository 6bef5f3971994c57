"""A small, careful GitHub REST client: pagination, rate limits, retries, ETags, timeouts.

Built for GitHub's documented behaviour (docs.github.com, "Rate limits for the REST API",
"Using pagination in the REST API", "Best practices for using the REST API"):
- pagination follows ``rel="next"`` in the Link header exactly as given (it may point at
  ``/repositories/{id}/...``), ``per_page=100``; header names are case-insensitive;
- an API request follows redirects itself, and only on the API host (a renamed repository
  answers 301 to ``/repositories/{id}``); a redirect elsewhere is UnexpectedRedirect, never
  a token sent to another host nor a 404 from it taken for "not found";
- primary limit: when ``x-ratelimit-remaining`` is 0, wait until ``x-ratelimit-reset``;
- secondary limit (403/429): wait ``retry-after`` seconds when given, otherwise back off
  exponentially starting at 60 s;
- 5xx and connection errors: bounded exponential backoff with full jitter;
- conditional requests: a remembered ETag is sent as ``If-None-Match``; a 304 is free.
Every request has a (connect, read) timeout. Responses are parsed tolerantly: real GitHub
objects lack fields its schema marks required, so nothing here assumes a field exists
unless the request cannot make sense without it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import requests
from requests.adapters import HTTPAdapter

from ghbackup.credentials import Credentials, redact
from ghbackup.errors import (
    AuthenticationFailed,
    GitHubError,
    GitHubUnavailable,
    NotFound,
    RateLimitExceeded,
    UnexpectedRedirect,
    WriteOutcomeUnknown,
)
from ghbackup.retry import Backoff, retrying

log = logging.getLogger(__name__)

API_VERSION = "2022-11-28"
USER_AGENT = "ghbackup/0.1 (+https://github.com/ghbackup/ghbackup)"
PER_PAGE = 100
# The smallest page asked for when GitHub keeps timing out on a large one.
MIN_PER_PAGE = 25
# Redirects followed on the API host for one request (a rename, perhaps a transfer).
MAX_REDIRECTS = 5
_REDIRECT_STATUSES = (301, 302, 303, 307, 308)


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


def _optional_or_raise(exc: GitHubError) -> OptionalResource:
    """A plain 403/404/409/410 answer means "not available here"; anything else (a rate limit
    that outlasted its waits, GitHub unavailable, bad credentials) must fail the capture,
    never pass as a skipped part."""
    if type(exc) in (GitHubError, NotFound) and exc.status in _OPTIONAL_STATUSES:
        reason = f"{_OPTIONAL_STATUSES[exc.status]} (HTTP {exc.status})"
        if exc.blocked:  # say which notice (DMCA, ToS) and where
            reason += f": {exc.blocked}"
        return OptionalResource(reason=reason)
    raise exc


class GitHubClient:
    """Talks to one GitHub API (github.com, GitHub Enterprise ``https://HOST/api/v3``)."""

    def __init__(
        self,
        api_url: str,
        credentials: Credentials,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        session: requests.Session | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._api_origin = _origin(self.api_url)
        self.credentials = credentials
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._session = session or _new_session()
        # URL -> (ETag, body, next page URL)
        self._etags: dict[str, tuple[str, Any, str | None]] = {}
        self._lock = threading.Lock()
        self._requests = 0
        self._blocked_until = 0.0
        self.waited_seconds = 0.0

    @classmethod
    def from_credentials(
        cls, api_url: str, credentials: Credentials, **kwargs: Any
    ) -> GitHubClient:
        return cls(api_url, credentials, **kwargs)

    @property
    def requests_made(self) -> int:
        """HTTP requests sent to the API (retries included, 304s included)."""
        return self._requests

    # -- public calls -----------------------------------------------------------------

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET one resource and return its JSON; raises NotFound, AuthenticationFailed, ..."""
        return self._get_json(self._url(path), params)[0]

    def get_optional(self, path: str, params: dict[str, Any] | None = None) -> OptionalResource:
        """GET a resource that may be disabled or forbidden; 403/404/409/410 become a reason."""
        try:
            return OptionalResource(self.get(path, params))
        except GitHubError as exc:
            return _optional_or_raise(exc)

    def paginate(
        self, path: str, params: dict[str, Any] | None = None, *, wrapped_in: str | None = None
    ) -> Iterator[Any]:
        """Yield every item of a list endpoint, following ``rel="next"`` links as given.

        ``wrapped_in``: for endpoints that answer ``{"total_count": N, "<key>": [...]}``
        (``/installation/repositories`` wraps its list in ``repositories``).
        """
        query: dict[str, Any] | None = {"per_page": PER_PAGE, **(params or {})}
        url: str | None = self._url(path)
        while url:
            try:
                body, next_url = self._get_json(url, query)
            except GitHubUnavailable as exc:
                # GitHub times out building some pages of very large listings (502/504 on
                # every try): ask for the same items in smaller pages.
                smaller = _smaller_pages(url, query) if exc.status in (502, 504) else None
                if smaller is None:
                    raise
                log.warning("%s: %s; asking for smaller pages", _path_of(url), exc)
                url, query = smaller
                continue
            query = None  # the next link carries every parameter
            if wrapped_in is not None and isinstance(body, dict):
                body = body.get(wrapped_in)
            if not isinstance(body, list):
                raise GitHubError(
                    f"expected a list from {_path_of(url)}, got {type(body).__name__}"
                )
            yield from body
            url = next_url

    def list_optional(self, path: str, params: dict[str, Any] | None = None) -> OptionalResource:
        """``paginate`` into a list, with 403/404/409/410 turned into a reason."""
        try:
            return OptionalResource(list(self.paginate(path, params)))
        except GitHubError as exc:
            return _optional_or_raise(exc)

    def download(self, url: str, sink: IO[bytes], *, expected_size: int | None = None) -> int:
        """Stream a binary (a release asset) into ``sink``; returns the bytes written.

        Asks for ``application/octet-stream``; GitHub answers with a 302 to a storage host,
        which requests follows without our Authorization header (it strips it when the host
        changes). A short or cut download raises GitHubUnavailable after bounded retries; the
        caller restarts the file from scratch (``sink`` is truncated here each attempt).
        """

        def fetch() -> int:
            sink.seek(0)
            sink.truncate()
            resp = self._send(
                "GET",
                url,
                accept="application/octet-stream",
                stream=True,
                read_timeout=self.policy.download_read_timeout,
                follow_redirects=True,
            )
            written = 0
            started = self._clock()
            with resp:
                for chunk in resp.iter_content(chunk_size=1024 * 1024):
                    sink.write(chunk)
                    written += len(chunk)
                    # The read timeout catches silence, not a trickle: give up on a transfer
                    # that stays under the minimum rate and try again.
                    elapsed = self._clock() - started
                    if elapsed > 120 and written / elapsed < self.policy.min_download_rate:
                        raise _TransientError(
                            f"download slower than {self.policy.min_download_rate:.0f} B/s"
                        )
            if expected_size is not None and written != expected_size:
                raise _TransientError(f"download ended after {written} of {expected_size} bytes")
            return written

        tries = 0
        try:
            for attempt in retrying(
                Backoff(
                    self.policy.max_attempts, self.policy.backoff_base, self.policy.backoff_cap
                ),
                what=f"download of {_path_of(url)}",
                retry_on=lambda exc: isinstance(exc, _TransientError | requests.RequestException),
                sleep=self._sleep_counted,
                rng=self._rng,
            ):
                with attempt:
                    tries += 1
                    return fetch()
        except (_TransientError, requests.RequestException) as exc:
            raise GitHubUnavailable(
                f"download of {_path_of(url)} failed {tries} times: {_describe(exc)}"
            ) from None
        raise AssertionError("unreachable: retrying either returns or raises")

    def exists(self, path: str) -> bool:
        """Whether GET ``path`` answers 2xx: GitHub's "check" endpoints answer 204 or 404."""
        try:
            self._send("GET", self._url(path)).close()
        except NotFound:
            return False
        return True

    def write(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """POST, PATCH, PUT or DELETE with a JSON body; the JSON answer (None for 204).

        PATCH, PUT and DELETE set a state, so they are retried like reads. A POST creates
        something: it is retried only when GitHub certainly did not act on it (a rate-limit
        answer, a connection that never opened); after a 5xx or a dropped connection it
        raises WriteOutcomeUnknown, so the caller looks before creating the object again.
        """
        url = self._url(path)
        resp = self._send(method, url, json_body=body, creates=method == "POST")
        return _json_answer(resp, url)

    def upload(
        self,
        upload_url: str,
        name: str,
        data: bytes | IO[bytes],
        content_type: str,
        label: str | None = None,
    ) -> Any:
        """Upload a release asset to the release's ``upload_url`` (a URI template on the
        uploads host: uploads.github.com for github.com, the API host for GHES). ``data``
        may be an open file: it is streamed, and rewound for each attempt."""
        url = upload_url.split("{", 1)[0]
        origin = _origin(url)
        if not _trusted_upload_origin(origin, self._api_origin):
            raise GitHubError(
                f"GitHub returned an upload URL on {origin[1]}, not an uploads host of "
                f"{self._api_origin[1]}; not sending it the token"
            )
        params = {"name": name, **({"label": label} if label else {})}
        resp = self._send(
            "POST",
            url,
            params=params,
            data=data,
            content_type=content_type,
            creates=True,
            origin=origin,
            read_timeout=self.policy.download_read_timeout,
        )
        return _json_answer(resp, url)

    # -- internals --------------------------------------------------------------------

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.api_url}/{path.lstrip('/')}"

    def _get_json(self, url: str, params: dict[str, Any] | None) -> tuple[Any, str | None]:
        """The JSON body and the URL of the next page (``rel="next"``), if any."""
        cache_key = requests.Request("GET", url, params=params).prepare().url or url
        cached = self._etags.get(cache_key)
        resp = self._send("GET", url, params=params, etag=cached[0] if cached else None)
        if resp.status_code == 304 and cached:
            return cached[1], cached[2]
        try:
            body = resp.json()
        except ValueError:
            raise GitHubError(
                f"{_path_of(url)} returned a body that is not JSON", resp.status_code
            ) from None
        # requests parses the Link header, looked up case-insensitively.
        next_url = resp.links.get("next", {}).get("url") or None
        etag = resp.headers.get("ETag")
        if etag:
            self._etags[cache_key] = (etag, body, next_url)
        return body, next_url

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        etag: str | None = None,
        accept: str = "application/vnd.github+json",
        stream: bool = False,
        read_timeout: float | None = None,
        follow_redirects: bool = False,
        json_body: Any = None,
        data: bytes | IO[bytes] | None = None,
        content_type: str | None = None,
        creates: bool = False,
        origin: tuple[str, str] | None = None,
    ) -> requests.Response:
        """Send with every wait and retry applied; returns a 2xx or 304 response.

        ``follow_redirects``: let requests follow them (a release asset's 302 to a storage
        host, where requests drops the Authorization header). Otherwise redirects are
        followed here on the API host only, at most MAX_REDIRECTS times.
        ``creates``: a request GitHub may have acted on although it failed is not retried
        (WriteOutcomeUnknown). ``origin``: another host the token may go to (uploads).
        """
        request = _Request(method, url, params, etag, accept, stream, read_timeout,
                           follow_redirects, json_body, data, content_type, creates,
                           origin or self._api_origin)  # fmt: skip
        try:
            for attempt in retrying(
                Backoff(
                    self.policy.max_attempts, self.policy.backoff_base, self.policy.backoff_cap
                ),
                what=f"{method} {_path_of(url)}",
                retry_on=lambda exc: isinstance(exc, _TryAgain),
                wait_for=lambda exc: exc.wait if isinstance(exc, _TryAgain) else None,
                sleep=self._sleep_counted,
                rng=self._rng,
            ):
                with attempt:
                    return self._send_once(request, attempt.retry_state.attempt_number)
        except _TryAgain as exc:  # the last try still wanted another
            raise exc.final from None
        raise AssertionError("unreachable: retrying either returns or raises")

    def _send_once(self, request: _Request, attempt: int) -> requests.Response:
        """One try: redirects on the API host and one re-mint of an App token are part of
        it; anything another try may mend raises _TryAgain with the error to give when no
        try is left, and any wait GitHub asked for."""
        reauthenticated = False
        redirects = 0
        while True:
            self._wait_for_primary_reset()
            resp = self._request(request, attempt)
            self._note_rate_limit(resp)
            status = resp.status_code
            if status < 300 or status == 304:
                return resp
            if status in _REDIRECT_STATUSES and not request.follow_redirects:
                request.url = self._redirect_target(request.url, resp, redirects)
                resp.close()
                redirects += 1
                request.params = None  # the Location carries the whole query
                continue
            reason, blocked = _error_message(resp)
            resp.close()
            where = _path_of(request.url)
            if status == 401:
                # An App token may have been revoked or expired early: mint once more.
                if not reauthenticated and self.credentials.kind == "github-app":
                    reauthenticated = True
                    self.credentials.invalidate()
                    continue
                raise AuthenticationFailed(f"GitHub rejected the credentials: {reason}", 401)
            if status in (403, 429):
                wait = self._rate_limit_wait(resp, attempt, reason)
                if wait is not None:
                    self._check_wait(wait, f"rate limited (HTTP {status})")
                    raise _TryAgain(
                        f"rate limited (HTTP {status})",
                        RateLimitExceeded(
                            f"still rate limited at {where} after {attempt} attempts", status
                        ),
                        wait,
                    )
            if status >= 500:
                if request.creates:
                    raise WriteOutcomeUnknown(
                        f"{request.method} {where}: HTTP {status}; GitHub may or may not have "
                        "acted on it",
                        status,
                    )
                raise _TryAgain(
                    f"HTTP {status}",
                    GitHubUnavailable(
                        f"GitHub kept failing at {where}: HTTP {status} after {attempt} attempts",
                        status,
                    ),
                )
            error = NotFound if status == 404 else GitHubError
            raise error(f"{where}: HTTP {status} {reason}".rstrip(), status, blocked=blocked)

    def _request(self, request: _Request, attempt: int) -> requests.Response:
        """Send ``request`` once, with the token for its host only."""
        if _origin(request.url) != request.origin:
            # A URL from a response (a next page, an asset) on another host: never send it
            # the token, and never quietly fetch without it either.
            raise GitHubError(
                f"GitHub returned a URL on {_origin(request.url)[1]}, not the API host "
                f"{self._api_origin[1]}; set GITHUB_API_URL to the host GitHub answers with"
            )
        headers = {
            "Accept": request.accept,
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": USER_AGENT,
            "Authorization": f"Bearer {self.credentials.token()}",
        }
        if request.etag:
            headers["If-None-Match"] = request.etag
        if request.content_type:
            headers["Content-Type"] = request.content_type
        if hasattr(request.data, "seek"):
            request.data.seek(0)  # type: ignore[union-attr] - a retry sends a file from its start
        with self._lock:
            self._requests += 1
        try:
            return self._session.request(
                request.method,
                request.url,
                params=request.params,
                headers=headers,
                stream=request.stream,
                timeout=(
                    self.policy.connect_timeout,
                    request.read_timeout or self.policy.read_timeout,
                ),
                allow_redirects=request.follow_redirects,
                json=request.json_body,
                data=request.data,
            )
        except requests.RequestException as exc:
            where = _path_of(request.url)
            if request.creates and not _never_sent(exc):
                raise WriteOutcomeUnknown(
                    f"{request.method} {where}: connection lost ({_describe(exc)}); "
                    "GitHub may or may not have acted on it"
                ) from None
            raise _TryAgain(
                f"connection error ({_describe(exc)})",
                GitHubUnavailable(
                    f"GitHub unreachable at {where} after {attempt} attempts: {_describe(exc)}"
                ),
            ) from None

    def _redirect_target(self, url: str, resp: requests.Response, redirects: int) -> str:
        """Where a redirect of an API request leads, when it may be followed."""
        from urllib.parse import urljoin

        status = resp.status_code
        location = resp.headers.get("Location")
        if not location:
            raise UnexpectedRedirect(f"{_path_of(url)}: HTTP {status} without a Location", status)
        target = urljoin(url, location)
        if _origin(target) != self._api_origin:
            raise UnexpectedRedirect(
                f"{_path_of(url)}: HTTP {status} redirect to another host, "
                f"{_origin(target)[1]}; refusing to follow it (it would get no token, and "
                f"its answer would not be the API's)",
                status,
            )
        if redirects >= MAX_REDIRECTS:
            raise UnexpectedRedirect(
                f"{_path_of(url)}: more than {MAX_REDIRECTS} redirects on the API host", status
            )
        log.info("%s: HTTP %d, following to %s", _path_of(url), status, _path_of(target))
        return target

    def _rate_limit_wait(self, resp: requests.Response, attempt: int, reason: str) -> float | None:
        """Seconds to wait for a 403/429, or None when it is a plain permission error."""
        retry_after = resp.headers.get("Retry-After")
        if retry_after is not None:
            try:
                return max(0.0, float(retry_after))
            except ValueError:
                return self.policy.secondary_backoff_start
        if resp.headers.get("X-RateLimit-Remaining") == "0":
            reset = _float(resp.headers.get("X-RateLimit-Reset"))
            return max(1.0, (reset or self._clock() + 60) - self._clock() + 1)
        if resp.status_code == 429 or "rate limit" in reason.lower():
            return min(
                self.policy.secondary_backoff_start * 2 ** (attempt - 1),
                self.policy.max_rate_limit_wait,
            )
        return None

    def _note_rate_limit(self, resp: requests.Response) -> None:
        """After a success that used the last request of the window, pause until the reset."""
        if resp.status_code < 300 and resp.headers.get("X-RateLimit-Remaining") == "0":
            reset = _float(resp.headers.get("X-RateLimit-Reset"))
            if reset:
                with self._lock:
                    self._blocked_until = max(self._blocked_until, reset + 1)

    def _wait_for_primary_reset(self) -> None:
        with self._lock:
            until = self._blocked_until
        if until > self._clock():
            self._wait(until - self._clock(), "primary rate limit exhausted")

    def _check_wait(self, seconds: float, why: str) -> None:
        """RateLimitExceeded when GitHub asks for a wait longer than we may wait."""
        if seconds > self.policy.max_rate_limit_wait:
            raise RateLimitExceeded(
                f"{why}: GitHub asks to wait {seconds:.0f}s, more than the allowed "
                f"{self.policy.max_rate_limit_wait:.0f}s"
            )

    def _wait(self, seconds: float, why: str) -> None:
        self._check_wait(seconds, why)
        log.warning("waiting %.1fs: %s", seconds, why)
        self._sleep_counted(seconds)

    def _sleep_counted(self, seconds: float) -> None:
        self.waited_seconds += seconds
        self._sleep(seconds)


@dataclass
class _Request:
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


class _TryAgain(Exception):
    """A try that another may mend: ``final`` is the error when none is left, ``wait`` the
    seconds GitHub asked for (None: back off)."""

    def __init__(self, why: str, final: GitHubError, wait: float | None = None) -> None:
        super().__init__(why)
        self.final = final
        self.wait = wait


class _TransientError(Exception):
    pass


def _new_session() -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _smaller_pages(
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


def _json_answer(resp: requests.Response, url: str) -> Any:
    if resp.status_code == 204 or not resp.content:
        return None
    try:
        return resp.json()
    except ValueError:
        raise GitHubError(
            f"{_path_of(url)} returned a body that is not JSON", resp.status_code
        ) from None


def _never_sent(exc: requests.RequestException) -> bool:
    """Whether the request certainly never reached GitHub (no connection was made)."""
    from urllib3.exceptions import NewConnectionError

    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(exc, requests.ConnectionError) and isinstance(reason, NewConnectionError)


def _trusted_upload_origin(upload: tuple[str, str], api: tuple[str, str]) -> bool:
    """uploads.github.com for api.github.com; the API's own host (any port) otherwise."""
    if upload[0] != api[0]:
        return False
    upload_host, api_host = upload[1].split(":")[0], api[1].split(":")[0]
    if api_host == "api.github.com":
        return upload_host == "uploads.github.com"
    return upload_host == api_host


def _error_message(resp: requests.Response) -> tuple[str, str | None]:
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
            blocked = _one_line(message)
    except ValueError:
        message = resp.text[:200] if resp.text else ""
    return _one_line(message), blocked


def _one_line(text: str) -> str:
    return redact(" ".join(str(text).split()))[:200]


def _origin(url: str) -> tuple[str, str]:
    """(scheme, host[:port]) with the scheme's default port left out."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    default = {"https": 443, "http": 80}.get(scheme)
    port = parts.port if parts.port not in (None, default) else None
    return scheme, host if port is None else f"{host}:{port}"


def _describe(exc: BaseException) -> str:
    # The type only: requests' messages embed URLs and pool internals, never useful in a log.
    return type(exc).__name__


def _path_of(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).path or url


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
