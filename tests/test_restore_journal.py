"""The restore-to-GitHub journal, its pacing under GitHub's limits, and attribution lines."""

from __future__ import annotations

import json

import pytest

from ghbackup.errors import ConfigurationError
from ghbackup.restore_issues import item_body, strip_attribution
from ghbackup.restore_journal import Journal, Limits, Pacer, estimate_seconds


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def test_journal_records_pending_then_done_and_survives_reopening(tmp_path):
    path = tmp_path / "j.json"
    j = Journal.open(path, "o/src", "o/dst", "a.zip")
    j.pending("issue:1")
    assert Journal.open(path, "o/src", "o/dst", "a.zip").is_pending("issue:1")
    j.done("issue:1", {"number": 1})
    again = Journal.open(path, "o/src", "o/dst", "a.zip")
    assert again.get("issue:1") == {"number": 1} and not again.is_pending("issue:1")
    assert [p.name for p in tmp_path.iterdir()] == ["j.json"]  # no temporary file left


def test_a_journal_of_another_restore_is_refused(tmp_path):
    path = tmp_path / "j.json"
    Journal.open(path, "o/src", "o/dst", "a.zip").done("label:x", 1)
    with pytest.raises(ConfigurationError, match="choose another --journal"):
        Journal.open(path, "o/src", "o/other", "a.zip")
    path.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ConfigurationError, match="not a ghbackup restore journal"):
        Journal.open(path, "o/src", "o/dst", "a.zip")


def test_pacer_keeps_a_second_between_writes_and_80_in_any_minute():
    clock = FakeClock()
    pacer = Pacer(Limits(per_minute=80, per_hour=500), clock=clock.time, sleep=clock.sleep)
    stamps = []
    for _ in range(161):
        pacer.before_write()
        stamps.append(clock.now)
    assert all(b - a >= 1.0 for a, b in zip(stamps, stamps[1:], strict=False))
    assert all(stamps[i + 80] - stamps[i] >= 60 for i in range(len(stamps) - 80))


def test_pacer_keeps_500_in_any_hour():
    clock = FakeClock()
    pacer = Pacer(Limits(per_minute=1000, per_hour=500, min_interval=0), clock=clock.time,
                  sleep=clock.sleep)  # fmt: skip
    for _ in range(501):
        pacer.before_write()
    assert clock.now == 3600


def test_estimate_follows_githubs_limits():
    assert estimate_seconds(0) == 0
    assert estimate_seconds(80) == 79  # one a second
    assert 3600 < estimate_seconds(1000) < 2 * 3600  # 500 an hour, sliding window
    assert 8 * 3600 < estimate_seconds(4500) < 9 * 3600


def test_attribution_line_is_one_line_and_strips_back_to_the_original_body():
    data = {"user": {"login": "mona"}, "created_at": "2020-01-01T00:00:00Z",
            "html_url": "https://github.com/o/r/issues/3", "body": "line 1\n\nline 2"}  # fmt: skip
    body = item_body("o/r", 3, data)
    first = body.split("\n", 1)[0]
    assert "@mona" in first and "2020-01-01T00:00:00Z" in first and "o/r#3" in first
    assert strip_attribution(body) == "line 1\n\nline 2"
    assert strip_attribution(item_body("o/r", 4, {**data, "body": None})) == ""
    assert strip_attribution("> a quote that is not ours\n\ntext") == (
        "> a quote that is not ours\n\ntext"
    )


def test_a_journal_that_cannot_be_written_is_a_storage_error(tmp_path):
    from ghbackup.errors import StorageError

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    j = Journal.open(blocker / "j.json", "o/src", "o/dst", "a.zip")
    with pytest.raises(StorageError, match="--journal"):
        j.done("label:x", 1)


def test_a_second_restore_with_the_same_journal_is_refused_while_the_first_runs(tmp_path):
    first = Journal.open(tmp_path / "j.json", "o/src", "o/dst", "a.zip")
    second = Journal.open(tmp_path / "j.json", "o/src", "o/dst", "a.zip")
    with first.locked():
        with pytest.raises(ConfigurationError, match="another restore is running"):
            with second.locked():
                pass
    with second.locked():
        pass


class FlakyClient:
    """write() fails with an unknown outcome ``failures`` times, creating nothing."""

    def __init__(self, failures: int) -> None:
        self.failures, self.posts = failures, 0

    def write(self, method, path, body=None):
        from ghbackup.errors import WriteOutcomeUnknown

        self.posts += 1
        if self.posts <= self.failures:
            raise WriteOutcomeUnknown("POST: HTTP 502", 502)
        return {"id": 42}


def restorer(tmp_path, client):
    from ghbackup.restore_github import Restorer

    clock = FakeClock()
    journal = Journal.open(tmp_path / "j.json", "o/src", "o/dst", "a.zip")
    pacer = Pacer(clock=clock.time, sleep=clock.sleep)
    return Restorer(client, None, journal, None, "o/dst", pacer, None)  # type: ignore[arg-type]


@pytest.mark.parametrize("failures, posts", [(1, 2), (2, 3)])
def test_a_creation_that_did_not_happen_is_retried_after_looking(tmp_path, failures, posts):
    client = FlakyClient(failures)
    r = restorer(tmp_path, client)
    looked = []
    value = r.create("labels", "label:x", "repos/o/dst/labels", {"name": "x"},
                     lambda: looked.append(1), lambda obj: obj["id"])  # fmt: skip
    assert value == 42 and client.posts == posts and len(looked) == failures
    assert r.journal.get("label:x") == 42 and not r.journal.is_pending("label:x")


def test_a_creation_that_keeps_failing_stays_pending_for_the_next_run(tmp_path):
    from ghbackup.errors import WriteOutcomeUnknown

    r = restorer(tmp_path, FlakyClient(5))
    with pytest.raises(WriteOutcomeUnknown):
        r.create("labels", "label:x", "p", {}, lambda: None, lambda obj: obj["id"])
    again = Journal.open(tmp_path / "j.json", "o/src", "o/dst", "a.zip")
    assert again.is_pending("label:x") and again.get("label:x") is None
