"""Pushing a restored mirror to a new remote: every branch and tag, then its LFS objects.

Credentials are given, never read here: for an http(s) remote, a credential helper scoped to
its host answers with the token (``ghbackup.credentials``), never on a command line or in a
URL. Local and ssh remotes need none.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from ghbackup.credentials import Credentials
from ghbackup.errors import ConfigurationError
from ghbackup.git_credential import GitCredential
from ghbackup.process import run_git


def check_push_url(url: str) -> None:
    """ConfigurationError for a URL that carries credentials itself."""
    parts = urlsplit(url)
    if "@" in parts.netloc and parts.scheme in ("http", "https"):
        raise ConfigurationError(
            "the push URL must not contain credentials; set GITHUB_TOKEN (or the App variables)"
        )


def needs_credentials(url: str) -> bool:
    """Whether pushing to ``url`` needs the GitHub credentials (http and https remotes)."""
    return urlsplit(url).scheme in ("http", "https")


def push_credential(url: str, credentials: Credentials | None) -> GitCredential | None:
    """What git authenticates with to push to ``url``: the credentials, scoped to its host,
    for http(s) remotes; None for local and ssh ones."""
    if not needs_credentials(url):
        return None
    if credentials is None:
        raise ConfigurationError(
            "pushing over https needs GitHub credentials: set GITHUB_TOKEN (or the App variables)"
        )
    return GitCredential(credentials, url)


def push_mirror(mirror: Path, url: str, credentials: Credentials | None, *, lfs: bool) -> None:
    """Push every ref but GitHub's read-only ``refs/pull/*``, then (``lfs``) every LFS
    object the mirror holds."""
    credential = push_credential(url, credentials)
    # Like --mirror, but GitHub refuses writes to its read-only refs/pull/* namespace.
    run_git(
        ["push", "--quiet", "--prune", url, "+refs/*:refs/*", "^refs/pull/*"],
        cwd=mirror,
        credential=credential,
    )
    if lfs:
        # git-lfs speaks to local remotes only through file:// URLs, not bare paths.
        lfs_url = (
            url if "://" in url or ":" in url.split("/", 1)[0] else Path(url).resolve().as_uri()
        )
        # Objects GitHub did not have at capture time (the manifest's skipped "lfs") are
        # missing here too: push the rest rather than refuse after the refs are pushed.
        run_git(["-c", "lfs.allowincompletepush=true", "lfs", "push", "--all", lfs_url],
                cwd=mirror, credential=credential)  # fmt: skip
