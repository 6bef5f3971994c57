"""Capture of one item (a repository, a gist or an account) into one zip.

The zip is complete or it does not exist: any failure aborts the writer, which removes the
partial file. Missing optional parts (a disabled wiki, hooks the token may not read, an
empty repository) are recorded in the manifest's ``skipped`` with the reason, not fatal.
Layout and manifest: docs/design.md; JSON follows python-github-backup where it has a layout.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ghbackup.archive import ItemArchiveWriter, safe_name
from ghbackup.errors import NotFound
from ghbackup.github import GitHubClient
from ghbackup.github_http import OptionalResource
from ghbackup.gitmirror import (
    GitSettings,
    create_bundle,
    fetch_lfs_objects,
    mirror_clone,
)
from ghbackup.records import BackupItem, GitState, utc_timestamp

log = logging.getLogger(__name__)

# GitHub's "List commits on a pull request" stops at 250 commits.
PULL_COMMITS_LIMIT = 250

# progress(phase, advance, total): the CLI shows it as a bar, AWS as log lines.
Progress = Callable[[str, int, int | None], None]


def _no_progress(phase: str, advance: int, total: int | None) -> None:
    return None


@dataclass
class CaptureReport:
    """What a finished capture produced, for the result record."""

    zip_path: Path
    zip_bytes: int
    zip_sha256: str
    counts: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


@dataclass
class _Capture:
    """The state of one capture in progress: the writer, counts and skip reasons."""

    item: BackupItem
    client: GitHubClient
    writer: ItemArchiveWriter
    scratch: Path
    progress: Progress
    git: GitSettings
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    skipped: dict[str, str] = field(default_factory=dict)
    git_state: dict[str, GitState] = field(default_factory=dict)
    lfs: dict[str, int] = field(default_factory=lambda: {"objects": 0, "bytes": 0})

    def skip(self, what: str, reason: str) -> None:
        log.info("%s skipped: %s", what, reason)
        self.skipped[what] = reason

    def skip_missing(self, what: str, resource: OptionalResource) -> None:
        """Record an optional resource GitHub did not give, with GitHub's reason."""
        self.skip(what, resource.reason or "unavailable")


def capture_item(
    item: BackupItem,
    client: GitHubClient,
    *,
    zip_path: Path,
    scratch: Path | None = None,
    progress: Progress | None = None,
    git: GitSettings | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> CaptureReport:
    """Capture ``item`` from GitHub into ``zip_path``; raises a BackupError on failure, in
    which case ``zip_path`` does not exist."""
    started = now()
    requests_before = client.requests_made
    workdir = Path(tempfile.mkdtemp(prefix="capture-", dir=scratch))
    writer = ItemArchiveWriter(zip_path, item)
    cap = _Capture(item, client, writer, workdir, progress or _no_progress, git or GitSettings())
    try:
        if item.kind == "repository":
            _capture_repository(cap)
        elif item.kind == "gist":
            _capture_gist(cap)
        else:
            _capture_account(cap)
        finished = now()
        manifest = {
            "git": cap.git_state,
            "lfs": cap.lfs,
            "counts": dict(sorted(cap.counts.items())),
            "skipped": dict(sorted(cap.skipped.items())),
            "github_requests": client.requests_made - requests_before,
            "started_at": utc_timestamp(started),
            "finished_at": utc_timestamp(finished),
            "complete": True,
        }
        summary = writer.close(manifest)
    except BaseException:
        writer.abort()
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return CaptureReport(
        zip_path=zip_path,
        zip_bytes=summary.size,
        zip_sha256=summary.sha256,
        counts=dict(cap.counts),
        skipped=dict(cap.skipped),
    )


# -- repositories ----------------------------------------------------------------------


def _capture_repository(cap: _Capture) -> None:
    full_name = cap.item.full_name or ""
    repo = cap.client.get(f"repos/{full_name}")
    if not isinstance(repo, dict):
        raise NotFound(f"repository {full_name} not found", 404)
    # A renamed repository answers under its new name; capture it under the name asked for.
    base = f"repos/{full_name}"
    cap.writer.add_json("repository.json", repo)
    cap.progress("repository", 1, None)

    _capture_git(cap, repo)
    _capture_wiki(cap, repo)
    _capture_issues_and_pulls(cap, base, repo)
    _capture_simple_lists(cap, base)
    _capture_releases(cap, base)
    _capture_branches(cap, base, repo)


def _capture_git(cap: _Capture, repo: dict[str, Any]) -> None:
    clone_url = repo.get("clone_url")
    if not clone_url:
        cap.skip("git", "the repository object has no clone_url")
        return
    cap.progress("git clone", 0, None)
    state = _bundle_of(cap, clone_url, "repository", lfs=True)
    cap.counts["refs"] = len(state.refs)
    if not state.refs:
        cap.skip("git", "repository is empty")
    cap.git_state["repository"] = state
    cap.progress("git clone", 1, None)


def _capture_wiki(cap: _Capture, repo: dict[str, Any]) -> None:
    if not repo.get("has_wiki"):
        cap.skip("wiki", "disabled")
        return
    clone_url = repo.get("clone_url") or ""
    wiki_url = re.sub(r"\.git$", "", clone_url) + ".wiki.git"
    try:
        state = _bundle_of(cap, wiki_url, "wiki")
    except NotFound:
        state = GitState()  # GitHub has no wiki repository until the first page is written
    if state.refs:
        cap.git_state["wiki"] = state
        cap.counts["wiki_refs"] = len(state.refs)
    else:
        cap.skip("wiki", "enabled but has no pages")


def _bundle_of(cap: _Capture, url: str, name: str, *, lfs: bool = False) -> GitState:
    """Mirror-clone ``url`` into scratch and store one bundle of every ref as
    ``<name>.bundle`` (nothing for an empty repository); with ``lfs``, also its LFS objects
    under ``lfs/objects/``. Returns the refs and HEAD that were bundled. NotFound when the
    remote does not exist."""
    mirror = cap.scratch / f"{name}.git"
    try:
        state = mirror_clone(url, mirror, cap.client.credentials, settings=cap.git)
        fetched = (
            fetch_lfs_objects(mirror, url, cap.client.credentials, settings=cap.git)
            if lfs
            else None
        )
        if state.refs:
            bundle = cap.scratch / f"{name}.bundle"
            create_bundle(mirror, bundle, state=state, settings=cap.git)
            cap.writer.add_file(f"{name}.bundle", bundle)
            bundle.unlink()
            state.bundle = f"{name}.bundle"
        if fetched is not None:
            if fetched.missing:
                cap.skip("lfs", fetched.missing)
            cap.lfs = {"objects": fetched.objects, "bytes": fetched.bytes}
            cap.counts["lfs_objects"] = fetched.objects
            if fetched.objects:
                cap.writer.add_tree("lfs/objects", mirror / "lfs" / "objects")
    finally:
        shutil.rmtree(mirror, ignore_errors=True)
    return state


def _capture_issues_and_pulls(cap: _Capture, base: str, repo: dict[str, Any]) -> None:
    """Issues and pulls with their comments, events, reviews and commits.

    Comments and events are listed once per repository (``/issues/comments``,
    ``/issues/events``, ``/pulls/comments``) and grouped by number, instead of once per
    issue: the same objects for a fraction of the requests.
    """
    issues_listing = (
        cap.client.list_optional(
            f"{base}/issues", {"state": "all", "sort": "created", "direction": "asc"}
        )
        if repo.get("has_issues", True)
        else None
    )
    pulls_listing = cap.client.list_optional(
        f"{base}/pulls", {"state": "all", "sort": "created", "direction": "asc"}
    )
    issues = []
    if issues_listing is None:
        cap.skip("issues", "disabled")
    elif not issues_listing.present:
        cap.skip_missing("issues", issues_listing)
    else:
        issues = [i for i in issues_listing.value if "pull_request" not in i]
    pulls = []
    if not pulls_listing.present:
        cap.skip_missing("pulls", pulls_listing)
    else:
        pulls = pulls_listing.value

    # Conversation comments of issues and pulls live under /issues/comments for both.
    comments_by_number: dict[int, list[Any]] = {}
    events_by_number: dict[int, list[Any]] = {}
    if issues or pulls:
        comments_by_number = _grouped_by_number(
            cap,
            f"{base}/issues/comments",
            "issue_comments",
            lambda c: (_number_from_url(c.get("issue_url")), c),
            {"sort": "created", "direction": "asc"},
        )
        # Pull requests are issues to GitHub: their timeline events (merged, closed,
        # review requested...) are in the same listing.
        events_by_number = _grouped_by_number(
            cap, f"{base}/issues/events", "issue_events", _event_without_issue
        )

    for issue in issues:
        number = issue.get("number")
        record = dict(issue)
        record["comment_data"] = comments_by_number.get(number, [])
        record["event_data"] = events_by_number.get(number, [])
        cap.writer.add_json(f"issues/{number}.json", record)
        cap.counts["issues"] += 1
        cap.counts["issue_comments"] += len(record["comment_data"])
        cap.counts["issue_events"] += len(record["event_data"])
    cap.progress("issues", len(issues), None)

    if not pulls:
        return
    review_comments = _grouped_by_number(
        cap,
        f"{base}/pulls/comments",
        "pull_review_comments",
        lambda c: (_number_from_url(c.get("pull_request_url")), c),
        {"sort": "created", "direction": "asc"},
    )
    for pull in pulls:
        number = pull.get("number")
        record = dict(pull)
        record["comment_regular_data"] = comments_by_number.get(number, [])
        record["comment_data"] = review_comments.get(number, [])
        record["event_data"] = events_by_number.get(number, [])
        reviews = cap.client.list_optional(f"{base}/pulls/{number}/reviews")
        record["review_data"] = reviews.value if reviews.present else []
        commits = cap.client.list_optional(f"{base}/pulls/{number}/commits")
        record["commit_data"] = commits.value if commits.present else []
        if len(record["commit_data"]) >= PULL_COMMITS_LIMIT:
            cap.skip(
                f"pulls/{number}/commits",
                f"GitHub lists at most {PULL_COMMITS_LIMIT} commits of a pull request; "
                "the rest are in the git bundle (refs/pull/*)",
            )
        if not reviews.present:
            cap.skip_missing(f"pulls/{number}/reviews", reviews)
        if not commits.present:
            cap.skip_missing(f"pulls/{number}/commits", commits)
        cap.writer.add_json(f"pulls/{number}.json", record)
        cap.counts["pulls"] += 1
        cap.counts["pull_review_comments"] += len(record["comment_data"])
        cap.counts["pull_reviews"] += len(record["review_data"])
        cap.counts["pull_commits"] += len(record["commit_data"])
        cap.counts["pull_events"] += len(record["event_data"])
        cap.progress("pulls", 1, len(pulls))


def _capture_simple_lists(cap: _Capture, base: str) -> None:
    milestones = cap.client.list_optional(f"{base}/milestones", {"state": "all"})
    if milestones.present:
        for milestone in milestones.value:
            cap.writer.add_json(f"milestones/{milestone.get('number')}.json", milestone)
        cap.counts["milestones"] = len(milestones.value)
    else:
        cap.skip_missing("milestones", milestones)

    for what, path, name in (
        ("labels", f"{base}/labels", "labels/labels.json"),
        ("hooks", f"{base}/hooks", "hooks/hooks.json"),
    ):
        listing = cap.client.list_optional(path)
        if listing.present:
            cap.writer.add_json(name, listing.value)
            cap.counts[what] = len(listing.value)
        else:
            cap.skip_missing(what, listing)

    topics = cap.client.get_optional(f"{base}/topics")
    if topics.present:
        cap.writer.add_json("topics.json", topics.value)
    else:
        cap.skip_missing("topics", topics)


def _capture_releases(cap: _Capture, base: str) -> None:
    listing = cap.client.list_optional(f"{base}/releases")
    if not listing.present:
        cap.skip_missing("releases", listing)
        return
    total_assets = sum(len(r.get("assets") or []) for r in listing.value)
    used: set[str] = set()
    for release in listing.value:
        tag = safe_name(release.get("tag_name") or f"release-{release.get('id')}")
        if tag in used:  # draft releases may share a tag name: keep both, apart
            tag = safe_name(f"{tag}~{release.get('id')}")
        used.add(tag)
        cap.writer.add_json(f"releases/{tag}.json", release)
        cap.counts["releases"] += 1
        for asset in release.get("assets") or []:
            _capture_asset(cap, tag, asset, total_assets)


def _capture_asset(cap: _Capture, tag: str, asset: dict[str, Any], total: int) -> None:
    """Download to scratch first (a cut download restarts cleanly), then store in the zip.

    An asset whose upload never finished (``state`` other than ``uploaded``: GitHub lists
    it but cannot serve it) or that is gone by the time it is fetched is recorded as
    skipped; the rest of the repository is still captured.
    """
    url = asset.get("url")
    name = safe_name(asset.get("name") or f"asset-{asset.get('id')}")
    what = f"releases/{tag}/{name}"
    state = asset.get("state", "uploaded")
    reason = None
    if not url:
        reason = "asset has no API url"
    elif state != "uploaded":
        reason = f"asset upload not finished on GitHub (state {state!r})"
    path = cap.scratch / "asset.bin"
    if reason is None:
        try:
            with open(path, "w+b") as sink:
                size = cap.client.download(str(url), sink, expected_size=asset.get("size"))
        except NotFound as exc:
            path.unlink(missing_ok=True)
            reason = f"asset not found when downloaded ({exc})"
    if reason is not None:
        cap.skip(what, reason)
        cap.progress("release assets", 1, total)
        return
    cap.writer.add_file(f"releases/{tag}/{name}", path)
    path.unlink()
    cap.counts["release_assets"] += 1
    cap.counts["release_asset_bytes"] += size
    cap.progress("release assets", 1, total)


def _capture_branches(cap: _Capture, base: str, repo: dict[str, Any]) -> None:
    listing = cap.client.list_optional(f"{base}/branches")
    if not listing.present:
        cap.skip_missing("branches", listing)
        return
    cap.writer.add_json("branches/branches.json", listing.value)
    cap.counts["branches"] = len(listing.value)
    for branch in listing.value:
        if not branch.get("protected"):
            continue
        name = branch.get("name", "")
        protection = cap.client.get_optional(f"{base}/branches/{quote(name, safe='')}/protection")
        if protection.present:
            cap.writer.add_json(f"branches/{safe_name(name)}.protection.json", protection.value)
            cap.counts["branch_protections"] += 1
        else:
            cap.skip_missing(f"branches/{name}/protection", protection)


# -- gists and accounts ----------------------------------------------------------------


def _capture_gist(cap: _Capture) -> None:
    gist = cap.client.get(f"gists/{cap.item.id}")
    cap.writer.add_json("gist.json", gist)
    comments = cap.client.list_optional(f"gists/{cap.item.id}/comments")
    if comments.present:
        cap.writer.add_json("comments.json", comments.value)
        cap.counts["gist_comments"] = len(comments.value)
    else:
        cap.skip_missing("comments", comments)
    url = gist.get("git_pull_url")
    if not url:
        cap.skip("git", "the gist object has no git_pull_url")
        return
    state = _bundle_of(cap, url, "repository")
    cap.git_state["repository"] = state
    cap.counts["refs"] = len(state.refs)


def _capture_account(cap: _Capture) -> None:
    login = cap.item.login
    cap.writer.add_json("user.json", cap.client.get(f"users/{login}"))
    for name, path in (
        ("starred", f"users/{login}/starred"),
        ("watched", f"users/{login}/subscriptions"),
        ("followers", f"users/{login}/followers"),
        ("following", f"users/{login}/following"),
        ("gists", f"users/{login}/gists"),
    ):
        listing = cap.client.list_optional(path)
        if listing.present:
            cap.writer.add_json(f"{name}.json", listing.value)
            cap.counts[name] = len(listing.value)
        else:
            cap.skip_missing(name, listing)
        cap.progress(name, 1, 5)


# -- helpers ---------------------------------------------------------------------------


def _grouped_by_number(
    cap: _Capture,
    path: str,
    what: str,
    number_of: Callable[[dict[str, Any]], tuple[int | None, dict[str, Any]]],
    params: dict[str, Any] | None = None,
) -> dict[int, list[Any]]:
    """A repository-wide listing grouped by issue or pull number, each group in the order of
    the per-issue listings; ``number_of`` gives an object's number and the form to store."""
    listing = cap.client.list_optional(path, params)
    groups: dict[int, list[Any]] = defaultdict(list)
    if not listing.present:
        cap.skip_missing(what, listing)
        return groups
    for obj in listing.value:
        number, stored = number_of(obj)
        if number is not None:
            groups[number].append(stored)
    for group in groups.values():
        group.sort(key=_chronological)
    return groups


def _event_without_issue(event: dict[str, Any]) -> tuple[int | None, dict[str, Any]]:
    """The repository-wide listing embeds the issue in each event; the per-issue listing
    (python-github-backup's event_data) does not: store the latter form."""
    stored = dict(event)
    number = (stored.pop("issue", None) or {}).get("number")
    return (number if isinstance(number, int) else None), stored


def _chronological(obj: dict[str, Any]) -> int:
    """Order of the per-issue and per-pull listings: GitHub documents them as ascending by
    id, which is not always the order of created_at."""
    number = obj.get("id")
    return number if isinstance(number, int) else 0


def _number_from_url(url: Any) -> int | None:
    if not isinstance(url, str):
        return None
    tail = url.rstrip("/").rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else None
