"""Restore one repository of an archive to GitHub: git, LFS, wiki, labels, milestones,
issues, pull requests and releases, resumable.

Order: the item is verified and restored locally first (``restore_archive``), so nothing
reaches GitHub from a damaged archive. Then the target is created when absent (private,
with the source's description, homepage, topics and default branch; an existing target with
content is refused unless ``into_existing``), every branch and tag is pushed, then LFS
objects and the wiki; labels and milestones; issues and pull requests in number order (see
restore_issues); releases with their assets; branch protection only when asked, since it
can lock the restorer out. Every write is paced under GitHub's content-creation limits and
recorded in the journal (restore_journal), so running the same restore again continues
where it stopped and never creates a duplicate.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from ghbackup import restore_issues, restore_releases, restore_source
from ghbackup.credentials import Credentials
from ghbackup.errors import (
    ConfigurationError,
    GitCommandFailed,
    NotFound,
    WriteOutcomeUnknown,
)
from ghbackup.git_credential import GitCredential
from ghbackup.github_writes import GitHubWriter
from ghbackup.process import run_git
from ghbackup.restore import restore_archive
from ghbackup.restore_journal import Journal, Limits, Pacer, estimate_seconds
from ghbackup.restore_source import segment as _seg
from ghbackup.retry import Backoff, retrying

Progress = Callable[[str, int, "int | None"], None]
CREATE_ATTEMPTS = 3
# Reads of a restore besides the assignee checks: the target, the owner, branches, labels...
READS = 8
GIT_TIMEOUT = 3600.0


@dataclass
class GitHubRestoreReport:
    target: str
    plan: dict[str, int] = field(default_factory=dict)  # what is (or would be) created
    created: dict[str, int] = field(default_factory=dict)
    writes: int = 0
    requests: int = 0
    estimated_requests: int = 0
    estimated_seconds: float = 0.0
    seconds: float = 0.0
    waited_seconds: float = 0.0
    local_refs: list[str] = field(default_factory=list)  # refs GitHub cannot take
    warnings: list[str] = field(default_factory=list)


def default_journal(zip_path: Path, target: str) -> Path:
    return zip_path.with_name(f"{zip_path.name}.to-{target.replace('/', '--')}.journal.json")


def restore_to_github(
    zip_path: Path,
    source: str,
    target: str,
    client: GitHubWriter,
    credentials: Credentials,
    *,
    journal_path: Path | None = None,
    plan_only: bool = False,
    include_closed: bool = True,
    into_existing: bool = False,
    protection: bool = False,
    limits: Limits | None = None,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> GitHubRestoreReport:
    """Restore ``source`` (owner/name) of the archive to the repository ``target``.

    ``clock`` and ``sleep`` pace the writes (tests pass fake ones, as to the client)."""
    zip_path = Path(zip_path).resolve()
    if target.count("/") != 1 or not all(target.split("/")):
        raise ConfigurationError(f"--to-github needs OWNER/NAME, not {target!r}")
    restore_source.check_item(zip_path, source)
    journal = Journal.open(
        journal_path or default_journal(zip_path, target), source, target, zip_path.name
    )
    with journal.locked(), tempfile.TemporaryDirectory(prefix="ghbackup-to-github-") as tmp:
        restore_archive(zip_path, Path(tmp) / "restored", repo=source, progress=progress)
        src = restore_source.load(Path(tmp) / "restored", source)
        pacer = Pacer(limits, clock=clock, sleep=sleep)
        r = Restorer(client, credentials, journal, src, target, pacer, progress)
        r.include_closed = include_closed
        r.report.plan = r.planned(protection)
        r.report.local_refs = src.unpushable_refs
        total = sum(r.report.plan.values())
        r.report.estimated_seconds = estimate_seconds(total, r.pacer.limits)
        r.report.estimated_requests = total + READS + len(_assignees(src))
        r.total = total
        if not plan_only:
            r.run(into_existing, protection)
    return r.report


class Restorer:
    """One restore's state: the client, journal, pacer, source and target."""

    def __init__(
        self,
        client: GitHubWriter,
        credentials: Credentials,
        journal: Journal,
        source: restore_source.Source,
        target: str,
        pacer: Pacer,
        progress: Progress | None,
    ) -> None:
        self.client, self.credentials, self.journal, self.source = (
            client,
            credentials,
            journal,
            source,
        )
        self.target, self.base = target, f"repos/{target}"
        self.pacer = pacer
        self.progress = progress or (lambda description, advance, total: None)
        self.report = GitHubRestoreReport(target=target)
        self.include_closed = True
        self.preserve_numbers = True
        self.target_branches: set[str] = set()
        self.total = 0
        self._assignable: dict[str, bool] = {}
        self._step = "restoring"

    # -- writes ---------------------------------------------------------------------------

    def write(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.paced(lambda: self.client.write(method, path, body))

    def paced(self, send: Callable[[], Any]) -> Any:
        """Send one content-creating request when the pacer allows, and count it."""
        self.pacer.before_write()
        result = send()
        self.journal.count_write()
        self.report.writes += 1
        self.progress(self._step, 1, self.total)
        return result

    def create(
        self,
        what: str,
        key: str,
        path: str,
        body: dict[str, Any] | None,
        find: Callable[[], Any],
        keep: Callable[[Any], Any],
        send: Callable[[], Any] | None = None,
    ) -> Any:
        """Create the object ``key`` once: the journal's value, or one an interrupted
        attempt created (``find``), or a new one (counted under ``what``). ``keep`` turns it
        into the journal's value."""
        done = self.journal.get(key)
        if done is not None:
            return done
        found = find() if self.journal.is_pending(key) else None
        if found is None:
            self.journal.pending(key)

            def create_or_find() -> Any:
                try:
                    return send() if send else self.write("POST", path, body)
                except WriteOutcomeUnknown:
                    # GitHub may have created it although the answer was lost: look first.
                    made = find()
                    if made is None:
                        raise
                    return made

            for attempt in retrying(
                Backoff(attempts=CREATE_ATTEMPTS, base=2.0, cap=30.0),
                what=f"creating {what} {key}",
                retry_on=lambda exc: isinstance(exc, WriteOutcomeUnknown),
                sleep=self.pacer.pause,
            ):
                with attempt:
                    found = create_or_find()
        value = keep(found)
        self.journal.done(key, value)
        self.count(what)
        return value

    def count(self, what: str) -> None:
        self.report.created[what] = self.report.created.get(what, 0) + 1

    def warn(self, message: str) -> None:
        self.report.warnings.append(message)

    def assignable(self, login: str) -> bool:
        if login not in self._assignable:
            self._assignable[login] = self.client.exists(f"{self.base}/assignees/{_seg(login)}")
        return self._assignable[login]

    # -- plan -----------------------------------------------------------------------------

    def planned(self, protection: bool) -> dict[str, int]:
        src, j = self.source, self.journal

        def todo(key: str) -> bool:
            return j.get(key) is None

        numbers = sorted(set(src.issues) | set(src.pulls))
        items = sum(
            restore_issues.planned_writes(src, n, self.include_closed)
            for n in range(1, (numbers[-1] if numbers else 0) + 1)
            if not (j.get(f"issue:{n}") or {}).get("finished")
        )
        assets = [(rel, a) for rel in src.releases for a, f in rel.assets if f is not None]
        return {
            "repository": 3 if todo("repository") else 0,
            "labels": sum(todo(f"label:{lb.get('name')}") for lb in src.labels),
            "milestones": sum(todo(f"milestone:{m.get('number')}") for m in src.milestones),
            "issues, pulls and comments": items,
            "releases": sum(todo(f"release:{r.data.get('tag_name')}") for r in src.releases),
            "release assets": sum(
                todo(f"asset:{rel.data.get('tag_name')}/{a['name']}") for rel, a in assets
            ),
            "branch protections": len(src.protections) if protection else 0,
        }

    # -- the restore ----------------------------------------------------------------------

    def run(self, into_existing: bool, protection: bool) -> None:
        started, requests_before = time.monotonic(), self.client.requests_made
        self._step = "repository"
        self._target_repository(into_existing)
        self._step = "git"
        self._push_git()
        self._settings()
        self._step = "labels"
        self._labels()
        self._step = "milestones"
        existing = {x["title"]: x["number"] for x in self.list("milestones", state="all")}
        for m in self.source.milestones:
            body = {k: m[k] for k in ("title", "state", "description", "due_on") if m.get(k)}
            key = f"milestone:{m['number']}"
            if self.journal.get(key) is None and m.get("title") in existing:
                self.journal.done(key, existing[m["title"]])  # --into-existing: one by that title
                continue
            self.create(
                "milestones",
                key,
                f"{self.base}/milestones",
                body,
                partial(self._milestone_titled, m.get("title")),
                lambda obj: obj["number"],
            )
        self._step = "issues and pull requests"
        restore_issues.restore_items(self)
        self._step = "releases"
        restore_releases.restore_releases(self)
        if protection:
            self._protections()
        self.report.requests = self.client.requests_made - requests_before
        self.report.waited_seconds = self.pacer.waited + self.client.waited_seconds
        self.report.seconds = time.monotonic() - started

    def _label_named(self, name: str) -> Any:
        return next((x for x in self.list("labels") if x["name"] == name), None)

    def _milestone_titled(self, title: Any) -> Any:
        return next((x for x in self.list("milestones", state="all") if x["title"] == title), None)

    def list(self, what: str, **params: Any) -> list[Any]:
        return list(self.client.paginate(f"{self.base}/{what}", params or None))

    def _target_repository(self, into_existing: bool) -> None:
        entry = self.journal.get("repository")
        try:
            existing = self.client.get(self.base)
        except NotFound:
            existing = None
        if existing is None and entry is not None:
            raise ConfigurationError(
                f"{self.target} was created by an earlier run of this restore but is gone; "
                f"start afresh with another --journal (or delete {self.journal.path})"
            )
        if existing is not None and entry is None:
            branches = self.client.list_optional(f"{self.base}/branches")  # 409 when empty
            empty = not (branches.value if branches.present else []) and not self.client.get(
                f"{self.base}/issues", {"state": "all", "per_page": 1}
            )
            if not empty and not into_existing:
                raise ConfigurationError(
                    f"{self.target} already exists and has content; restore into it with "
                    "--into-existing (numbers are then not preserved) or choose a new name"
                )
            entry = {"created": False, "preserve_numbers": empty}
            self.journal.done("repository", entry)
        elif existing is None:
            entry = self.create(
                "repository",
                "repository",
                self._create_path(),
                self._repository_body(),
                lambda: None,
                lambda obj: {"created": True, "preserve_numbers": True, "id": obj.get("id")},
            )
        self.preserve_numbers = bool(entry["preserve_numbers"])

    def _create_path(self) -> str:
        owner = self.target.split("/")[0]
        account = self.client.get(f"users/{_seg(owner)}")
        if account.get("type") == "Organization":
            return f"orgs/{_seg(owner)}/repos"
        # Only a user's own token can create in a user account (an App installation cannot):
        # POST /user/repos creates in the account of whoever the token belongs to.
        me = self.client.get_optional("user").value or {}
        if str(me.get("login", "")).lower() != owner.lower():
            raise ConfigurationError(
                f"cannot create {self.target}: {owner} is another user's account, and a token "
                "can create repositories only in its own account or an organisation"
            )
        return "user/repos"

    def _repository_body(self) -> dict[str, Any]:
        repo = self.source.repo
        body: dict[str, Any] = {"name": self.target.split("/")[1], "private": True}
        for key in ("description", "homepage"):
            if isinstance(repo.get(key), str) and repo[key]:
                body[key] = repo[key]
        for key in ("has_issues", "has_wiki", "has_projects"):
            if isinstance(repo.get(key), bool):
                body[key] = repo[key]
        body["has_issues"] = True  # issues are restored whatever the source's setting
        return body

    def _push_git(self) -> None:
        src, j = self.source, self.journal
        url = str(self.client.get(self.base).get("clone_url") or "")
        if not url.endswith(".git"):
            raise ConfigurationError(f"GitHub gave {self.target} no clone URL to push to")
        created = bool(j.get("repository")["created"])
        if src.refs and j.get("git") is None:
            self._git(src.mirror, url, force=created)
            j.done("git", len(src.refs) - len(src.unpushable_refs))
        if src.lfs_objects and j.get("lfs") is None:
            self._git(src.mirror, url, lfs=True)
            j.done("lfs", src.lfs_objects)
        if src.wiki is not None and j.get("wiki") is None:
            try:
                self._git(src.wiki, url[: -len(".git")] + ".wiki.git", force=created)
                j.done("wiki", True)
            except GitCommandFailed as exc:
                self.warn(
                    f"wiki not pushed ({exc}); GitHub creates a wiki's repository with its first "
                    "page: create one in the web interface, then run the restore again"
                )
        self.target_branches = src.branches

    def _git(self, mirror: Path, url: str, *, force: bool = False, lfs: bool = False) -> None:
        plus = "+" if force else ""
        args = (
            ["-c", "lfs.locksverify=false", "lfs", "push", "--all", url]
            if lfs
            else ["push", "--quiet", url, f"{plus}refs/heads/*:refs/heads/*", f"{plus}refs/tags/*:refs/tags/*"]
        )  # fmt: skip
        run_git(
            args, cwd=mirror, credential=GitCredential(self.credentials, url), timeout=GIT_TIMEOUT
        )

    def _settings(self) -> None:
        if not self.journal.get("repository")["created"] or self.journal.get("settings"):
            return
        default = self.source.repo.get("default_branch")
        if isinstance(default, str) and default in self.source.branches:
            self.write("PATCH", self.base, {"default_branch": default})
        if self.source.topics:
            self.write("PUT", f"{self.base}/topics", {"names": self.source.topics})
        self.journal.done("settings", True)

    def _labels(self) -> None:
        existing = {lb["name"].lower(): lb for lb in self.list("labels")}
        wanted = {str(lb.get("name")).lower() for lb in self.source.labels}
        if self.journal.get("repository")["created"] and not self.journal.get("labels-cleaned"):
            for name, lb in existing.items():  # GitHub's default labels the source lacks
                if name not in wanted:
                    self.write("DELETE", f"{self.base}/labels/{_seg(lb['name'])}")
            self.journal.done("labels-cleaned", True)
        for lb in self.source.labels:
            name = str(lb.get("name"))
            # "" clears a description (a default label's, when the source's has none).
            description = lb.get("description") if isinstance(lb.get("description"), str) else ""
            body = {"color": str(lb.get("color") or "ededed"), "description": description}
            have = existing.get(name.lower())
            if have is not None and self.journal.get(f"label:{name}") is None:
                if (have.get("color"), have.get("description") or "") != (
                    body["color"],
                    description,
                ):
                    self.write("PATCH", f"{self.base}/labels/{_seg(have['name'])}", body)
                self.journal.done(f"label:{name}", have.get("id"))
                continue
            self.create(
                "labels",
                f"label:{name}",
                f"{self.base}/labels",
                {"name": name, **body},
                partial(self._label_named, name),
                lambda obj: obj.get("id"),
            )

    def _protections(self) -> None:
        for branch, p in sorted(self.source.protections.items()):
            if self.journal.get(f"protection:{branch}") or branch not in self.target_branches:
                continue
            checks = p.get("required_status_checks")
            reviews = p.get("required_pull_request_reviews")
            body = {
                "required_status_checks": {"strict": bool(checks.get("strict")),
                                           "contexts": restore_source.items(checks.get("contexts"))}
                if isinstance(checks, dict) else None,
                "enforce_admins": bool((p.get("enforce_admins") or {}).get("enabled")),
                "required_pull_request_reviews": {
                    k: reviews[k] for k in ("dismiss_stale_reviews", "require_code_owner_reviews",
                                            "required_approving_review_count") if k in reviews}
                if isinstance(reviews, dict) else None,
                "restrictions": None,
            }  # fmt: skip
            self.write("PUT", f"{self.base}/branches/{_seg(branch)}/protection", body)
            self.journal.done(f"protection:{branch}", True)
            self.count("branch protections")


def _assignees(src: restore_source.Source) -> set[str]:
    items = [*src.issues.values(), *src.pulls.values()]
    return {
        a["login"]
        for i in items
        for a in restore_source.items(i.get("assignees"))
        if isinstance(a, dict) and isinstance(a.get("login"), str)
    }
