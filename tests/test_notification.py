"""What Notify publishes fits SNS: the cut happens in Finalize, counts stay whole."""

from __future__ import annotations

import json

from ghbackup.notification import MAX_MESSAGE_BYTES, notification, summary_message


def _summary(failed: int, error: str = "GET /repos: 500") -> dict:
    return {
        "status": "PARTIAL" if failed else "SUCCEEDED",
        "run_id": "run-20260101T000000Z",
        "counts": {"total": failed + 10, "succeeded": 10, "failed": failed},
        "bytes": 123,
        "duration_seconds": 1.5,
        "archive_key": "runs/r/ghbackup-r.zip",
        "manifest_key": "runs/r/manifest.json",
        "failed": [
            {"item_key": f"repository/acme/repo-{n}", "error_type": "GitHubError", "error": error}
            for n in range(failed)
        ],
    }


def test_small_summary_is_published_whole():
    message = json.loads(summary_message(_summary(3)))
    assert message == _summary(3)


def test_huge_summary_is_cut_to_fit_sns_and_says_how_many_were_left_out():
    summary = _summary(20000, error="x" * 5000)
    text = summary_message(summary)
    assert len(text.encode()) <= MAX_MESSAGE_BYTES
    message = json.loads(text)
    assert message["counts"]["failed"] == 20000
    assert message["failed_omitted"] == 20000 - len(message["failed"])
    assert 0 < len(message["failed"]) < 20000
    assert all(len(entry["error"]) <= 1000 for entry in message["failed"])


def test_subject_is_one_ascii_line_of_at_most_100_characters():
    summary = _summary(1)
    summary["run_id"] = "r" * 80
    result = notification(summary)
    assert result["status"] == "PARTIAL"
    assert len(result["subject"]) <= 100 and result["subject"].isascii()
    assert "\n" not in result["subject"]


def test_skipped_parts_give_way_to_failures_when_the_message_is_too_long():
    from ghbackup.notification import summary_message

    summary = {
        "status": "PARTIAL",
        "counts": {"total": 2, "succeeded": 1, "failed": 1},
        "failed": [{"item_key": "repository/a/b", "error_type": "NotFound", "error": "gone"}],
        "skipped_parts": {
            f"repository/a/r{i}": "hooks: forbidden for this token (HTTP 403)" for i in range(500)
        },
    }
    message = json.loads(summary_message(summary, limit=4000))
    assert message["failed"] == summary["failed"]
    assert message["skipped_parts"] == {} and message["skipped_parts_omitted"] == 500
