"""Batches: how items are grouped, how a pointer is read, and what a batch task reports."""

from __future__ import annotations

import json
import threading

import pytest

from ghbackup import exit_codes
from ghbackup.batch import (
    STOPPED_EXIT_CODE,
    backup_batch,
    has_final_result,
    plan_batches,
    read_item_list,
    stored_result,
)
from ghbackup.errors import InvalidItem, StorageError, is_retryable
from ghbackup.records import BackupItem, BatchPointer, ItemResult
from ghbackup.store import DirectoryDestination

GIB = 1024**3


def _ranges(batches):
    return [(b.first, b.count) for b in batches]


def test_small_items_fill_batches_up_to_the_item_count():
    assert _ranges(plan_batches([1] * 7, max_items=3)) == [(0, 3), (3, 3), (6, 1)]


def test_a_batch_closes_before_its_bytes_would_exceed_the_budget():
    sizes = [GIB, GIB, 1, GIB]
    assert _ranges(plan_batches(sizes, max_items=25, max_bytes=2 * GIB)) == [(0, 2), (2, 2)]


def test_an_item_at_or_over_the_budget_runs_alone():
    sizes = [1, 5 * GIB, 1, 1, 2 * GIB]
    assert _ranges(plan_batches(sizes, max_items=25, max_bytes=2 * GIB)) == [
        (0, 1),
        (1, 1),
        (2, 2),
        (4, 1),
    ]


def test_unknown_sizes_count_as_small_and_batches_are_numbered_in_order():
    batches = plan_batches([None, None, None], max_items=2)
    assert [b.to_json() for b in batches] == [
        {"batch": 0, "first": 0, "count": 2},
        {"batch": 1, "first": 2, "count": 1},
    ]
    assert plan_batches([]) == []


def test_ten_thousand_items_stay_a_short_pointer_each():
    batches = plan_batches([10 * 1024**2] * 10_000)
    assert len(batches) == 400
    assert max(len(json.dumps(b.to_json())) for b in batches) < 64


def test_turning_verification_off_reaches_every_pointer_and_round_trips():
    batches = plan_batches([None] * 30, verify_items=False)
    assert [b.to_json()["verify_items"] for b in batches] == [False, False]
    assert all(not BatchPointer.from_json(json.dumps(b.to_json())).verify_items for b in batches)
    assert BatchPointer.from_json('{"batch": 0, "first": 0, "count": 1}').verify_items


def test_a_pointer_round_trips_and_selects_its_range():
    items = [BackupItem(kind="repository", full_name=f"acme/r{n}") for n in range(5)]
    pointer = BatchPointer.from_json('{"batch": 1, "first": 2, "count": 3}')
    assert pointer.select(items) == items[2:5]
    assert BatchPointer.from_json(pointer.to_json()) == pointer
    with pytest.raises(InvalidItem, match="covers items 2..5 but the run lists 5"):
        BatchPointer(batch=1, first=2, count=4).select(items)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        (
            '{"batch": 0, "first": -1, "count": 2}',
            "first: Input should be greater than or equal to 0",
        ),
        (
            '{"batch": 0, "first": 0, "count": 0}',
            "count: Input should be greater than or equal to 1",
        ),
        ('{"batch": 0, "first": true, "count": 1}', "first: Input should be a valid integer"),
        ('{"batch": 0, "first": "1", "count": 1}', "first: Input should be a valid integer"),
    ],
)
def test_a_bad_pointer_is_an_invalid_item(text, message):
    with pytest.raises(InvalidItem, match=message):
        BatchPointer.from_json(text)


def test_an_oversized_pointer_is_refused_without_echoing_it():
    text = json.dumps({"batch": 0, "first": 0, "count": 1, "pad": "A" * 100_000})
    with pytest.raises(InvalidItem) as raised:
        BatchPointer.from_json(text)
    assert len(str(raised.value)) < 100 and "AAAA" not in str(raised.value)


def test_only_failures_a_retry_can_fix_are_retryable():
    assert {name for name in _ERRORS if is_retryable(name)} == {
        "RateLimitExceeded",
        "GitHubUnavailable",
        "GitCommandFailed",
        "StorageError",
    }


_ERRORS = [
    "NotFound",
    "InvalidItem",
    "AuthenticationFailed",
    "ConfigurationError",
    "ArchiveCorrupt",
    "GitHubError",
    "UnexpectedError",
    "RateLimitExceeded",
    "GitHubUnavailable",
    "GitCommandFailed",
    "StorageError",
    "SomethingUnknown",
    None,
]


def _items(count):
    return [BackupItem(kind="repository", full_name=f"acme/r{n}") for n in range(count)]


def _result(item, error_type=None):
    return ItemResult(
        item=item,
        status="failed" if error_type else "succeeded",
        run_id="run-1",
        started_at="2026-01-01T00:00:00Z",
        finished_at="2026-01-01T00:00:00Z",
        error_type=error_type,
        error="why" if error_type else None,
    )


def test_a_batch_with_only_final_results_exits_zero():
    items = _items(3)
    errors = {items[1]: "NotFound"}
    outcome = backup_batch(
        items, lambda item: _result(item, errors.get(item)), already_final=lambda i: False
    )
    assert [r.status for r in outcome.results] == ["succeeded", "failed", "succeeded"]
    assert outcome.final and outcome.exit_code == 0


def test_a_retryable_failure_makes_the_batch_exit_with_its_code():
    items = _items(3)
    errors = {items[0]: "NotFound", items[2]: "GitHubUnavailable"}
    outcome = backup_batch(
        items, lambda item: _result(item, errors.get(item)), already_final=lambda i: False
    )
    assert not outcome.final and outcome.exit_code == exit_codes.GITHUB


def test_a_result_that_cannot_be_stored_is_worth_a_retry():
    def capture(item):
        raise StorageError("PutObject: SlowDown")

    outcome = backup_batch(_items(1), capture, already_final=lambda i: False)
    assert outcome.exit_code == StorageError.exit_code
    assert [item.key for item, _ in outcome.storage_errors] == ["repository/acme/r0"]


def test_items_with_a_final_result_are_skipped():
    items = _items(4)
    captured = []

    def capture(item):
        captured.append(item)
        return _result(item)

    outcome = backup_batch(
        items, capture, already_final=lambda item: item in items[:2], concurrency=2
    )
    assert sorted(i.key for i in captured) == [i.key for i in items[2:]]
    assert sorted(outcome.skipped, key=items.index) == items[:2]
    assert outcome.exit_code == 0


def test_no_more_than_the_concurrency_run_at_once():
    lock, running, peak = threading.Lock(), [0], [0]
    release = threading.Event()

    def capture(item):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        release.wait(0.05)
        with lock:
            running[0] -= 1
        return _result(item)

    outcome = backup_batch(_items(10), capture, already_final=lambda i: False, concurrency=3)
    assert len(outcome.results) == 10 and peak[0] == 3


def test_a_stop_lets_running_items_finish_and_starts_no_more():
    stop = threading.Event()
    items = _items(5)

    def capture(item):
        if item == items[1]:
            stop.set()  # the signal arrives while the second item runs
        return _result(item)

    outcome = backup_batch(items, capture, already_final=lambda i: False, concurrency=1, stop=stop)
    assert [r.item for r in outcome.results] == items[:2]
    assert outcome.not_started == items[2:]
    assert outcome.unfinished == []
    assert outcome.exit_code == STOPPED_EXIT_CODE


def test_items_still_running_when_the_grace_ends_are_reported_unfinished():
    stop, release = threading.Event(), threading.Event()
    items = _items(3)

    def capture(item):
        stop.set()
        release.wait(10)
        return _result(item)

    try:
        outcome = backup_batch(
            items,
            capture,
            already_final=lambda i: False,
            concurrency=1,
            stop=stop,
            grace_seconds=0,
            poll_seconds=0.01,
        )
    finally:
        release.set()
    assert outcome.unfinished == items[:1]
    assert outcome.not_started == items[1:]
    assert outcome.results == [] and outcome.exit_code == STOPPED_EXIT_CODE


def test_the_item_list_and_results_are_read_from_a_directory(tmp_path):
    items = _items(2)
    (tmp_path / "items.json").write_text(json.dumps([i.to_json() for i in items]))
    destination = DirectoryDestination(tmp_path)
    assert read_item_list(destination) == items
    assert stored_result(destination, items[0]) is None
    destination.store_result(_result(items[0]))
    assert stored_result(destination, items[0]).status == "succeeded"
    (tmp_path / "items" / items[1].key).mkdir(parents=True)
    (tmp_path / "items" / items[1].key / "result.json").write_text("{torn")
    assert stored_result(destination, items[1]) is None  # captured again


def test_a_result_is_final_when_it_succeeded_or_no_retry_can_fix_it(tmp_path):
    destination = DirectoryDestination(tmp_path)
    items = _items(4)
    destination.store_result(_result(items[0]))
    destination.store_result(_result(items[1], "NotFound"))
    destination.store_result(_result(items[2], "GitHubUnavailable"))
    assert [has_final_result(destination, item, "run-1") for item in items] == [
        True,
        True,
        False,
        False,  # no result yet
    ]
    assert not has_final_result(destination, items[0], "another-run")


def test_a_missing_item_list_is_a_storage_error(tmp_path):
    with pytest.raises(StorageError, match="items.json"):
        read_item_list(DirectoryDestination(tmp_path))
