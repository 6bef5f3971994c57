"""The one retry mechanism of the core: bounded attempts, exponential backoff with full jitter.

Every loop that tries again (API requests and downloads, minting a GitHub App token, git
clones and LFS fetches) is a :func:`retrying` iteration built on tenacity, so the bounds,
the jitter, the log line and the injected ``sleep`` (a fake clock in tests) are the same
everywhere. What counts as worth another try stays with the caller (``retry_on``), and so
does a wait the other side dictates (GitHub's ``retry-after``: ``wait_for``).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

import tenacity

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    """How often to try and how long to wait between tries.

    The wait before try ``n + 1`` is drawn uniformly from ``[0, min(cap, base * 2**(n-1))]``
    (AWS's "full jitter"), or is that ceiling itself when ``jitter`` is off.
    """

    attempts: int = 3
    base: float = 1.0
    cap: float = 60.0
    jitter: bool = True

    def delay(self, attempt: int, rng: random.Random) -> float:
        """The wait after failed try number ``attempt`` (1-based)."""
        ceiling = min(self.cap, self.base * 2 ** (attempt - 1))
        return rng.uniform(0, ceiling) if self.jitter else ceiling


def retrying(
    backoff: Backoff,
    *,
    what: str,
    retry_on: Callable[[BaseException], bool],
    sleep: Callable[[float], None],
    wait_for: Callable[[BaseException], float | None] | None = None,
    rng: random.Random | None = None,
) -> tenacity.Retrying:
    """A tenacity ``Retrying`` for ``for attempt in retrying(...): with attempt: ...``.

    ``retry_on(exc)`` says whether an exception is worth another try; any other exception,
    and the last one once ``backoff.attempts`` tries are used, propagates unchanged (the
    caller turns it into its own error). ``wait_for(exc)`` may return the wait the failure
    itself asks for (seconds), which replaces the backoff for that try.
    """
    chance = rng or random.Random()  # noqa: S311 - jitter, not cryptography

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        dictated = wait_for(exc) if wait_for is not None and exc is not None else None
        if dictated is not None:
            return dictated
        return backoff.delay(state.attempt_number, chance)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        seconds = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "%s failed (try %d of %d), trying again in %.1fs: %s",
            what,
            state.attempt_number,
            backoff.attempts,
            seconds,
            _one_line(exc),  # handlers scrub secrets (RedactingFilter)
        )

    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(max(1, backoff.attempts)),
        wait=wait,
        retry=tenacity.retry_if_exception(retry_on),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )


def _one_line(exc: BaseException | None) -> str:
    if exc is None:
        return "no error"
    text = " ".join(str(exc).split())[:300]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
