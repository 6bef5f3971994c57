"""Fault switches: what goes wrong on the next requests. Thread-safe; settable at runtime.

Each fault has a count (``None`` = until cleared) and an optional scope: a path fragment such as
``"acme/repo-007"``. A scope matches on a name boundary, so ``acme/repo-007`` does not match
``acme/repo-0070``; API paths under ``/repositories/{id}`` are matched by the repository's name.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from dataclasses import dataclass

SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
    "again. If you reach out to GitHub Support for help, please include the request ID "
    "{request_id}."
)
SECONDARY_DOCS = (
    "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api"
    "#about-secondary-rate-limits"
)
PRIMARY_DOCS = (
    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
    "#about-the-primary-rate-limit"
)


@dataclass
class Fault:
    kind: str  # server_error | too_many | secondary | cut_clone | cut_download | slow
    remaining: int | None
    scope: str | None
    channel: str  # "api" | "git" | "download" | "any"
    status: int = 500
    retry_after: int | None = None
    delay_ms: int = 0
    fraction: float = 0.5

    def matches(self, channel: str, logical_path: str) -> bool:
        if self.channel != "any" and self.channel != channel:
            return False
        return scope_matches(self.scope, logical_path)


def scope_matches(scope: str | None, path: str) -> bool:
    if not scope:
        return True
    return re.search(re.escape(scope) + r"(?![A-Za-z0-9_-])", path) is not None


class Faults:
    """The switches. Tests call these; the server asks ``take`` on each request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._revoked: set[str] = set()
        self._revoke_all = False
        self.exhausted_until: float | None = None
        self._exhausted_requests: int | None = None
        # How often each kind of fault was served ("primary" for a refusal while the
        # primary limit is exhausted), so a test can prove its fault happened. Not reset
        # by clear().
        self.fired: Counter[str] = Counter()

    # ---- switches -------------------------------------------------------------------------
    def _add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def server_errors(
        self, count: int = 1, status: int = 500, scope: str | None = None, channel: str = "api"
    ) -> None:
        """The next ``count`` matching requests answer ``status`` (500, 502, 503...)."""
        self._add(Fault("server_error", count, scope, channel, status=status))

    def too_many_requests(
        self, count: int = 1, retry_after: int | None = 1, scope: str | None = None
    ) -> None:
        """The next ``count`` API requests answer 429 with ``Retry-After``."""
        self._add(Fault("too_many", count, scope, "api", status=429, retry_after=retry_after))

    def secondary_rate_limit(
        self, count: int = 1, retry_after: int | None = 1, scope: str | None = None
    ) -> None:
        """The next ``count`` API requests answer 403 secondary rate limit (+ ``Retry-After``
        unless ``retry_after`` is None, as GitHub sometimes omits it)."""
        self._add(Fault("secondary", count, scope, "api", status=403, retry_after=retry_after))

    def exhaust_rate_limit(self, reset_in: float = 60.0, requests: int | None = None) -> None:
        """Primary limit used up: remaining 0, 403 until ``reset_in`` seconds pass, or until
        ``requests`` requests were refused (for clients that wait on a fake clock)."""
        with self._lock:
            self.exhausted_until = time.time() + reset_in
            self._exhausted_requests = requests

    def cut_clone(
        self, scope: str | None = None, count: int | None = 1, fraction: float = 0.5
    ) -> None:
        """A git fetch's pack response stops after ``fraction`` of its body."""
        self._add(Fault("cut_clone", count, scope, "git", fraction=fraction))

    def cut_download(
        self, scope: str | None = None, count: int | None = 1, fraction: float = 0.5
    ) -> None:
        """A release-asset download sends the full Content-Length, then closes part way."""
        self._add(Fault("cut_download", count, scope, "download", fraction=fraction))

    def slow(
        self,
        delay_ms: int,
        scope: str | None = None,
        count: int | None = None,
        channel: str = "any",
    ) -> None:
        """Delay matching responses by ``delay_ms``."""
        self._add(Fault("slow", count, scope, channel, delay_ms=delay_ms))

    def revoke_token(self, token: str | None = None) -> None:
        """``token`` (or every token) answers 401 Bad credentials, API and git alike."""
        with self._lock:
            if token is None:
                self._revoke_all = True
            else:
                self._revoked.add(token)

    def fail_permanently(self, scope: str, status: int = 500) -> None:
        """Every API and git request for ``scope`` fails with ``status`` until cleared."""
        self._add(Fault("server_error", None, scope, "any", status=status))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self._revoked.clear()
            self._revoke_all = False
            self.exhausted_until = None
            self._exhausted_requests = None

    # ---- queries (server side) ------------------------------------------------------------
    def is_revoked(self, token: str | None) -> bool:
        with self._lock:
            return token is not None and (self._revoke_all or token in self._revoked)

    def take(self, kinds: tuple[str, ...], channel: str, logical_path: str) -> Fault | None:
        """The first matching fault of ``kinds``, consuming one of its count."""
        with self._lock:
            for f in self._faults:
                if f.kind in kinds and f.matches(channel, logical_path):
                    if f.remaining is not None:
                        f.remaining -= 1
                        if f.remaining <= 0:
                            self._faults.remove(f)
                    self.fired[f.kind] += 1
                    return f
        return None

    def delay_ms(self, channel: str, logical_path: str) -> int:
        f = self.take(("slow",), channel, logical_path)
        return f.delay_ms if f else 0

    def primary_exhausted(self) -> float | None:
        """The reset time if the primary limit is exhausted now (consumes one refusal)."""
        with self._lock:
            if self.exhausted_until is None:
                return None
            if time.time() >= self.exhausted_until:
                self.exhausted_until = None
                return None
            if self._exhausted_requests is not None:
                self._exhausted_requests -= 1
                if self._exhausted_requests < 0:
                    self.exhausted_until = None
                    self._exhausted_requests = None
                    return None
            self.fired["primary"] += 1
            return self.exhausted_until
