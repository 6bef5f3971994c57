"""Running git and git-lfs: always with a timeout, never with a secret on the command line.

Credentials reach git through a credential helper that reads the token from a descriptor
passed to the one git process that needs it (``ghbackup.git_credential``): no file, no
argument, no environment variable.
Output is captured, scrubbed of secrets and trimmed for error messages.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from ghbackup.credentials import redact
from ghbackup.errors import OUT_OF_SPACE_MESSAGES, GitCommandFailed, StorageError
from ghbackup.git_credential import GitCredential, git_credential_access

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 3600.0

# Never let git prompt on a terminal, read the user's config, or use a system helper.
_BASE_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_LFS_SKIP_SMUDGE": "1",
    "LC_ALL": "C",
}


# What git and git-lfs may see of the parent's environment: how to find programs, where to
# write temporary files, which CAs to trust and which proxy to use. Nothing else, so
# GITHUB_TOKEN, GITHUB_APP_PRIVATE_KEY and AWS_* never reach a git child (the credential
# helper reads the token from a descriptor, see ``run_git``).
_ALLOWED_ENV = (
    "PATH",
    "LANG",
    "TZ",
    "TMPDIR",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "GIT_SSL_CAINFO",
    "REQUESTS_CA_BUNDLE",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
)

_home_lock = threading.Lock()
_home: str | None = None


def _private_home() -> str:
    """An empty HOME of this process's own, so git and git-lfs read and write nothing of
    the user's (``~/.gitconfig``, ``~/.git-credentials``, LFS caches); removed at exit."""
    global _home
    with _home_lock:
        if _home is None or not os.path.isdir(_home):
            _home = tempfile.mkdtemp(prefix="ghbackup-git-home-")
            atexit.register(shutil.rmtree, _home, ignore_errors=True)
        return _home


def git_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment git runs with: the allowlisted part of the parent's, a private
    HOME, the hardening variables, plus ``extra``."""
    env = {name: os.environ[name] for name in _ALLOWED_ENV if name in os.environ}
    env["HOME"] = _private_home()
    env.update(_BASE_ENV)
    if extra:
        env.update(extra)
    return env


def run_git(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    secrets: Sequence[str] = (),
    credential: GitCredential | None = None,
) -> str:
    """Run ``git ARGS`` and return its stdout; raise GitCommandFailed on error or timeout.

    With ``credential``, git and git-lfs authenticate to that remote's host through a
    credential helper reading a descriptor made for this process alone (closed when it
    ends). ``secrets`` are scrubbed from any message we build from git's output, and so is
    every secret ``ghbackup.credentials`` knows (the token included).
    """
    if credential is None:
        return _run(args, cwd, git_environment(env), timeout, secrets, ())
    with git_credential_access(credential) as (helper, fd):
        return _run(args, cwd, git_environment({**(env or {}), **helper}), timeout, secrets, (fd,))


def _run(
    args: Sequence[str],
    cwd: Path | None,
    env: dict[str, str],
    timeout: float,
    secrets: Sequence[str],
    pass_fds: tuple[int, ...],
) -> str:
    cmd = ["git", *args]
    try:
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
            pass_fds=pass_fds,
        )
    except subprocess.TimeoutExpired:
        raise GitCommandFailed(f"git {args[0]} timed out after {timeout:.0f}s") from None
    except OSError as exc:
        raise GitCommandFailed(f"cannot run git: {exc.strerror}") from None
    if proc.returncode != 0:
        # Scrub before cutting: a secret split by the cut would survive in part.
        output = _scrub(f"{proc.stdout or ''}\n{proc.stderr or ''}", secrets)
        name = _command_name(args)
        detail = _tail(_without_warnings(output) or output, 1)[:300] or "no output"
        if any(words in output for words in OUT_OF_SPACE_MESSAGES):
            # Not git's failure, and no retry helps: the disk under cwd or TMPDIR is full.
            raise StorageError(f"out of disk space while running git {name}: {detail}")
        failed = GitCommandFailed(f"git {name} failed (exit {proc.returncode}): {detail}", output)
        # A remote that is not there is an answer the caller reports (a wiki enabled but
        # without pages has no git repository): not a warning. Other failures keep git's
        # last lines in the log, where the one-line error has no room for them.
        level = logging.INFO if failed.kind == "not_found" else logging.WARNING
        log.log(level, "git %s failed (exit %d): %s", name, proc.returncode, _tail(output, 12))
        raise failed
    return proc.stdout


def _command_name(args: Sequence[str]) -> str:
    """The git subcommand, past ``-c name=value`` and other leading options."""
    words = iter(args)
    for word in words:
        if word in ("-c", "-C"):
            next(words, None)
        elif not word.startswith("-"):
            return word
    return "git"


def _without_warnings(text: str) -> str:
    """git's output less its warnings and hints, so an error names the failure."""
    return "\n".join(
        line for line in text.splitlines() if not line.lstrip().startswith(("warning", "hint:"))
    )


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return redact(text)


def _tail(text: str, lines: int) -> str:
    kept = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " | ".join(kept[-lines:])
