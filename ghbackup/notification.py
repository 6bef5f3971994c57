"""What Notify publishes: the run summary as SNS subject, message and status attribute.

SNS takes at most 256 KiB per publish (message, subject and attributes together) and Step
Functions at most 256 KiB of state data, so the message is cut here, before it leaves
Finalize: long error texts are shortened first, then failed items are dropped from the end
and counted in ``failed_omitted``. Counts always cover every item.
"""

from __future__ import annotations

import json
from typing import Any

# Leaves room under both 256 KiB limits for the subject, attributes and the rest of the state.
MAX_MESSAGE_BYTES = 200 * 1024
MAX_ERROR_CHARS = 1000
MAX_SUBJECT_CHARS = 100  # SNS: ASCII, no line breaks, at most 100 characters


def _encoded(summary: dict[str, Any]) -> str:
    return json.dumps(summary, indent=2, sort_keys=True, ensure_ascii=False)


def _fits(text: str, limit: int) -> bool:
    return len(text.encode("utf-8")) <= limit


def summary_message(summary: dict[str, Any], limit: int = MAX_MESSAGE_BYTES) -> str:
    """The summary as indented JSON of at most ``limit`` UTF-8 bytes."""
    text = _encoded(summary)
    if _fits(text, limit):
        return text
    skipped = summary.get("skipped_parts") or {}
    if skipped:
        # Failures matter more than skips: the run manifest keeps every skip anyway.
        summary = {**summary, "skipped_parts": {}, "skipped_parts_omitted": len(skipped)}
        text = _encoded(summary)
        if _fits(text, limit):
            return text
    failed = [
        {**entry, "error": (entry.get("error") or "")[:MAX_ERROR_CHARS]}
        for entry in summary.get("failed", [])
    ]
    trimmed = {**summary, "failed": failed}
    text = _encoded(trimmed)
    if _fits(text, limit):
        return text
    # Keep as many failed items as fit: binary search on how many to keep.
    low, high = 0, len(failed)
    while low < high:
        middle = (low + high + 1) // 2
        candidate = {**trimmed, "failed": failed[:middle], "failed_omitted": len(failed) - middle}
        if _fits(_encoded(candidate), limit):
            low = middle
        else:
            high = middle - 1
    text = _encoded({**trimmed, "failed": failed[:low], "failed_omitted": len(failed) - low})
    if not _fits(text, limit):
        raise ValueError(f"the run summary does not fit in {limit} bytes even without items")
    return text


def summary_subject(summary: dict[str, Any]) -> str:
    """One ASCII line of at most 100 characters, e.g. 'ghbackup run-1: PARTIAL, 47/50 items'."""
    counts = summary.get("counts", {})
    subject = (
        f"ghbackup {summary.get('run_id', '')}: {summary.get('status', 'UNKNOWN')}, "
        f"{counts.get('succeeded', 0)}/{counts.get('total', 0)} items"
    )
    subject = subject.encode("ascii", "replace").decode("ascii").replace("\n", " ")
    return subject[:MAX_SUBJECT_CHARS]


def notification(summary: dict[str, Any]) -> dict[str, str]:
    """The Finalize result the state machine publishes: status, subject and message."""
    return {
        "status": str(summary.get("status", "FAILED")),
        "subject": summary_subject(summary),
        "message": summary_message(summary),
    }
