"""Git on repositories built from an archive, confined so archive content cannot steer it.

Every git command of restore and verify runs here: on one bare repository that only git
writes to, with settings of our own that no system, global, environment or repository
configuration can change: the local bundle file is the only transport (no ``ext::``,
``fd::`` or network), no hooks, no fsmonitor, no alternates or replace objects.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from ghbackup.errors import ArchiveCorrupt, GitCommandFailed
from ghbackup.process import DEFAULT_TIMEOUT, run_git

# What git init --bare (without templates) and a fetch create inside objects/.
_PACK_FILE = re.compile(r"^pack-[0-9a-f]{40,64}\.(?:pack|idx|rev)$")
_LOOSE_DIR = re.compile(r"^[0-9a-f]{2}$")


# Settings every restore and verify git command runs with, whatever the environment or a
# repository says: only the local bundle file as a transport (no ext::, fd::, http...), no
# hooks (the path holds none), no fsmonitor, and no background gc or maintenance writing
# into a repository while it is checked and moved.
_CONFINED = (
    "protocol.allow=never", "protocol.file.allow=always", f"core.hooksPath={os.devnull}",
    "core.fsmonitor=false", "gc.auto=0", "maintenance.auto=false",
    "fetch.writeCommitGraph=false", "core.sharedRepository=false",
)  # fmt: skip


def confined_environment(repo: Path) -> dict[str, str]:
    """The environment of a confined git: this repository only (no discovery), no system
    or global config and no config passed down from our own environment, no alternates
    or replace refs, no templates (so no sample hooks), the bundle file as the only
    protocol (GIT_ALLOW_PROTOCOL wins over any config)."""
    return {
        "GIT_DIR": str(repo),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_PARAMETERS": "",
        "GIT_CONFIG_COUNT": "0",
        "GIT_ALLOW_PROTOCOL": "file",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES": "",
        "GIT_OBJECT_DIRECTORY": str(repo / "objects"),
        "GIT_NO_REPLACE_OBJECTS": "1",
        "GIT_TEMPLATE_DIR": "",
    }


def git(repo: Path, args: list[str], *, timeout: float = DEFAULT_TIMEOUT) -> str:
    """``git ARGS`` on ``repo`` with the confined settings."""
    confined = [arg for setting in _CONFINED for arg in ("-c", setting)]
    return run_git(
        [*confined, *args], cwd=repo.parent, env=confined_environment(repo), timeout=timeout
    )


def init_repository(repo: Path) -> None:
    """A new, empty bare repository at ``repo``, which must not exist yet."""
    repo.parent.mkdir(parents=True, exist_ok=True)
    repo.mkdir()
    git(repo, ["init", "--quiet", "--bare", "--template="], timeout=120)


_PRISTINE: tuple[bytes, frozenset[str]] | None = None


def pristine_repository(work: Path) -> tuple[bytes, frozenset[str]]:
    """The config and top-level names of a repository fresh from ``init_repository`` (made
    under ``work`` once per process, then removed: the same git makes the same), so a task
    verifying item after item does not init one more repository for each."""
    global _PRISTINE
    if _PRISTINE is None:
        repo = work / "pristine.git"
        init_repository(repo)
        _PRISTINE = ((repo / "config").read_bytes(), frozenset(p.name for p in repo.iterdir()))
        shutil.rmtree(repo, ignore_errors=True)
    return _PRISTINE


def is_object_store_path(rel: tuple[str, ...], is_dir: bool) -> bool:
    """A path under objects/ that git's own init and fetch write: pack/, info/ (empty,
    or its packs list), and loose objects; never info/alternates."""
    if len(rel) == 1:
        return is_dir and (rel[0] in ("pack", "info") or bool(_LOOSE_DIR.match(rel[0])))
    if len(rel) == 2 and not is_dir:
        if rel[0] == "pack":
            return bool(_PACK_FILE.match(rel[1]))
        if rel[0] == "info":
            return rel[1] == "packs"
        return bool(_LOOSE_DIR.match(rel[0])) and bool(re.fullmatch(r"[0-9a-f]{38,62}", rel[1]))
    return False


def ref_diff(expected: dict[str, str], found: dict[str, str]) -> str:
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    moved = sorted(r for r in set(expected) & set(found) if expected[r] != found[r])
    parts = []
    for label, refs in (("missing", missing), ("unexpected", extra), ("different", moved)):
        if refs:
            parts.append(f"{label} {refs[0]}" + (f" +{len(refs) - 1}" if len(refs) > 1 else ""))
    return "; ".join(parts)


# fsck checks of how an object is written that old git versions and importers failed, in
# history GitHub still serves (a bad time zone, no space before a date, unsorted trees...).
# Such objects are intact: their hashes match, they are exactly what was pushed, so a
# faithful restore keeps them. fsck still fails on missing or corrupt objects, hash
# mismatches and broken links, which no setting relaxes. Only ids that fail fsck by default
# are listed, all from git's original message-id list (git 2.6): git stops on an id it
# does not know, and only this machine's git runs the tests.
LEGACY_OBJECT_FORMATS = (
    "badDate", "badDateOverflow", "badEmail", "badTimezone", "missingEmail",
    "missingNameBeforeEmail", "missingSpaceBeforeDate", "missingSpaceBeforeEmail",
    "zeroPaddedDate", "multipleAuthors", "duplicateEntries", "treeNotSorted",
)  # fmt: skip


def fsck(repo: Path, name: str | None = None) -> None:
    """``git fsck --full`` of ``repo``, relaxed only for LEGACY_OBJECT_FORMATS; a failure
    is ArchiveCorrupt naming ``name`` (the bundle's path in the zip)."""
    relaxed = [arg for msg in LEGACY_OBJECT_FORMATS for arg in ("-c", f"fsck.{msg}=ignore")]
    try:
        git(repo, [*relaxed, "fsck", "--full", "--no-progress", "--no-dangling"])
    except GitCommandFailed as exc:
        raise ArchiveCorrupt(f"{name or repo.name}: git fsck failed: {exc}") from None
