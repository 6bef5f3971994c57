"""Pushing a restored mirror to a new remote: every branch and tag, then its LFS objects.

Credentials are given, never read here: for an http(s) remote, a credential helper scoped to
its host answers with the token (``ghbackup.credentials``), never on a command line or in a
URL. Local and ssh remotes need none.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from ghbackup.credentials import Credentials, git_credential_environment
from ghbackup.errors import ConfigurationError
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


def push_environment(url: str, credentials: Credentials | None) -> dict[str, str]:
    """Git environment for pushing to ``url``: the credential helper for http(s) remotes."""
    if not needs_credentials(url):
        return {}
    if credentials is None:
        raise ConfigurationError(
            "pushing over https needs GitHub credentials: set GITHUB_TOKEN (or the App variables)"
        )
    return git_credential_environment(credentials, url)


def push_mirror(mirror: Path, url: str, credentials: Credentials | None, *, lfs: bool) -> None:
    """Push every ref but GitHub's read-only ``refs/pull/*``, then (``lfs``) every LFS
    object the mirror holds."""
    env = push_environment(url, credentials)
    # Like --mirror, but GitHub refuses writes to its read-only refs/pull/* namespace.
    run_git(
        ["push", "--quiet", "--prune", url, "+refs/*:refs/*", "^refs/pull/*"],
        cwd=mirror,
        env=env,
    )
    if lfs:
        # git-lfs speaks to local remotes only through file:// URLs, not bare paths.
        lfs_url = (
            url if "://" in url or ":" in url.split("/", 1)[0] else Path(url).resolve().as_uri()
        )
        # Objects GitHub did not have at capture time (the manifest's skipped "lfs") are
        # missing here too: push the rest rather than refuse after the refs are pushed.
        run_git(["-c", "lfs.allowincompletepush=true", "lfs", "push", "--all", lfs_url],
                cwd=mirror, env=env)  # fmt: skip
