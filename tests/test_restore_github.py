"""Restore to GitHub against the stand-in: round trip, interruption, plan and refusals.

A repository is captured through the normal capture path, restored to a new name on the
same stand-in, and the new repository is captured again; both archives are then compared.
The restore's client and the stand-in share a fake clock, so pacing and rate-limit waits
take no real time.
"""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

import pytest

from cli import main as cli
from ghbackup.backup import backup_item
from ghbackup.credentials import TokenCredentials
from ghbackup.errors import (
    ArchiveCorrupt,
    ConfigurationError,
    GitHubError,
    RateLimitExceeded,
    WriteOutcomeUnknown,
)
from ghbackup.github import RetryPolicy
from ghbackup.github_writes import GitHubWriter
from ghbackup.records import BackupItem
from ghbackup.restore import restore_archive
from ghbackup.restore_github import restore_to_github
from ghbackup.restore_issues import strip_attribution
from ghbackup.store import DirectoryDestination
from tests.roundtrip import lfs_oids, refs_of

pytestmark = pytest.mark.integration


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def gh(standin):
    from tests.standin import openapi
    from tests.test_standin_schema import _fetch_description

    _fetch_description()
    standin.state.request_validator = openapi.load()
    standin.clock = FakeClock()
    standin.state.clock = standin.clock.time
    # Varied content: an assignee, a closed-as-not-planned issue, a deleted issue (a gap).
    repo = standin.repository(f"{standin.owner}/repo-000")
    repo.issues[0].assignees = [standin.account.viewer]
    repo.issues[0].state, repo.issues[0].closed = "closed", repo.issues[0].created + 99
    repo.issues[0].state_reason = "not_planned"
    repo.issues = [i for i in repo.issues if i.number != 2]
    return standin


def capture(gh, full_name: str, out: Path) -> Path:
    client = GitHubWriter(gh.api_url, TokenCredentials(gh.token))
    item = BackupItem.from_json({"kind": "repository", "full_name": full_name})
    result = backup_item(item, client, DirectoryDestination(out), run_id="r")
    assert result.status == "succeeded", result.error
    return Path(result.zip_key)  # type: ignore[arg-type]


def restorer_client(gh, token: str | None = None, **policy) -> GitHubWriter:
    return GitHubWriter(
        gh.api_url,
        TokenCredentials(token or gh.token),
        sleep=gh.clock.sleep,
        clock=gh.clock.time,
        policy=RetryPolicy(**policy),
    )


def restore(gh, zip_path: Path, source: str, target: str, tmp: Path, **kwargs):
    client = kwargs.pop("client", None) or restorer_client(gh)
    return restore_to_github(
        zip_path,
        source,
        target,
        client,
        client.credentials,
        journal_path=tmp / f"{target.replace('/', '_')}.journal.json",
        clock=gh.clock.time,
        sleep=gh.clock.sleep,
        **kwargs,
    )


def unpacked(zip_path: Path, full_name: str, where: Path) -> Path:
    restore_archive(zip_path, where, repo=full_name)
    return where


def assert_same_repository(src_root: Path, source: str, dst_root: Path, target: str) -> None:
    """The comparison issue 13 asks for, between two restored captures."""
    so, sn = source.split("/")
    do, dn = target.split("/")
    heads_tags = lambda refs: {k: v for k, v in refs.items() if not k.startswith("refs/pull/")}  # noqa: E731
    assert heads_tags(refs_of(dst_root / do / f"{dn}.git")) == heads_tags(
        refs_of(src_root / so / f"{sn}.git")
    )
    assert lfs_oids(dst_root / do / f"{dn}.git") == lfs_oids(src_root / so / f"{sn}.git")
    if (src_root / so / f"{sn}.wiki.git").exists():
        assert refs_of(dst_root / do / f"{dn}.wiki.git") == refs_of(
            src_root / so / f"{sn}.wiki.git"
        )
    s, d = src_root / so / sn, dst_root / do / dn

    def load(root: Path, rel: str):
        return json.loads((root / rel).read_text())

    def items(root: Path, kind: str) -> dict[int, dict]:
        return {int(p.stem): json.loads(p.read_text()) for p in (root / kind).glob("*.json")}

    def same_item(a: dict, b: dict) -> None:
        assert b["title"] == a["title"]
        assert strip_attribution(b["body"]) == (a["body"] or "")
        assert b["state"] == a["state"]
        assert {x["name"] for x in b["labels"]} == {x["name"] for x in a["labels"]}
        assert (b["milestone"] or {}).get("title") == (a["milestone"] or {}).get("title")

    src_issues, dst_issues = items(s, "issues"), items(d, "issues")
    for n, a in src_issues.items():
        same_item(a, dst_issues[n])
        assert dst_issues[n].get("state_reason") == a.get("state_reason")
        assert [x["login"] for x in dst_issues[n]["assignees"]] == [
            x["login"] for x in a["assignees"]
        ]
        assert len(dst_issues[n]["comment_data"]) == len(a["comment_data"])
    extra = set(dst_issues) - set(src_issues)
    assert all(dst_issues[n]["title"] == f"Placeholder for #{n}" for n in extra)
    src_pulls, dst_pulls = items(s, "pulls"), items(d, "pulls")
    assert set(dst_pulls) == set(src_pulls)
    for n, a in src_pulls.items():
        same_item(a, dst_pulls[n])
        conversation = len(a["comment_regular_data"]) + len(a["comment_data"])
        assert len(dst_pulls[n]["comment_regular_data"]) == conversation + len(a["review_data"])
    norm = lambda labels: sorted((x["name"], x["color"], x["description"]) for x in labels)  # noqa: E731
    assert norm(load(d, "labels/labels.json")) == norm(load(s, "labels/labels.json"))
    keys = ("number", "title", "state", "description", "due_on")
    assert [{k: m[k] for k in keys} for m in items(d, "milestones").values()] == [
        {k: m[k] for k in keys} for m in items(s, "milestones").values()
    ]
    releases = lambda root: {  # noqa: E731
        r["tag_name"]: (
            r["name"],
            r["body"],
            r["prerelease"],
            sorted(a["name"] for a in r["assets"]),
        )
        for r in (json.loads(p.read_text()) for p in (root / "releases").glob("*.json"))
    }
    assert releases(d) == releases(s)
    for f in (s / "releases").glob("*/*"):
        assert (d / f.relative_to(s)).read_bytes() == f.read_bytes()
    assert load(d, "repository.json")["description"] == load(s, "repository.json")["description"]
    assert (
        load(d, "repository.json")["default_branch"] == load(s, "repository.json")["default_branch"]
    )
    assert load(d, "repository.json")["topics"] == load(s, "repository.json")["topics"]


def test_round_trip_through_github_keeps_git_lfs_wiki_issues_pulls_and_releases(gh, tmp_path):
    figures = {}
    for name, new in (("repo-000", "restored-000"), ("repo-001", "restored-001")):
        source, target = f"{gh.owner}/{name}", f"{gh.owner}/{new}"
        zip_path = capture(gh, source, tmp_path / "a")
        gh.reset_request_log()
        started = time.monotonic()
        report = restore(gh, zip_path, source, target, tmp_path)
        figures[name] = (report.created, report.writes, report.requests,
                         round(time.monotonic() - started, 1), report.waited_seconds)  # fmt: skip
        assert not report.warnings, report.warnings
        assert report.local_refs == sorted(
            r for r in refs_of(gh.bare_repo_path(source)) if r.startswith("refs/pull/")
        )
        again = capture(gh, target, tmp_path / "b")
        assert_same_repository(
            unpacked(zip_path, source, tmp_path / f"s-{name}"),
            source,
            unpacked(again, target, tmp_path / f"d-{name}"),
            target,
        )
    assert figures["repo-000"][0]["placeholders"] == 1
    assert gh.lfs_object_ids(f"{gh.owner}/restored-001")
    print("round trip figures:", figures)


def test_an_interrupted_restore_continues_without_duplicates(gh, tmp_path):
    source = f"{gh.owner}/repo-000"
    zip_path = capture(gh, source, tmp_path / "a")
    # GitHub's answer outlasts the client's patience: the restore stops, then runs again.
    gh.state.content_limits.per_hour = 12
    runs = 0
    while True:
        runs += 1
        client = restorer_client(gh, max_rate_limit_wait=120)
        try:
            restore(gh, zip_path, source, f"{gh.owner}/again", tmp_path, client=client)
            break
        except RateLimitExceeded:
            gh.clock.now += 3600
        assert runs < 20
    assert runs > 2
    # A killed process: the write reached GitHub, the answer never came back.
    gh.state.content_limits.per_hour = 500
    client = restorer_client(gh)
    real_write, calls = client.write, [0]

    def dies_after_five(method, path, body=None):
        result = real_write(method, path, body)
        calls[0] += 1
        if calls[0] == 5:
            raise KeyboardInterrupt
        return result

    client.write = dies_after_five  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        restore(gh, zip_path, source, f"{gh.owner}/killed", tmp_path, client=client)
    restore(gh, zip_path, source, f"{gh.owner}/killed", tmp_path)
    once = restore(gh, zip_path, source, f"{gh.owner}/once", tmp_path)
    assert once.writes > 0
    src = unpacked(zip_path, source, tmp_path / "s")
    for name in ("again", "killed", "once"):
        target = f"{gh.owner}/{name}"
        assert_same_repository(src, source, unpacked(capture(gh, target, tmp_path / name), target,
                                                     tmp_path / f"d-{name}"), target)  # fmt: skip
    counts = {
        n: sum(len(i.comments) for i in gh.repository(f"{gh.owner}/{n}").issues)
        for n in ("again", "killed", "once")
    }
    assert counts["again"] == counts["killed"] == counts["once"]
    # Run again after the end: nothing more is created.
    gh.reset_request_log()
    restore(gh, zip_path, source, f"{gh.owner}/once", tmp_path)
    assert not [e for e in gh.request_log if e[0] != "GET"]


def test_plan_writes_nothing_and_estimates_requests_and_time(gh, tmp_path):
    source = f"{gh.owner}/repo-000"
    zip_path = capture(gh, source, tmp_path / "a")
    gh.reset_request_log()
    report = restore(gh, zip_path, source, f"{gh.owner}/planned", tmp_path, plan_only=True)
    assert sum(report.plan.values()) > 20 and report.estimated_seconds > 20
    assert not [e for e in gh.request_log if e[0] != "GET"]
    assert gh.account.repo(f"{gh.owner}/planned") is None


def test_a_target_with_content_is_refused_with_one_line_and_nothing_written(
    gh, tmp_path, monkeypatch, capsys
):
    source = f"{gh.owner}/repo-000"
    zip_path = capture(gh, source, tmp_path / "a")
    gh.reset_request_log()
    monkeypatch.setenv("GITHUB_TOKEN", gh.token)
    code = cli.main(["restore", str(zip_path), "--repo", source, "--to-github",
                     f"{gh.owner}/repo-003", "--api-url", gh.api_url,
                     "--journal", str(tmp_path / "j.json")])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "already exists" in err
    assert not [e for e in gh.request_log if e[0] != "GET"]
    assert not (tmp_path / "j.json").exists()  # nothing was created, nothing to record


def test_a_token_that_cannot_create_the_repository_is_refused(gh, tmp_path):
    source = f"{gh.owner}/repo-000"
    zip_path = capture(gh, source, tmp_path / "a")
    client = restorer_client(gh, token=gh.reader_token)
    with pytest.raises(GitHubError) as exc:
        restore(gh, zip_path, source, f"{gh.owner}/denied", tmp_path, client=client)
    assert exc.value.status == 403 and "\n" not in str(exc.value)
    assert gh.account.repo(f"{gh.owner}/denied") is None
    journal = json.loads((tmp_path / f"{gh.owner}_denied.journal.json").read_text())
    assert journal["created"] == {}


def test_an_item_whose_capture_failed_is_refused_before_anything_is_written(gh, tmp_path):
    source = f"{gh.owner}/repo-000"
    zip_path = capture(gh, source, tmp_path / "a")
    broken = tmp_path / "incomplete.zip"
    with zipfile.ZipFile(zip_path) as src, zipfile.ZipFile(broken, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("/manifest.json"):
                data = json.dumps({**json.loads(data), "complete": False}).encode()
            dst.writestr(info, data)
    gh.reset_request_log()
    for archive, repo in ((broken, source), (zip_path, f"{gh.owner}/never-captured")):
        with pytest.raises((ConfigurationError, ArchiveCorrupt)) as exc:
            restore(gh, archive, repo, f"{gh.owner}/nope", tmp_path)
        assert "\n" not in str(exc.value) and "nothing was restored" in str(exc.value)
    assert not gh.request_log


def test_a_creation_whose_answer_was_lost_is_looked_up_not_repeated(gh, tmp_path):
    source = f"{gh.owner}/repo-000"
    zip_path = capture(gh, source, tmp_path / "a")
    client = restorer_client(gh)
    real_write, lost = client.write, []

    def answer_lost(method, path, body=None):
        result = real_write(method, path, body)
        if method == "POST" and len(lost) < 4 and ("/issues" in path or "/labels" in path):
            lost.append(path)  # GitHub created it; the 502 came back instead of the object
            raise WriteOutcomeUnknown(f"POST {path}: HTTP 502", 502)
        return result

    client.write = answer_lost  # type: ignore[method-assign]
    report = restore(gh, zip_path, source, f"{gh.owner}/lossy", tmp_path, client=client)
    assert len(lost) == 4 and not report.warnings
    target = f"{gh.owner}/lossy"
    src = unpacked(zip_path, source, tmp_path / "s")
    dst = unpacked(capture(gh, target, tmp_path / "b"), target, tmp_path / "d")
    assert_same_repository(src, source, dst, target)


def test_cli_plan_prints_writes_requests_and_time(gh, tmp_path, monkeypatch, capsys):
    source = f"{gh.owner}/repo-000"
    zip_path = capture(gh, source, tmp_path / "a")
    monkeypatch.setenv("GITHUB_TOKEN", gh.token)
    code = cli.main(["restore", str(zip_path), "--repo", source, "--to-github",
                     f"{gh.owner}/planned", "--api-url", gh.api_url, "--plan"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "writes in all" in out and "requests" in out and " s under GitHub's" in out
    assert gh.account.repo(f"{gh.owner}/planned") is None


def test_branch_protection_is_applied_only_when_asked(gh, tmp_path):
    source = f"{gh.owner}/repo-000"
    protected = set(gh.repository(source).protected)
    assert protected
    zip_path = capture(gh, source, tmp_path / "a")
    restore(gh, zip_path, source, f"{gh.owner}/plain", tmp_path)
    assert not gh.repository(f"{gh.owner}/plain").protected
    report = restore(gh, zip_path, source, f"{gh.owner}/guarded", tmp_path, protection=True)
    assert set(gh.repository(f"{gh.owner}/guarded").protected) == protected
    assert report.created["branch protections"] == len(protected)
