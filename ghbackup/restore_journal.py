"""The restore-to-GitHub journal and its pacing under GitHub's content-creation limits.

The journal is a JSON file written atomically (a temporary file, then a rename) after every
object the restore creates, with the new number or id. A key is marked *pending* before its
creating request is sent: if the process dies, or GitHub answers in a way that does not say
whether it acted (a 5xx, a dropped connection), the next attempt looks the object up before
creating it again. Running the same restore again therefore continues where it stopped and
never creates a duplicate.

GitHub's secondary limits allow "no more than 80 content-generating requests per minute and
no more than 500 content-generating requests per hour", and ask for at least a second between
writes ("Best practices for using the REST API"). The pacer keeps every write inside both
windows, so a large restore runs at GitHub's pace instead of hitting the limit.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ghbackup.errors import ConfigurationError, StorageError

FORMAT = "ghbackup-restore-journal/1"


class Journal:
    """What a restore created, keyed by source object (``issue:12``, ``label:bug``...)."""

    def __init__(self, path: Path, source: str, target: str, archive: str) -> None:
        self.path = path
        self.data: dict[str, Any] = {
            "format": FORMAT,
            "archive": archive,
            "source": source,
            "target": target,
            "created": {},
            "pending": [],
            "writes": 0,
        }

    @classmethod
    def open(cls, path: Path, source: str, target: str, archive: str) -> Journal:
        """The journal at ``path``, or a new one; refuses a journal of another restore."""
        journal = cls(path, source, target, archive)
        if not path.exists():
            return journal
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"journal {path} is unreadable: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ConfigurationError(f"{path} is not a ghbackup restore journal")
        if (data.get("source"), data.get("target")) != (source, target):
            raise ConfigurationError(
                f"journal {path} is for {data.get('source')} -> {data.get('target')}, "
                f"not {source} -> {target}; choose another --journal"
            )
        journal.data.update(data)
        return journal

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the journal's lock file: two restores with one journal would both create."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600)
        except OSError as exc:
            raise StorageError(f"cannot lock the journal {self.path}: {exc.strerror}") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ConfigurationError(
                    f"another restore is running with the journal {self.path}"
                ) from None
            yield
        finally:
            os.close(fd)

    def get(self, key: str) -> Any:
        return self.data["created"].get(key)

    def is_pending(self, key: str) -> bool:
        return key in self.data["pending"]

    def pending(self, key: str) -> None:
        """Record that a creating request for ``key`` is about to be sent."""
        if key not in self.data["pending"]:
            self.data["pending"].append(key)
            self.save()

    def done(self, key: str, value: Any) -> None:
        self.data["created"][key] = value
        if key in self.data["pending"]:
            self.data["pending"].remove(key)
        self.save()

    def count_write(self) -> None:
        self.data["writes"] += 1

    def save(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        except OSError as exc:
            raise StorageError(
                f"cannot write the journal {self.path}: {exc.strerror}; choose one with --journal"
            ) from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(self.data, out, indent=1, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


@dataclass(frozen=True)
class Limits:
    """GitHub's documented content-creation limits, and the gap it asks for between writes."""

    per_minute: int = 80
    per_hour: int = 500
    min_interval: float = 1.0


class Pacer:
    """Waits before each write so that no window holds more writes than GitHub allows."""

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        self.limits = limits or Limits()
        self._clock, self._sleep = clock, sleep
        self._times: deque[float] = deque()
        self.waited = 0.0

    def pause(self, seconds: float) -> None:
        """Wait ``seconds`` (a back-off between tries), counted with the pacing waits."""
        self.waited += seconds
        self._sleep(seconds)

    def before_write(self) -> None:
        now = self._clock()
        wait = _earliest(self._times, now, self.limits) - now
        if wait > 0:
            self.waited += wait
            self._sleep(wait)
        now = self._clock()
        self._times.append(now)
        while self._times and self._times[0] <= now - 3600:
            self._times.popleft()


def _earliest(times: deque[float], now: float, limits: Limits) -> float:
    """The earliest moment after ``now`` a write fits in every window given ``times``."""
    at = now
    if times:
        at = max(at, times[-1] + limits.min_interval)
    if len(times) >= limits.per_minute:
        at = max(at, times[-limits.per_minute] + 60)
    if len(times) >= limits.per_hour:
        at = max(at, times[-limits.per_hour] + 3600)
    return at


def estimate_seconds(writes: int, limits: Limits | None = None) -> float:
    """How long ``writes`` content-creating requests take at GitHub's pace (the pacer's
    schedule, simulated; GitHub's own time per request is not included)."""
    limits = limits or Limits()
    times: deque[float] = deque()
    now = 0.0
    for _ in range(writes):
        now = _earliest(times, now, limits)
        times.append(now)
        while times and times[0] <= now - 3600:
            times.popleft()
    return now
