"""Git side of a capture: mirror clone, LFS objects, one bundle of every ref.

Every git process runs through ``ghbackup.process.run_git`` (timeouts, no terminal prompt,
no user config) with a ``GitCredential`` for the remote (``ghbackup.git_credential``): the
mirror's config keeps the plain clone URL, so no token can end up inside an archive.
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ghbackup.credentials import Credentials, safe_url
from ghbackup.errors import GitCommandFailed, NotFound
from ghbackup.git_credential import GitCredential
from ghbackup.process import run_git
from ghbackup.records import GitState
from ghbackup.retry import Backoff, retrying

log = logging.getLogger(__name__)

# Abort a transfer that moves under 1 KB/s for a minute: a stalled connection must not hang.
_STALL_GUARD = ["-c", "http.lowSpeedLimit=1000", "-c", "http.lowSpeedTime=60"]


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
) -> GitState:
    """``git clone --mirror`` with bounded retries; NotFound when the remote does not exist.
    A refused credential is not retried; anything else (a cut connection, a timeout) is."""
    settings = settings or GitSettings()

    def clone() -> None:
        shutil.rmtree(dest, ignore_errors=True)
        run_git(
            [*_STALL_GUARD, "clone", "--mirror", "--quiet", "--", url, str(dest)],
            credential=GitCredential(credentials, url),  # a token per try (App tokens)
            timeout=settings.timeout,
        )

    try:
        for attempt in _retrying(settings, f"clone of {safe_url(url)}", sleep):
            with attempt:
                clone()
    except GitCommandFailed as exc:
        shutil.rmtree(dest, ignore_errors=True)
        if exc.kind == "not_found":
            raise NotFound(f"git repository not found: {safe_url(url)}", 404) from None
        raise
    return read_state(dest, settings)


def _retrying(settings: GitSettings, what: str, sleep: Callable[[float], None]) -> Any:
    """Git's retries: ``settings.attempts`` tries, backing off from ``retry_delay``; a
    missing remote or a refused credential is final."""
    return retrying(
        Backoff(attempts=settings.attempts, base=settings.retry_delay, cap=300.0),
        what=what,
        retry_on=lambda exc: isinstance(exc, GitCommandFailed) and exc.kind == "other",
        sleep=sleep,
    )


def read_state(repo: Path, settings: GitSettings | None = None) -> GitState:
    """Every ref and its object id, plus the symbolic HEAD."""
    settings = settings or GitSettings()
    out = run_git(
        ["for-each-ref", "--format=%(objectname) %(refname)"], cwd=repo, timeout=settings.timeout
    )
    refs = parse_refs(out)
    try:
        head = run_git(["symbolic-ref", "-q", "HEAD"], cwd=repo, timeout=60).strip() or None
    except GitCommandFailed:
        head = None
    return GitState(refs=refs, head=head, bundle=None)


def parse_refs(text: str) -> dict[str, str]:
    """``{ref name: object id}`` from lines of ``<id> <name>``, as ``git for-each-ref
    --format='%(objectname) %(refname)'``, ``git bundle list-heads`` and ``ls-remote``
    (tab-separated) print them."""
    refs = {}
    for line in text.splitlines():
        sha, _, name = line.strip().replace("\t", " ").partition(" ")
        if name:
            refs[name.strip()] = sha
    return refs


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

    def fetch() -> None:
        nonlocal missing
        try:
            run_git(
                ["lfs", "fetch", "--all", "origin"],
                cwd=repo,
                credential=GitCredential(credentials, url),  # a token per try (App tokens)
                timeout=settings.timeout,
            )
        except GitCommandFailed as exc:
            missing = _unservable(exc.output)
            if missing is None:
                raise
            log.warning("LFS objects missing on GitHub: %s", missing)

    try:
        for attempt in _retrying(settings, "git lfs fetch", sleep):
            with attempt:
                fetch()
    except GitCommandFailed as exc:
        raise GitCommandFailed(f"LFS objects could not be fetched: {exc}", exc.output) from None
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


def create_bundle(
    repo: Path, dest: Path, *, state: GitState | None = None, settings: GitSettings | None = None
) -> None:
    """One bundle holding every ref of the mirror, as ``git bundle create --all`` makes it.

    Given the mirror's ``state`` (``read_state``) and a mirror as ``git clone --mirror``
    leaves it, one pack and nothing else, the bundle is that pack behind a header naming
    the refs (``bundle_from_pack``): no re-packing, which costs CPU in proportion to the
    repository. Anything else goes through ``git bundle create --all``.
    """
    settings = settings or GitSettings()
    if state is not None and bundle_from_pack(repo, dest, state):
        return
    run_git(["bundle", "create", "--quiet", str(dest), "--all"], cwd=repo, timeout=settings.timeout)


_SHA1 = re.compile(r"^[0-9a-f]{40}$")
_BUNDLE_V2 = b"# v2 git bundle\n"


def bundle_from_pack(repo: Path, dest: Path, state: GitState) -> bool:
    """Write ``dest`` as a v2 bundle of the mirror's only pack, when that pack holds every
    object: exactly one pack, no loose objects, no alternates, not shallow or partial, SHA-1
    ids and a symbolic HEAD. Returns False, writing nothing, when any of that does not hold.

    A v2 bundle is a header (``# v2 git bundle``, one ``<id> <ref>`` line per ref, a blank
    line; no prerequisites, as nothing is left out) followed by a packfile. The refs are
    listed as ``git bundle create --all`` lists them: every ref in ``for-each-ref`` order,
    then ``HEAD`` when it points at an existing branch.
    """
    objects = repo / "objects"
    packs = list((objects / "pack").glob("*.pack"))
    if (
        len(packs) != 1
        or any(p.suffix == ".promisor" for p in (objects / "pack").iterdir())
        or (objects / "info" / "alternates").exists()
        or (repo / "shallow").exists()
        or state.head is None  # detached: git resolves HEAD itself
        or not all(_SHA1.match(oid) for oid in state.refs.values())
        or _has_loose_objects(objects)
    ):
        return False
    heads = list(state.refs.items())
    if state.head in state.refs:
        heads.append(("HEAD", state.refs[state.head]))
    header = _BUNDLE_V2 + b"".join(f"{oid} {ref}\n".encode() for ref, oid in heads) + b"\n"
    with open(dest, "wb") as out, open(packs[0], "rb") as pack:
        out.write(header)
        shutil.copyfileobj(pack, out, 1024 * 1024)
    return True


def _has_loose_objects(objects: Path) -> bool:
    return any(
        len(sub.name) == 2 and sub.is_dir() and any(sub.iterdir()) for sub in objects.iterdir()
    )
