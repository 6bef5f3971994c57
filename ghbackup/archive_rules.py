"""The rules an archive's items must keep before anything of them is restored.

Which items an archive holds (and which one ``--repo`` names), that every zip entry is a
plain file under a safe path, that no two items claim the same folder or mirror path (as a
case-insensitive filesystem compares them), and that no item file makes a folder look like
a git repository. Used by ``ghbackup.restore`` for verify and restore alike.
"""

from __future__ import annotations

import re
import stat
import zipfile
from pathlib import Path

from ghbackup.archive import manifests_in
from ghbackup.errors import ArchiveCorrupt, ConfigurationError, NotAnArchive
from ghbackup.records import ItemManifest

# Git keys whose bundle becomes the item's main mirror (``<root>.git``).
_PRIMARY_GIT = ("repository", "gist")
# The git repositories each kind of item may hold.
# A gist's git is "repository" as capture writes it ("gist" in archives of older tests).
_GIT_KEYS = {"repository": ("repository", "wiki"), "gist": ("repository", "gist"), "account": ()}
# Names git reads from a git directory; none may start an item's files (compared folded).
# ``hooks/`` is git's too, but capture writes the repository's webhooks to hooks/hooks.json:
# that one file is all an item's hooks/ may hold.
_GIT_DIR_NAMES = frozenset(
    ("config", "head", "hooks", "objects", "refs", "packed-refs", "commondir", "gitdir",
     "shallow", "info", "index", "worktrees", "modules")
)  # fmt: skip
_WEBHOOKS = "hooks/hooks.json"


def select_items(
    zf: zipfile.ZipFile, zip_path: Path, repo: str | None, damaged: dict[str, str] | None = None
) -> list[ItemManifest]:
    """The item manifests of the archive (only ``repo``'s, when given). ``damaged``: see
    ``manifests_in``."""
    manifests = manifests_in(zf, damaged)
    if not manifests and damaged:
        raise ArchiveCorrupt(next(iter(damaged.values())))
    if not manifests:
        raise NotAnArchive(
            f"{zip_path} is a zip file but not a ghbackup archive (no ghbackup/1 item manifest)"
        )
    check_distinct(manifests)
    if repo is None:
        return manifests
    chosen = [m for m in manifests if repo in (m.item.full_name, m.item.key)]
    if not chosen:
        held = ", ".join(m.item.key for m in manifests[:5])
        more = f" and {len(manifests) - 5} more" if len(manifests) > 5 else ""
        raise ConfigurationError(f"{repo} is not in {zip_path} (it holds {held}{more})")
    return chosen


def check_entry(info: zipfile.ZipInfo) -> None:
    """Any zip entry: a relative path without ``.``/``..`` parts, and a plain file or
    folder (a symlink entry would be a link on extraction by other tools)."""
    name = info.filename
    path = name[:-1] if info.is_dir() else name
    if (
        not path
        or "\x00" in path
        or "\\" in path
        or path.startswith("/")
        or re.match(r"^[A-Za-z]:", path)
        or any(part in ("", ".", "..") for part in path.split("/"))
    ):
        raise ArchiveCorrupt(f"{name}: not a safe relative path")
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind not in (0, stat.S_IFDIR if info.is_dir() else stat.S_IFREG):
        what = "a symlink" if kind == stat.S_IFLNK else "not a regular file"
        raise ArchiveCorrupt(f"{name}: {what} (mode {kind:o})")


def fold(path: str) -> str:
    """A path as a case-insensitive filesystem that ignores trailing dots and spaces in a
    name (Windows) sees it: two items whose paths fold alike would overwrite each other."""
    return "/".join(part.casefold().rstrip(". ") for part in path.split("/"))


def check_distinct(manifests: list[ItemManifest]) -> None:
    """No two items claim the same folder or mirror: ``acme/repo`` and ``acme/Repo``, or
    ``acme/repo.wiki`` and the wiki of ``acme/repo`` (``acme/repo.wiki.git``)."""
    claimed: dict[str, str] = {}
    for manifest in manifests:
        paths = [manifest.root.rstrip("/")]
        paths += [mirror_relpath(manifest, key) for key in manifest.git]
        for path in paths:
            owner = claimed.setdefault(fold(path), manifest.manifest_path)
            if owner != manifest.manifest_path:
                raise ArchiveCorrupt(f"{manifest.manifest_path}: {path} collides with {owner}")


def check_root(manifest: ItemManifest) -> None:
    parts = manifest.root.rstrip("/").split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ArchiveCorrupt(f"{manifest.manifest_path}: unsafe item folder")


def check_no_git_dir(manifest: ItemManifest) -> None:
    """No file of the item may turn one of its restored folders into something git would
    take for a repository (and read config, hooks or alternates from): no ``.git``
    anywhere, none of git's own names at the item's root, and no folder holding a ``HEAD``
    beside ``objects/`` or ``refs/``. Capture never writes such paths."""
    folders: dict[tuple[str, ...], set[str]] = {}
    for entry in manifest.files:
        parts = entry.path.split("/")
        folded = [fold(p) for p in parts]
        if ".git" in folded or (folded[0] in _GIT_DIR_NAMES and entry.path != _WEBHOOKS):
            raise ArchiveCorrupt(
                f"{manifest.root}{entry.path}: git's own file names are not item files"
            )
        for depth in range(len(parts)):
            folders.setdefault(tuple(folded[:depth]), set()).add(folded[depth])
    for folder, names in folders.items():
        if "head" in names and names & {"objects", "refs"}:
            where = "/".join(folder)
            raise ArchiveCorrupt(
                f"{manifest.root}{where}/HEAD: a folder laid out as a git repository"
            )


def primary_git(manifest: ItemManifest) -> str | None:
    return next((k for k in _PRIMARY_GIT if k in manifest.git), None)


def mirror_relpath(manifest: ItemManifest, key: str) -> str:
    if key not in _GIT_KEYS[manifest.item.kind]:
        raise ArchiveCorrupt(
            f"{manifest.manifest_path}: a {manifest.item.kind} has no git {key[:40]!r}"
        )
    base = manifest.root.rstrip("/")
    return f"{base}.wiki.git" if key == "wiki" else f"{base}.git"


def total_bytes(zf: zipfile.ZipFile, manifests: list[ItemManifest], *, restoring: bool) -> int:
    """Bytes the checker reads: every listed file, plus each item's manifest.json when
    restoring (it is copied beside the metadata)."""
    listed = sum(f.size for m in manifests for f in m.files)
    if not restoring:
        return listed
    return listed + sum(zf.getinfo(m.manifest_path).file_size for m in manifests)
