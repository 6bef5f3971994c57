"""GitHub's rate limits as one client meets them: how long an answer asks to wait, the
pause after the last request of a window, and every wait counted and bounded."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import requests

from ghbackup.errors import RateLimitExceeded
from ghbackup.github_http import RetryPolicy, to_float

log = logging.getLogger(__name__)


class RateLimits:
    """The waits of one client. ``waited_seconds`` adds up every wait it slept."""

    def __init__(
        self, policy: RetryPolicy, clock: Callable[[], float], sleep: Callable[[float], None]
    ) -> None:
        self.policy = policy
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._blocked_until = 0.0
        self.waited_seconds = 0.0

    def wait_for(self, resp: requests.Response, attempt: int, reason: str) -> float | None:
        """Seconds to wait for a 403/429, or None when it is a plain permission error."""
        retry_after = resp.headers.get("Retry-After")
        if retry_after is not None:
            try:
                return max(0.0, float(str(retry_after)))
            except ValueError:
                return self.policy.secondary_backoff_start
        if resp.headers.get("X-RateLimit-Remaining") == "0":
            reset = to_float(resp.headers.get("X-RateLimit-Reset"))
            now = float(self._clock())
            return max(1.0, (reset or now + 60) - now + 1)
        if resp.status_code == 429 or "rate limit" in reason.lower():
            return min(
                self.policy.secondary_backoff_start * 2.0 ** (attempt - 1),
                self.policy.max_rate_limit_wait,
            )
        return None

    def note(self, resp: requests.Response) -> None:
        """After a success that used the last request of the window, pause until the reset."""
        if resp.status_code < 300 and resp.headers.get("X-RateLimit-Remaining") == "0":
            reset = to_float(resp.headers.get("X-RateLimit-Reset"))
            if reset:
                with self._lock:
                    self._blocked_until = max(self._blocked_until, reset + 1)

    def wait_for_primary_reset(self) -> None:
        with self._lock:
            until = self._blocked_until
        if until > self._clock():
            self.wait(until - self._clock(), "primary rate limit exhausted")

    def check(self, seconds: float, why: str) -> None:
        """RateLimitExceeded when GitHub asks for a wait longer than we may wait."""
        if seconds > self.policy.max_rate_limit_wait:
            raise RateLimitExceeded(
                f"{why}: GitHub asks to wait {seconds:.0f}s, more than the allowed "
                f"{self.policy.max_rate_limit_wait:.0f}s"
            )

    def wait(self, seconds: float, why: str) -> None:
        self.check(seconds, why)
        log.warning("waiting %.1fs: %s", seconds, why)
        self.sleep(seconds)

    def sleep(self, seconds: float) -> None:
        self.waited_seconds += seconds
        self._sleep(seconds)
