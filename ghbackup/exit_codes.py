"""The exit codes of every ghbackup command (and of the container), defined once.

Each code means one thing whichever command returns it, so a script can branch on it
without knowing the command. The exception classes of ``ghbackup.errors`` take their
``exit_code`` from here; ``ghbackup --help`` and the README print ``table()``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExitCode:
    """One exit code: its number, a short name and what it means to the user."""

    code: int
    name: str
    meaning: str


OK = 0
FAILED = 1
USAGE = 2
PARTIAL = 3
GIT_FAILED = 4
STORAGE = 5
ARCHIVE_CORRUPT = 6
GITHUB = 7
UNKNOWN_RUN = 10
ITEM_NOT_IN_RUN = 11
NOT_A_GHBACKUP_BUCKET = 12
NO_AWS_CREDENTIALS = 13
NO_BYTE_RANGES = 14
NO_WARM_COPY = 15
TIER_NOT_AVAILABLE = 16
AWS = 17
BUG = 70  # EX_SOFTWARE
RESTORE_IN_PROGRESS = 75  # EX_TEMPFAIL: the same command later succeeds
INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C
STOPPED = 143  # 128 + SIGTERM

CODES: tuple[ExitCode, ...] = (
    ExitCode(OK, "ok", "done: the run SUCCEEDED, the archive verified, the restore is complete"),
    ExitCode(FAILED, "failed", "the run FAILED, or a failure without a more specific code"),
    ExitCode(
        USAGE,
        "usage",
        "the command line or its input is wrong: an option, a missing file, a selection, "
        "a file that is not a ghbackup archive, a restore target that is taken",
    ),
    ExitCode(PARTIAL, "partial", "the run is PARTIAL: some items failed (they are named)"),
    ExitCode(GIT_FAILED, "git-failed", "git or git-lfs failed or timed out"),
    ExitCode(STORAGE, "storage", "writing to S3 or to disk failed (full disk, permissions)"),
    ExitCode(ARCHIVE_CORRUPT, "archive-corrupt", "the archive is damaged or was tampered with"),
    ExitCode(
        GITHUB,
        "github",
        "GitHub refused or failed: token rejected, not found, rate limited, unavailable",
    ),
    ExitCode(UNKNOWN_RUN, "unknown-run", "the bucket holds no run with this id"),
    ExitCode(
        ITEM_NOT_IN_RUN, "item-not-in-run", "the run does not hold this item (or it failed there)"
    ),
    ExitCode(
        NOT_A_GHBACKUP_BUCKET, "not-a-ghbackup-bucket", "the bucket is missing or not ghbackup's"
    ),
    ExitCode(NO_AWS_CREDENTIALS, "no-aws-credentials", "no AWS credentials, or AWS rejected them"),
    ExitCode(
        NO_BYTE_RANGES,
        "no-byte-ranges",
        "an older run manifest without byte ranges: get the whole run, then restore --repo",
    ),
    ExitCode(NO_WARM_COPY, "no-warm-copy", "no warm (latest/) copy of this item"),
    ExitCode(
        TIER_NOT_AVAILABLE, "tier-not-available", "S3 refuses this retrieval tier for the object"
    ),
    ExitCode(AWS, "aws", "another AWS failure: access denied, throttled, unreachable"),
    ExitCode(BUG, "bug", "an unexpected error inside ghbackup: please report it"),
    ExitCode(
        RESTORE_IN_PROGRESS,
        "restore-in-progress",
        "a Glacier restore is in progress: run the same command again later",
    ),
    ExitCode(INTERRUPTED, "interrupted", "interrupted by Ctrl-C"),
    ExitCode(STOPPED, "stopped", "stopped by SIGTERM before the work was done"),
)


def run_status_code(status: str | None) -> int:
    """The exit code of a run that ended with ``status`` (SUCCEEDED, PARTIAL, FAILED...)."""
    return {"SUCCEEDED": OK, "PARTIAL": PARTIAL}.get(status or "", FAILED)


def table(width: int = 80) -> str:
    """The codes as aligned text lines (for ``--help``), wrapped to ``width``."""
    import textwrap

    lines = []
    for entry in CODES:
        lines += textwrap.wrap(
            entry.meaning,
            width=width,
            initial_indent=f"  {entry.code:>3}  ",
            subsequent_indent=" " * 7,
        )
    return "\n".join(lines)


def markdown_table() -> str:
    """The codes as a Markdown table (the README holds a copy; a test compares them)."""
    rows = ["| Code | Meaning |", "| ---: | --- |"]
    rows += [f"| {entry.code} | {entry.meaning} |" for entry in CODES]
    return "\n".join(rows)
