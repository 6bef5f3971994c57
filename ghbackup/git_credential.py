"""Handing the GitHub token to git and git-lfs without putting it in any environment.

For each git process the parent writes the token into an anonymous in-memory file (a
memfd: never on disk, gone when the last descriptor closes) and passes that descriptor to
the process (``pass_fds``). A credential helper, configured through GIT_CONFIG_* variables
for the remote's scheme://host[:port] only, answers every ``get`` by reading the token again
through ``/proc/self/fd/N``: git asks once per connection and git-lfs runs ``git credential
fill`` again for its batch API, so the descriptor must be readable any number of times (a
pipe would be empty after the first). The helper's command line names the descriptor's
number, never the token; no variable of any process holds it; the repository's config keeps
the plain URL. One descriptor per git process, with a token minted for it: an App token
refreshed between processes reaches the next one without rewriting a file a running
process may be reading.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

from ghbackup.credentials import Credentials
from ghbackup.errors import ConfigurationError

# A git process keeps using the credential it was given: start each with most of an hour.
GIT_TOKEN_MIN_REMAINING = 2700.0
# The username GitHub expects beside a token over HTTPS (any non-empty name works).
GIT_USERNAME = "x-access-token"


@dataclass(frozen=True, repr=False)
class GitCredential:
    """The credentials a git process may use, and the remote whose host they are for."""

    credentials: Credentials
    url: str

    @property
    def scope(self) -> str:
        """``scheme://host[:port]`` of the remote, without any userinfo: the only place
        the helper answers for (git-lfs's storage links on other hosts get nothing)."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"

    def __repr__(self) -> str:  # never show the secret
        return f"<GitCredential {self.credentials.kind} for {self.scope}>"


def helper_command(fd: int) -> str:
    """The credential helper (a shell snippet git runs): the username, then the token read
    from descriptor ``fd``. Other actions (store, erase) are ignored: nothing is kept."""
    return (
        '!f() { test "$1" = get || exit 0; '
        f"echo username={GIT_USERNAME}; printf password=; cat /proc/self/fd/{int(fd)}; }}; f"
    )


def helper_environment(scope: str, fd: int) -> dict[str, str]:
    """GIT_CONFIG_* variables that clear any inherited helper and set ours for ``scope``."""
    return {
        "GIT_CONFIG_COUNT": "2",
        "GIT_CONFIG_KEY_0": "credential.helper",
        "GIT_CONFIG_VALUE_0": "",
        "GIT_CONFIG_KEY_1": f"credential.{scope}.helper",
        "GIT_CONFIG_VALUE_1": helper_command(fd),
    }


def secret_descriptor(value: str) -> int:
    """A close-on-exec descriptor of a sealed in-memory file holding ``value`` and a
    newline. The caller closes it; ``subprocess``' ``pass_fds`` hands it to one child."""
    if "\n" in value or "\0" in value:
        raise ConfigurationError("the GitHub token contains a line break or a NUL byte")
    create = getattr(os, "memfd_create", None)
    if create is None:
        raise ConfigurationError(
            "handing the token to git needs Linux (memfd_create): run on Linux or in the "
            "container image"
        )
    fd: int = create("ghbackup-git-credential", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        data = f"{value}\n".encode()
        written = 0
        while written < len(data):
            written += os.write(fd, data[written:])
        # Sealed: no child that inherits it can change what the next helper call reads.
        fcntl.fcntl(
            fd,
            fcntl.F_ADD_SEALS,
            fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL,
        )
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextmanager
def git_credential_access(credential: GitCredential) -> Iterator[tuple[dict[str, str], int]]:
    """``(environment, descriptor)`` for one git process: the helper's GIT_CONFIG_*
    variables and the descriptor to pass it, closed when the block ends."""
    token = credential.credentials.token(min_remaining=GIT_TOKEN_MIN_REMAINING)
    fd = secret_descriptor(token)
    try:
        yield helper_environment(credential.scope, fd), fd
    finally:
        os.close(fd)
