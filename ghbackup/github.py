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

import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import IO, Any

import requests

from ghbackup.credentials import BearerAuth, Credentials
from ghbackup.errors import (
    AuthenticationFailed,
    GitHubError,
    GitHubUnavailable,
    NotFound,
    RateLimitExceeded,
    UnexpectedRedirect,
    WriteOutcomeUnknown,
)
from ghbackup.github_http import (
    ConditionalAnswer,
    OptionalResource,
    Request,
    RetryPolicy,
    TransientError,
    TryAgain,
    describe,
    error_message,
    never_sent,
    new_session,
    optional_or_raise,
    origin_of,
    path_of,
    smaller_pages,
)
from ghbackup.github_limits import RateLimits
from ghbackup.github_pages import PageStore
from ghbackup.records import PageCache
from ghbackup.retry import Backoff, retrying

# RetryPolicy and ConditionalAnswer are part of the client's interface; they live with the
# other HTTP pieces.
__all__ = ["ConditionalAnswer", "GitHubClient", "OptionalResource", "RetryPolicy"]

log = logging.getLogger(__name__)

API_VERSION = "2022-11-28"
USER_AGENT = "ghbackup/0.1 (+https://github.com/ghbackup/ghbackup)"
PER_PAGE = 100
# Redirects followed on the API host for one request (a rename, perhaps a transfer).
MAX_REDIRECTS = 5
_REDIRECT_STATUSES = (301, 302, 303, 307, 308)


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
        self._api_origin = origin_of(self.api_url)
        self.credentials = credentials
        self._limits = RateLimits(policy or RetryPolicy(), clock, sleep)
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._session = session or new_session()
        self._pages = PageStore()
        self._lock = threading.Lock()
        self._requests = 0

    @classmethod
    def from_credentials(
        cls, api_url: str, credentials: Credentials, **kwargs: Any
    ) -> GitHubClient:
        return cls(api_url, credentials, **kwargs)

    @property
    def policy(self) -> RetryPolicy:
        """How long and how often this client waits (replaceable)."""
        return self._limits.policy

    @policy.setter
    def policy(self, policy: RetryPolicy) -> None:
        self._limits.policy = policy

    @property
    def waited_seconds(self) -> float:
        """Seconds this client slept for GitHub's limits and its retries."""
        return self._limits.waited_seconds

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
            return optional_or_raise(exc)

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
                smaller = smaller_pages(url, query) if exc.status in (502, 504) else None
                if smaller is None:
                    raise
                log.warning("%s: %s; asking for smaller pages", path_of(url), exc)
                url, query = smaller
                continue
            query = None  # the next link carries every parameter
            if wrapped_in is not None and isinstance(body, dict):
                body = body.get(wrapped_in)
            if not isinstance(body, list):
                raise GitHubError(f"expected a list from {path_of(url)}, got {type(body).__name__}")
            yield from body
            url = next_url

    def list_optional(self, path: str, params: dict[str, Any] | None = None) -> OptionalResource:
        """``paginate`` into a list, with 403/404/409/410 turned into a reason."""
        try:
            return OptionalResource(list(self.paginate(path, params)))
        except GitHubError as exc:
            return optional_or_raise(exc)

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
                        raise TransientError(
                            f"download slower than {self.policy.min_download_rate:.0f} B/s"
                        )
            if expected_size is not None and written != expected_size:
                raise TransientError(f"download ended after {written} of {expected_size} bytes")
            return written

        tries = 0
        try:
            for attempt in retrying(
                Backoff(
                    self.policy.max_attempts, self.policy.backoff_base, self.policy.backoff_cap
                ),
                what=f"download of {path_of(url)}",
                retry_on=lambda exc: isinstance(exc, TransientError | requests.RequestException),
                sleep=self._limits.sleep,
                rng=self._rng,
            ):
                with attempt:
                    tries += 1
                    return fetch()
        except (TransientError, requests.RequestException) as exc:
            raise GitHubUnavailable(
                f"download of {path_of(url)} failed {tries} times: {describe(exc)}"
            ) from None
        raise AssertionError("unreachable: retrying either returns or raises")

    def conditional_get(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        remember: bool = False,
    ) -> ConditionalAnswer:
        """GET one page with the validators of an earlier answer (``If-None-Match`` and
        ``If-Modified-Since``); a 304 costs no primary rate limit. Returns the status, the
        new validators, a SHA-256 of the body and the next page's URL. A 403/404/409/410
        is an answer too (the resource is not available here); any other failure raises.
        ``remember``: keep a 200's JSON, so the same GET through ``get``/``paginate`` later
        is asked with its ETag (a 304 then costs no rate limit)."""
        url = self._url(path)
        try:
            resp = self._send("GET", url, params=params, etag=etag,
                              if_modified_since=last_modified)  # fmt: skip
        except GitHubError as exc:
            if optional_or_raise(exc):  # raises unless "not available here"
                return ConditionalAnswer(status=exc.status or 404)
            raise  # pragma: no cover - optional_or_raise returns or raises
        with resp:
            body = resp.content
            next_url = resp.links.get("next", {}).get("url") or None
            if remember and resp.status_code == 200:
                self._pages.put_raw(url, params, resp.headers.get("ETag"), body, next_url)
            return ConditionalAnswer(
                status=resp.status_code,
                etag=resp.headers.get("ETag") or (etag if resp.status_code == 304 else None),
                last_modified=resp.headers.get("Last-Modified") or last_modified,
                body_sha256=hashlib.sha256(body).hexdigest() if resp.status_code != 304 else None,
                next_url=next_url,
                body=body if resp.status_code != 304 else b"",
            )

    def graphql(self, url: str, query: str) -> dict[str, Any]:
        """POST one read-only GraphQL query to ``url`` (GitHub's GraphQL endpoint, on the API
        host) and return the answer's JSON, ``errors`` included: a partial answer is the
        caller's to judge. Retried like a GET (a query changes nothing)."""
        resp = self._send("POST", url, json_body={"query": query})
        with resp:
            try:
                answer = resp.json()
            except ValueError:
                raise GitHubError(f"{path_of(url)} returned a body that is not JSON") from None
        if not isinstance(answer, dict):
            raise GitHubError(f"{path_of(url)} returned JSON that is not an object")
        return answer

    # -- internals --------------------------------------------------------------------

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.api_url}/{path.lstrip('/')}"

    def _get_json(self, url: str, params: dict[str, Any] | None) -> tuple[Any, str | None]:
        """The JSON body and the URL of the next page (``rel="next"``), if any."""
        fresh = self._pages.take_fresh(url, params)
        if fresh is not None:  # a probe read it for this capture moments ago
            return fresh[1], fresh[2]
        cached = self._pages.get(url, params)
        resp = self._send("GET", url, params=params, etag=cached[0] if cached else None)
        if resp.status_code == 304 and cached:
            return cached[1], cached[2]
        try:
            body = resp.json()
        except ValueError:
            raise GitHubError(
                f"{path_of(url)} returned a body that is not JSON", resp.status_code
            ) from None
        # requests parses the Link header, looked up case-insensitively.
        next_url = resp.links.get("next", {}).get("url") or None
        self._pages.put(url, params, resp.headers.get("ETag"), body, next_url)
        return body, next_url

    def export_pages(self) -> PageCache:
        """Every page this client read with an ETag, for the next capture of the same item."""
        return self._pages.export(self.api_url)

    def import_pages(self, cache: PageCache) -> int:
        """Ask the pages of an earlier capture with their ETags (a 304 then costs no rate
        limit and answers with the body kept here). Returns how many were taken: none from
        another API."""
        return self._pages.load(cache, self.api_url)

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
        if_modified_since: str | None = None,
    ) -> requests.Response:
        """Send with every wait and retry applied; returns a 2xx or 304 response.

        ``follow_redirects``: let requests follow them (a release asset's 302 to a storage
        host, where requests drops the Authorization header). Otherwise redirects are
        followed here on the API host only, at most MAX_REDIRECTS times.
        ``creates``: a request GitHub may have acted on although it failed is not retried
        (WriteOutcomeUnknown). ``origin``: another host the token may go to (uploads).
        """
        request = Request(method, url, params, etag, accept, stream, read_timeout,
                           follow_redirects, json_body, data, content_type, creates,
                           origin or self._api_origin, if_modified_since)  # fmt: skip
        try:
            for attempt in retrying(
                Backoff(
                    self.policy.max_attempts, self.policy.backoff_base, self.policy.backoff_cap
                ),
                what=f"{method} {path_of(url)}",
                retry_on=lambda exc: isinstance(exc, TryAgain),
                wait_for=lambda exc: exc.wait if isinstance(exc, TryAgain) else None,
                sleep=self._limits.sleep,
                rng=self._rng,
            ):
                with attempt:
                    return self._send_once(request, attempt.retry_state.attempt_number)
        except TryAgain as exc:  # the last try still wanted another
            raise exc.final from None
        raise AssertionError("unreachable: retrying either returns or raises")

    def _send_once(self, request: Request, attempt: int) -> requests.Response:
        """One try: redirects on the API host and one re-mint of an App token are part of
        it; anything another try may mend raises TryAgain with the error to give when no
        try is left, and any wait GitHub asked for."""
        reauthenticated = False
        redirects = 0
        while True:
            self._limits.wait_for_primary_reset()
            resp = self._request(request, attempt)
            self._limits.note(resp)
            status = resp.status_code
            if status < 300 or status == 304:
                return resp
            if status in _REDIRECT_STATUSES and not request.follow_redirects:
                request.url = self._redirect_target(request.url, resp, redirects)
                resp.close()
                redirects += 1
                request.params = None  # the Location carries the whole query
                continue
            reason, blocked = error_message(resp)
            resp.close()
            where = path_of(request.url)
            if status == 401:
                # An App token may have been revoked or expired early: mint once more.
                if not reauthenticated and self.credentials.kind == "github-app":
                    reauthenticated = True
                    self.credentials.invalidate()
                    continue
                raise AuthenticationFailed(f"GitHub rejected the credentials: {reason}", 401)
            if status in (403, 429):
                wait = self._limits.wait_for(resp, attempt, reason)
                if wait is not None:
                    self._limits.check(wait, f"rate limited (HTTP {status})")
                    raise TryAgain(
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
                raise TryAgain(
                    f"HTTP {status}",
                    GitHubUnavailable(
                        f"GitHub kept failing at {where}: HTTP {status} after {attempt} attempts",
                        status,
                    ),
                )
            error = NotFound if status == 404 else GitHubError
            raise error(f"{where}: HTTP {status} {reason}".rstrip(), status, blocked=blocked)

    def _request(self, request: Request, attempt: int) -> requests.Response:
        """Send ``request`` once, with the token for its host only."""
        if origin_of(request.url) != request.origin:
            # A URL from a response (a next page, an asset) on another host: never send it
            # the token, and never quietly fetch without it either.
            raise GitHubError(
                f"GitHub returned a URL on {origin_of(request.url)[1]}, not the API host "
                f"{self._api_origin[1]}; set GITHUB_API_URL to the host GitHub answers with"
            )
        headers = {
            "Accept": request.accept,
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": USER_AGENT,
        }
        if request.etag:
            headers["If-None-Match"] = request.etag
        if request.if_modified_since:
            headers["If-Modified-Since"] = request.if_modified_since
        if request.content_type:
            headers["Content-Type"] = request.content_type
        if request.data is not None and not isinstance(request.data, bytes):
            request.data.seek(0)  # a retry sends a file from its start
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
                auth=BearerAuth(self.credentials.token()),
            )
        except requests.RequestException as exc:
            where = path_of(request.url)
            if request.creates and not never_sent(exc):
                raise WriteOutcomeUnknown(
                    f"{request.method} {where}: connection lost ({describe(exc)}); "
                    "GitHub may or may not have acted on it"
                ) from None
            raise TryAgain(
                f"connection error ({describe(exc)})",
                GitHubUnavailable(
                    f"GitHub unreachable at {where} after {attempt} attempts: {describe(exc)}"
                ),
            ) from None

    def _redirect_target(self, url: str, resp: requests.Response, redirects: int) -> str:
        """Where a redirect of an API request leads, when it may be followed."""
        from urllib.parse import urljoin

        status = resp.status_code
        location = resp.headers.get("Location")
        if not location:
            raise UnexpectedRedirect(f"{path_of(url)}: HTTP {status} without a Location", status)
        target = urljoin(url, location)
        if origin_of(target) != self._api_origin:
            raise UnexpectedRedirect(
                f"{path_of(url)}: HTTP {status} redirect to another host, "
                f"{origin_of(target)[1]}; refusing to follow it (it would get no token, and "
                f"its answer would not be the API's)",
                status,
            )
        if redirects >= MAX_REDIRECTS:
            raise UnexpectedRedirect(
                f"{path_of(url)}: more than {MAX_REDIRECTS} redirects on the API host", status
            )
        log.info("%s: HTTP %d, following to %s", path_of(url), status, path_of(target))
        return target
