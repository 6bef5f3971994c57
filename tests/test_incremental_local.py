"""Incremental runs end to end: ``run_local`` twice with the same output folder, against the
stand-in, with the real list step, containers and Finalize. The second run's archive must
hold every change made between the runs, restore every repository alone, and capture only
what changed."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
import requests

from ghbackup.restore import restore_archive
from tests.roundtrip import assert_repository_round_trips, refs_of
from tests.standin import AccountSpec, GitHubStandIn, gitrepos
from tests.standin.model import Asset, Review, ReviewComment
from workflow.local_runner import run_local

pytestmark = pytest.mark.integration


@pytest.fixture
def gh(tmp_path):
    spec = AccountSpec(repositories=8, gists=1, followers=1, following=1, starred=1, watched=1)
    with GitHubStandIn(root=tmp_path / "standin", account=spec) as standin:
        yield standin


def _run(gh, out: Path, run_id: str, monkeypatch, **extra):
    monkeypatch.setenv("GITHUB_TOKEN", gh.token)
    outcome = run_local(
        {"orgs": [gh.owner], "users": [], "repositories": [], **extra},
        out_dir=out, github_api_url=gh.api_url, run_id=run_id, timeout_seconds=600,
    )  # fmt: skip
    assert outcome.status == "SUCCEEDED", (outcome.error, outcome.cause)
    manifest = json.loads((out / run_id / "manifest.json").read_text())
    return outcome, {line["item_key"]: line for line in manifest["items"]}


def _assert_every_repository_restores(gh, out: Path, run_id: str, tmp_path: Path) -> None:
    archive = out / run_id / f"ghbackup-{run_id}.zip"
    for name in gh.repository_names():
        restored = tmp_path / "restored" / run_id / name.replace("/", "__")
        restore_archive(archive, restored, repo=name)
        assert_repository_round_trips(gh, restored, name)


def test_a_second_run_over_an_unchanged_account_reuses_every_item(gh, tmp_path, monkeypatch):
    out = tmp_path / "out"
    first, first_lines = _run(gh, out, "run-1", monkeypatch)
    assert {line["capture"] for line in first_lines.values()} == {"full"}
    assert (out / "state" / "latest").is_dir()

    second, lines = _run(gh, out, "run-2", monkeypatch)

    assert {k: v["capture"] for k, v in lines.items()} == {k: "reused" for k in lines}
    assert {v["reused_from"] for v in lines.values()} == {"run-1"}
    # A reused item reports what its capture recorded: the summaries read the same.
    for key, line in lines.items():
        then = first_lines[key]
        assert (line["counts"], line["skipped"]) == (then["counts"], then["skipped"]), key
    assert any(line["counts"] for line in lines.values())
    assert second.summary is not None and first.summary is not None
    assert second.summary.skipped_parts == first.summary.skipped_parts
    assert second.iterations == [], "no task for unchanged items"
    _assert_every_repository_restores(gh, out, "run-2", tmp_path)

    # A corrupt state and a state whose zip is gone: both items are captured in full, and
    # the manifest says why.
    corrupt, missing = sorted(key for key in lines if key.startswith("repository/"))[:2]
    (out / "state" / "latest" / corrupt / "state.json").write_text("{not json")
    (out / "state" / "latest" / missing / "item.zip").unlink()
    third, lines = _run(gh, out, "run-3", monkeypatch)
    assert lines[corrupt]["capture"] == "full"
    assert lines[corrupt]["capture_reason"].startswith("state corrupt")
    assert (lines[missing]["capture"], lines[missing]["capture_reason"]) == (
        "full", "warm copy missing",
    )  # fmt: skip
    assert {v["capture"] for k, v in lines.items() if k not in (corrupt, missing)} == {"reused"}
    assert len(third.iterations) == 1  # the two captured items share one batch
    _assert_every_repository_restores(gh, out, "run-3", tmp_path)


# -- the mutation test ---------------------------------------------------------------------

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Mutation", "GIT_AUTHOR_EMAIL": "m@example.com",
    "GIT_COMMITTER_NAME": "Mutation", "GIT_COMMITTER_EMAIL": "m@example.com",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
}  # fmt: skip


def git(bare: Path, *args: str, stdin: bytes | None = None, **env: str) -> str:
    return subprocess.run(
        ["git", "-C", str(bare), *args], input=stdin, capture_output=True, check=True,
        env={**GIT_ENV, **env}, timeout=60,
    ).stdout.decode().strip()  # fmt: skip


def commit_file(bare: Path, branch: str, path: str, content: bytes, *, parent: bool = True) -> str:
    """A commit adding ``path`` on ``branch`` (without ``parent``: a history of its own, as
    a force-push leaves), made in the bare repository with a throwaway index."""
    blob = git(bare, "hash-object", "-w", "--stdin", stdin=content)
    index = str(bare / "mutation-index")
    if parent:
        git(bare, "read-tree", f"refs/heads/{branch}", GIT_INDEX_FILE=index)
    git(bare, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}",
        GIT_INDEX_FILE=index)  # fmt: skip
    tree = git(bare, "write-tree", GIT_INDEX_FILE=index)
    os.unlink(index)
    parents = ["-p", f"refs/heads/{branch}"] if parent else []
    commit = git(bare, "commit-tree", tree, *parents, "-m", f"mutation of {path}")
    git(bare, "update-ref", f"refs/heads/{branch}", commit)
    return commit


def refresh(gh, repo, *, wiki: bool = False) -> None:
    """Make the stand-in's model read a repository's refs back from its served copy (the
    shared templates are never written)."""
    if wiki:
        repo.wiki = gitrepos._read_info(gh.bare_repo_path(repo.full_name, wiki=True),
                                        "created-wiki", "master")  # fmt: skip
        return
    info = gitrepos._read_info(gh.bare_repo_path(repo.full_name), "created",
                               repo.template.default_branch)  # fmt: skip
    repo.template = info
    repo.branches = dict(info.branches)
    repo.tags = dict(info.tags)


def api(gh, method: str, path: str, body: dict) -> dict:
    resp = requests.request(method, f"{gh.api_url}/{path}", json=body, timeout=30,
                            headers={"Authorization": f"Bearer {gh.token}"})  # fmt: skip
    assert resp.status_code < 300, resp.text
    return resp.json() if resp.content else {}


def _mutate(gh) -> dict[str, str]:
    """One change of every kind the issue lists, spread over the repositories; returns
    {item key: what changed} for the items that must be captured again."""
    acc, now = gh.state.account, int(gh.state.clock())
    owner = gh.owner
    changed = {}

    def repo(name):
        return acc.repo(f"{owner}/{name}")

    # repo-000: a push to a branch, a wiki edit, a new review with a review comment
    r0 = repo("repo-000")
    bare = gh.bare_repo_path(r0.full_name)
    commit_file(bare, r0.template.default_branch, "pushed.txt", b"pushed between runs\n")
    refresh(gh, r0, wiki=False)
    wiki = gh.bare_repo_path(r0.full_name, wiki=True)
    commit_file(wiki, "master", "Edited.md", b"a wiki edit\n")
    refresh(gh, r0, wiki=True)
    pull = next(i for i in r0.issues if i.pull)
    review = Review(gh.state.new_id(), acc.viewer, "COMMENTED", "a new review",
                    pull.pull.head_sha, now)  # fmt: skip
    pull.pull.reviews.append(review)
    pull.pull.review_comments.append(ReviewComment(
        gh.state.new_id(), review.id, acc.viewer, "a review comment", "README.md",
        pull.pull.head_sha, now,
    ))  # fmt: skip
    pull.updated = now  # GitHub moves a pull's updated_at when a review is submitted
    changed["repository/acme/repo-000"] = "push, wiki edit, review and review comment"

    # repo-001: an LFS object added (its pointer pushed, its object uploaded)
    r1 = repo("repo-001")
    content = b"a new large file " * 1000
    oid = hashlib.sha256(content).hexdigest()
    store = gh.lfs_root / r1.full_name
    store.mkdir(parents=True, exist_ok=True)
    (store / oid).write_bytes(content)
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {len(content)}\n"
    commit_file(gh.bare_repo_path(r1.full_name), r1.template.default_branch, "new.bin",
                pointer.encode())  # fmt: skip
    refresh(gh, r1, wiki=False)
    changed["repository/acme/repo-001"] = "LFS object"

    # repo-004: a new comment on an old issue, a label added to another old issue
    r4 = repo("repo-004")
    old = [i for i in r4.issues if not i.pull]
    api(gh, "POST", f"repos/{r4.full_name}/issues/{old[-1].number}/comments",
        {"body": "a late comment"})  # fmt: skip
    api(gh, "PATCH", f"repos/{r4.full_name}/issues/{old[-2].number}",
        {"labels": [*old[-2].labels, r4.labels[-1].name]})  # fmt: skip
    changed["repository/acme/repo-004"] = "comment, label on an old issue"

    # repo-005: a new issue, an edited body of an old one, a new tag
    r5 = repo("repo-005")
    first = min((i for i in r5.issues if not i.pull), key=lambda i: i.number)
    api(gh, "PATCH", f"repos/{r5.full_name}/issues/{first.number}", {"body": "edited body"})
    api(gh, "POST", f"repos/{r5.full_name}/issues", {"title": "a new issue", "body": "new"})
    b5 = gh.bare_repo_path(r5.full_name)
    git(b5, "update-ref", "refs/tags/v-mutation", f"refs/heads/{r5.template.default_branch}")
    refresh(gh, r5, wiki=False)
    changed["repository/acme/repo-005"] = "issue, edited body, tag"

    # repo-007: a force-push and a new refs/pull/*
    r7 = repo("repo-007")
    b7 = gh.bare_repo_path(r7.full_name)
    commit_file(b7, r7.template.default_branch, "rewritten.txt", b"history rewritten\n",
                parent=False)  # fmt: skip
    git(b7, "update-ref", "refs/pull/900/head", f"refs/heads/{r7.template.default_branch}")
    refresh(gh, r7, wiki=False)
    changed["repository/acme/repo-007"] = "force-push, refs/pull"

    # repo-008: a deleted branch (made before the first run), a renamed label, a milestone
    # closed
    r8 = repo("repo-008")
    git(gh.bare_repo_path(r8.full_name), "update-ref", "-d", "refs/heads/to-delete")
    refresh(gh, r8, wiki=False)
    label = r8.labels[0].name
    api(gh, "PATCH", f"repos/{r8.full_name}/labels/{label}", {"new_name": "renamed-label"})
    milestone = next(m for m in r8.milestones if m.state == "open")
    milestone.state = "closed"
    changed["repository/acme/repo-008"] = "deleted branch, renamed label, closed milestone"

    # repo-009: a new release asset
    r9 = repo("repo-009")
    release = r9.releases[0]
    release.assets.append(Asset(gh.state.new_id(), "added.bin", 11, "application/octet-stream",
                                b"seed", now, content=b"added asset"))  # fmt: skip
    acc.index()
    changed["repository/acme/repo-009"] = "release asset"

    # a new repository, a deleted one, a renamed one
    api(gh, "POST", f"orgs/{owner}/repos", {"name": "brand-new", "auto_init": True})
    acc.repos.remove(repo("repo-003"))
    r6 = repo("repo-006")
    old_path = gh.bare_repo_path(r6.full_name)
    r6.name = "repo-006-renamed"
    shutil.move(old_path, old_path.with_name("repo-006-renamed.git"))
    acc.index()
    refresh(gh, r6)
    changed["repository/acme/brand-new"] = "new repository"
    changed["repository/acme/repo-006-renamed"] = "renamed repository"

    # a gist: its description and its files
    gist = acc.gists[0]
    gist.description = "changed between runs"
    gist_bare = gh.gist_repo_path(gist.id)
    branch = git(gist_bare, "symbolic-ref", "--short", "HEAD")
    gist.head = commit_file(gist_bare, branch, "added.txt", b"a gist change\n")
    changed[f"gist/{gist.id}"] = "gist"
    return changed


@pytest.fixture
def gh12(tmp_path):
    spec = AccountSpec(repositories=12, gists=2, followers=1, following=1, starred=1, watched=1)
    with GitHubStandIn(root=tmp_path / "standin", account=spec) as standin:
        r8 = standin.state.account.repo(f"{standin.owner}/repo-008")
        bare = standin.bare_repo_path(r8.full_name)
        git(bare, "update-ref", "refs/heads/to-delete", f"refs/heads/{r8.template.default_branch}")
        refresh(standin, r8)
        yield standin


def test_the_second_run_holds_every_change_and_captures_only_what_changed(
    gh12, tmp_path, monkeypatch
):
    gh, out = gh12, tmp_path / "out"
    selection = {"users": [gh.state.account.gists[0].owner.login], "gists": True,
                 "account": False}  # fmt: skip
    _run(gh, out, "run-1", monkeypatch, **selection)
    changed = _mutate(gh)
    gh.reset_request_log()

    _second, lines = _run(gh, out, "run-2", monkeypatch, **selection)

    assert "repository/acme/repo-003" not in lines  # deleted: not listed, not failed
    assert "repository/acme/repo-006" not in lines
    modes = {key: line["capture"] for key, line in lines.items()}
    for key, what in changed.items():
        assert modes.get(key) in ("captured", "full"), f"{key} ({what}) was not captured"
    assert modes["repository/acme/brand-new"] == "full"
    assert lines["repository/acme/brand-new"]["capture_reason"] == "no earlier capture"
    unchanged = sorted(key for key in lines if key not in changed)
    assert unchanged, "the account keeps unchanged items"
    assert {modes[key] for key in unchanged} == {"reused"}
    assert {lines[key]["reused_from"] for key in unchanged} == {"run-1"}

    # Unchanged items were not captured: no clone of theirs, and only free answers.
    for key in unchanged:
        name = key.split("/", 1)[1]
        assert not [e for e in gh.git_log if name + ".git/git-upload-pack" in e[1]], key
        statuses = {e[2] for e in gh.request_log if f"/{name}" in e[1].split("?")[0] + "/"}
        assert statuses <= {304}, f"{key}: {statuses}"
    # A changed repository's capture asks the pages of its last one with their ETags: what
    # did not change costs a 304 (no rate limit), and the archive still holds every change.
    captured = [key.split("/", 1)[1] for key in changed
                if key.startswith("repository/") and modes[key] == "captured"]  # fmt: skip
    assert captured
    for name in captured:
        statuses = [e[2] for e in gh.request_log if f"/{name}/" in e[1].split("?")[0] + "/"]
        assert 304 in statuses and 200 in statuses, f"{name}: {sorted(set(statuses))}"

    # Every repository restores from the second run's zip alone, equal to the source now.
    _assert_every_repository_restores(gh, out, "run-2", tmp_path)
    archive = out / "run-2" / "ghbackup-run-2.zip"
    with zipfile.ZipFile(archive) as run_zip:
        for gist in gh.state.account.gists:
            manifest = json.loads(
                run_zip.read(f"{gist.owner.login}/@gists/{gist.id}/manifest.json")
            )
            assert manifest["git"]["repository"]["refs"] == refs_of(gh.gist_repo_path(gist.id))
            saved = json.loads(run_zip.read(f"{gist.owner.login}/@gists/{gist.id}/gist.json"))
            assert saved["description"] == gist.description
