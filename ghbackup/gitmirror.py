"""Git side of a capture: mirror clone, LFS objects, one bundle of every ref.

Every git process runs through ``ghbackup.process.run_git`` (timeouts, no terminal prompt,
no user config) with credentials from ``git_credential_environment``: the mirror's config
keeps the plain clone URL, so no token can end up inside an archive.
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ghbackup.credentials import Credentials, git_credential_environment
from ghbackup.errors import GitCommandFailed, NotFound
from ghbackup.process import run_git

log = logging.getLogger(__name__)

# Abort a transfer that moves under 1 KB/s for a minute: a stalled connection must not hang.
_STALL_GUARD = ["-c", "http.lowSpeedLimit=1000", "-c", "http.lowSpeedTime=60"]
_NOT_FOUND_HINTS = ("not found", "404", "does not appear to be a git repository")


@dataclass
class MirrorState:
    """What a mirror held when it was captured: the facts restore checks against."""

    refs: dict[str, str] = field(default_factory=dict)
    head: str | None = None  # symbolic HEAD target, e.g. refs/heads/main

    def to_json(self) -> dict[str, object]:
        return {"refs": dict(sorted(self.refs.items())), "head": self.head}


@dataclass
class GitSettings:
    timeout: float = 7200.0
    attempts: int = 3
    retry_delay: float = 5.0


def mirror_clone(
    url: str,
    dest: Path,
    credentials: Credentials,
    *,
    settings: GitSettings | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> MirrorState:
    """``git clone --mirror`` with bounded retries; NotFound when the remote does not exist."""
    settings = settings or GitSettings()
    for attempt in range(1, settings.attempts + 1):
        shutil.rmtree(dest, ignore_errors=True)
        env = git_credential_environment(credentials, url)  # fresh per attempt (App tokens)
        try:
            run_git(
                [*_STALL_GUARD, "clone", "--mirror", "--quiet", "--", url, str(dest)],
                env=env,
                timeout=settings.timeout,
                secrets=[env["GHBACKUP_GIT_PASSWORD"]],
            )
            break
        except GitCommandFailed as exc:
            text = str(exc).lower()
            if any(hint in text for hint in _NOT_FOUND_HINTS):
                shutil.rmtree(dest, ignore_errors=True)
                raise NotFound(f"git repository not found: {_safe_url(url)}", 404) from None
            if "authentication failed" in text or "403" in text:
                shutil.rmtree(dest, ignore_errors=True)
                raise
            if attempt == settings.attempts:
                shutil.rmtree(dest, ignore_errors=True)
                raise
            log.warning("clone of %s failed (attempt %d): %s", _safe_url(url), attempt, exc)
            sleep(settings.retry_delay * attempt)
    return read_state(dest, settings)


def read_state(repo: Path, settings: GitSettings | None = None) -> MirrorState:
    """Every ref and its object id, plus the symbolic HEAD."""
    settings = settings or GitSettings()
    out = run_git(
        ["for-each-ref", "--format=%(objectname) %(refname)"], cwd=repo, timeout=settings.timeout
    )
    refs = {}
    for line in out.splitlines():
        sha, _, name = line.partition(" ")
        if name:
            refs[name] = sha
    try:
        head = run_git(["symbolic-ref", "-q", "HEAD"], cwd=repo, timeout=60).strip() or None
    except GitCommandFailed:
        head = None
    return MirrorState(refs=refs, head=head)


@dataclass
class LfsFetch:
    """The LFS objects a fetch left in the mirror, and why any are missing."""

    objects: int = 0
    bytes: int = 0
    missing: str | None = None  # GitHub could not serve some objects: the reason


# git-lfs naming an object the server answered 404 for, "[oid] <message>: [404] <message>"
# (GitHub's message: "Object does not exist on the server"): a pointer pushed without its
# object.
_LFS_NOT_ON_SERVER = re.compile(r"^\[([0-9a-f]{64})\] [^\n]*\[404\]", re.MULTILINE)
# GitHub refusing LFS downloads for the owner's exhausted bandwidth quota.
_LFS_OVER_QUOTA = "over its data quota"
# git-lfs lines that report progress or sum up, not a failure of their own.
_LFS_PROGRESS = ("fetch:", "Downloading LFS objects", "error: failed to fetch some objects")


def fetch_lfs_objects(
    repo: Path,
    url: str,
    credentials: Credentials,
    *,
    settings: GitSettings | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> LfsFetch:
    """``git lfs fetch --all`` into the mirror; returns the objects now present.

    Skipped cheaply when no ref ever had a ``filter=lfs`` attribute. Retries are bounded;
    git-lfs resumes from the objects it already has. Objects GitHub does not have (old
    repositories carry pointers whose objects were never uploaded) or will not serve (the
    owner's LFS bandwidth quota is used up) do not fail the capture: no retry would bring
    them, so the rest is kept and ``missing`` says what is absent. Any other failure, after
    the retries, raises GitCommandFailed.
    """
    settings = settings or GitSettings()
    if not uses_lfs(repo, settings):
        return LfsFetch()
    missing = None
    for attempt in range(1, settings.attempts + 1):
        env = git_credential_environment(credentials, url)  # fresh per attempt (App tokens)
        try:
            run_git(
                ["lfs", "fetch", "--all", "origin"],
                cwd=repo,
                env=env,
                timeout=settings.timeout,
                secrets=[env["GHBACKUP_GIT_PASSWORD"]],
            )
            break
        except GitCommandFailed as exc:
            missing = _unservable(exc.output)
            if missing is not None:
                log.warning("LFS objects missing on GitHub: %s", missing)
                break
            if attempt == settings.attempts:
                raise GitCommandFailed(f"LFS objects could not be fetched: {exc}") from None
            log.warning("git lfs fetch failed (attempt %d): %s", attempt, exc)
            sleep(settings.retry_delay * attempt)
    objects = [p for p in (repo / "lfs" / "objects").rglob("*") if p.is_file()]
    return LfsFetch(len(objects), sum(p.stat().st_size for p in objects), missing)


def _unservable(output: str) -> str | None:
    """Why GitHub cannot serve some LFS objects, from git-lfs's output, when that is the
    only failure in it; None when anything else failed too (a 5xx, a cut connection), so
    the caller retries: git-lfs resumes, and objects that were only unlucky still come."""
    oids: set[str] = set()
    over_quota = False
    for line in output.splitlines():
        if found := _LFS_NOT_ON_SERVER.match(line):
            oids.add(found.group(1))
        elif _LFS_OVER_QUOTA in line:
            over_quota = True
        elif line.strip() and not line.startswith(_LFS_PROGRESS):
            return None  # something else failed too
    if over_quota:
        return "GitHub refused LFS downloads: the owner's LFS bandwidth quota is used up"
    if oids:
        listed = sorted(oids)
        shown = ", ".join(oid[:12] for oid in listed[:5]) + (" ..." if len(listed) > 5 else "")
        return f"{len(listed)} LFS object(s) not on GitHub: {shown}"
    return None


def uses_lfs(repo: Path, settings: GitSettings | None = None) -> bool:
    """True when any version of any .gitattributes in the history mentions filter=lfs."""
    settings = settings or GitSettings()
    # A failure here propagates: guessing "no LFS" would drop the objects silently.
    out = run_git(
        ["log", "--all", "--format=", "-p", "--", ".gitattributes", "*/.gitattributes"],
        cwd=repo,
        timeout=settings.timeout,
    )
    return "filter=lfs" in out


def create_bundle(repo: Path, dest: Path, *, settings: GitSettings | None = None) -> None:
    """One bundle holding every ref of the mirror (``git bundle create --all``)."""
    settings = settings or GitSettings()
    run_git(["bundle", "create", "--quiet", str(dest), "--all"], cwd=repo, timeout=settings.timeout)


def _safe_url(url: str) -> str:
    """The URL without any userinfo, for messages."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]))
