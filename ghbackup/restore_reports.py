"""What ``verify_archive`` and ``restore_archive`` (ghbackup/restore.py) report: what was
checked or put in place, and which items of an archive are damaged."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ghbackup.errors import ArchiveCorrupt


@dataclass
class VerifyReport:
    """What ``verify_archive`` checked: ``items`` passed; ``damaged`` maps each item that
    failed (or ``RUN_FILES``, the entries outside every item) to why."""

    zip_path: Path
    items: list[str] = field(default_factory=list)  # item keys
    damaged: dict[str, str] = field(default_factory=dict)
    files: int = 0
    bytes: int = 0
    bundles: int = 0
    lfs_objects: int = 0
    seconds: float = 0.0


@dataclass
class RestoreReport:
    """What ``restore_archive`` put in place."""

    zip_path: Path
    target: Path
    items: list[str] = field(default_factory=list)
    mirrors: list[Path] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    lfs_objects: int = 0
    pushed_to: str | None = None  # the push URL without any userinfo
    seconds: float = 0.0


RUN_FILES = "(run files)"
"""The key of ``VerifyReport.damaged`` for entries outside every item."""


class ArchiveDamaged(ArchiveCorrupt):
    """Verification failed for one or more items; ``report`` says which, and which passed.
    The message is the first failure's (one item: exactly its ArchiveCorrupt message)."""

    def __init__(self, report: VerifyReport) -> None:
        first = next(iter(report.damaged.values()))
        more = len(report.damaged) - 1
        super().__init__(first + (f" (and {more} more damaged)" if more else ""))
        self.report = report
