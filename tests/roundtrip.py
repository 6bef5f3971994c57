"""Checks that a captured item restores to exactly what the stand-in holds."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import requests


def refs_of(repo: Path) -> dict[str, str]:
    out = subprocess.run(
        ["git", "for-each-ref", "--format=%(objectname) %(refname)"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return dict(reversed(line.split(" ", 1)) for line in out.splitlines() if line)


def fsck(repo: Path) -> None:
    subprocess.run(
        ["git", "fsck", "--full", "--strict"],
        cwd=repo,
        capture_output=True,
        check=True,
        timeout=300,
    )


def add_legacy_history(repo: Path) -> dict[str, str]:
    """Add objects that old git versions and importers wrote and GitHub still serves, intact
    but flagged by today's fsck, on top of HEAD (bare or not): a tree with a zero-padded file
    mode, a commit with a two-digit time zone and no space before the committer's date, and
    a tag without a tagger line. Returns the refs it set: refs/heads/legacy, refs/tags/v0.1."""

    def git(*args: str, body: bytes | None = None) -> str:
        return subprocess.run(["git", *args], cwd=repo, input=body, capture_output=True,
                              check=True, timeout=60).stdout.decode().strip()  # fmt: skip

    def store(kind: str, body: bytes) -> str:
        return git("hash-object", "-t", kind, "-w", "--literally", "--stdin", body=body)

    parent = git("rev-parse", "HEAD")
    blob = next(line.split()[2] for line in git("ls-tree", "HEAD").splitlines() if " blob " in line)
    tree = store("tree", b"0100644 legacy.txt\0" + bytes.fromhex(blob))
    commit = store("commit", (
        f"tree {tree}\nparent {parent}\n"
        "author Old Timer <old@example.com> 1112911993 +05\n"
        "committer Old Timer <old@example.com>1112911993 -0700\n\nimported long ago\n"
    ).encode())  # fmt: skip
    tag = store("tag", f"object {commit}\ntype commit\ntag v0.1\n\nold\n".encode())
    git("update-ref", "refs/heads/legacy", commit)
    git("update-ref", "refs/tags/v0.1", tag)
    return {"refs/heads/legacy": commit, "refs/tags/v0.1": tag}


def lfs_oids(repo: Path) -> set[str]:
    root = repo / "lfs" / "objects"
    return {p.name for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def served(gh: Any, path: str, **params: Any) -> Any:
    """Every item of a list endpoint (or one object) as the stand-in serves it."""
    url = f"{gh.api_url}/{path}"
    headers = {"Authorization": f"Bearer {gh.token}", "Accept": "application/vnd.github+json"}
    items: list[Any] = []
    query: dict[str, Any] | None = {"per_page": 100, **params}
    while url:
        resp = requests.get(url, headers=headers, params=query, timeout=30)
        resp.raise_for_status()
        body = resp.json()
        if not isinstance(body, list):
            return body
        items.extend(body)
        query = None
        url = resp.links.get("next", {}).get("url")
    return items


def served_or_empty(gh: Any, path: str, **params: Any) -> Any:
    """Like ``served``, but a resource the stand-in answers 410 Gone for (disabled) is []."""
    try:
        return served(gh, path, **params)
    except requests.HTTPError as exc:
        if exc.response is not None and exc.response.status_code == 410:
            return []
        raise


def restored_mirror(restored: Path, full_name: str) -> Path:
    """Where ``ghbackup restore`` puts the bare mirror of ``owner/name``."""
    owner, name = full_name.split("/")
    return restored / owner / f"{name}.git"


def assert_repository_round_trips(gh: Any, restored: Path, full_name: str) -> None:
    """Refs, fsck, LFS objects, wiki refs and metadata JSON equal to the source."""
    owner, name = full_name.split("/")
    mirror = restored_mirror(restored, full_name)
    source_refs = refs_of(gh.bare_repo_path(full_name))
    assert refs_of(mirror) == source_refs, f"{full_name}: refs differ"
    if source_refs:
        fsck(mirror)
    assert lfs_oids(mirror) == set(gh.lfs_object_ids(full_name)), f"{full_name}: LFS objects differ"
    wiki_source = gh.bare_repo_path(full_name, wiki=True)
    wiki_refs = refs_of(wiki_source) if wiki_source.exists() else {}
    if wiki_refs:
        assert refs_of(restored / owner / f"{name}.wiki.git") == wiki_refs, (
            f"{full_name}: wiki differs"
        )

    meta = restored / owner / name
    repo = json.loads((meta / "repository.json").read_text())
    assert repo == served(gh, f"repos/{full_name}")
    if repo.get("has_issues"):
        issues = [
            i
            for i in served(gh, f"repos/{full_name}/issues", state="all")
            if "pull_request" not in i
        ]
        for issue in issues:
            saved = json.loads((meta / "issues" / f"{issue['number']}.json").read_text())
            assert saved.pop("comment_data") == served(
                gh, f"repos/{full_name}/issues/{issue['number']}/comments"
            )
            assert saved.pop("event_data") == served(
                gh, f"repos/{full_name}/issues/{issue['number']}/events"
            )
            assert saved == issue
    for pull in served(gh, f"repos/{full_name}/pulls", state="all"):
        saved = json.loads((meta / "pulls" / f"{pull['number']}.json").read_text())
        assert saved.pop("comment_data") == served(
            gh, f"repos/{full_name}/pulls/{pull['number']}/comments"
        )
        assert saved.pop("review_data") == served(
            gh, f"repos/{full_name}/pulls/{pull['number']}/reviews"
        )
        assert saved.pop("commit_data") == served(
            gh, f"repos/{full_name}/pulls/{pull['number']}/commits"
        )
        assert saved.pop("comment_regular_data") == served_or_empty(
            gh, f"repos/{full_name}/issues/{pull['number']}/comments"
        )
        assert saved.pop("event_data") == served_or_empty(
            gh, f"repos/{full_name}/issues/{pull['number']}/events"
        )
        assert saved == pull
    labels = served(gh, f"repos/{full_name}/labels")
    assert json.loads((meta / "labels" / "labels.json").read_text()) == labels
    for milestone in served(gh, f"repos/{full_name}/milestones", state="all"):
        assert (
            json.loads((meta / "milestones" / f"{milestone['number']}.json").read_text())
            == milestone
        )
    saved_releases = [json.loads(f.read_text()) for f in (meta / "releases").glob("*.json")]
    for release in served(gh, f"repos/{full_name}/releases"):
        assert release in saved_releases, f"release {release['tag_name']} missing"
