"""Where ``restore_archive`` may put a restored tree, and putting it there.

A target that does not exist, or is an empty folder, receives the whole tree in one rename.
A folder that already has content (earlier restores, say) receives each restored item's
own paths (``o/n/``, ``o/n.git``, ``o/n.wiki.git``) when every one of them is free there:
nothing that exists is ever replaced, merged into or written through a symlink.
"""

from __future__ import annotations

import os
from pathlib import Path

from ghbackup.archive_rules import mirror_relpath
from ghbackup.errors import ConfigurationError
from ghbackup.records import ItemManifest


def check_target(to_dir: Path) -> bool:
    """ConfigurationError, one line, for a target restore cannot build in: a file, under a
    file, an empty mount point (the finished tree is renamed onto an empty target, which a
    mount point cannot be), or where nothing can be written. Returns whether the target
    already has content (then items are added to it, see ``check_free``)."""
    if to_dir.exists() and not to_dir.is_dir():
        raise ConfigurationError(f"restore target {to_dir} exists and is not a folder")
    if to_dir.is_symlink():
        raise ConfigurationError(f"restore target {to_dir} is a symlink; give the real folder")
    existing = next(p for p in (to_dir, *to_dir.parents) if p.exists())  # "/" at the latest
    if not existing.is_dir():
        raise ConfigurationError(f"restore target {to_dir} is under {existing}, which is a file")
    has_content = to_dir.is_dir() and any(to_dir.iterdir())
    if os.path.ismount(to_dir) and not has_content:
        raise ConfigurationError(
            f"restore target {to_dir} is a mount point, which restore cannot replace; "
            "restore into a new folder inside it"
        )
    writable = to_dir if has_content else next(p for p in to_dir.parents if p.exists())
    if not os.access(writable, os.W_OK | os.X_OK):
        raise ConfigurationError(
            f"cannot write in {writable} (a read-only filesystem or no permission); restore "
            "stages the tree " + ("inside the target" if has_content else "beside the target")
        )
    return has_content


def own_paths(manifests: list[ItemManifest]) -> list[str]:
    """The paths each item takes in a restored tree: its folder and its mirrors."""
    paths = []
    for manifest in manifests:
        paths.append(manifest.root.rstrip("/"))
        paths += [mirror_relpath(manifest, key) for key in manifest.git]
    return paths


def check_free(to_dir: Path, paths: list[str]) -> None:
    """ConfigurationError unless every path is free under ``to_dir``, reached through real
    folders only (a symlinked owner folder would send the restore elsewhere)."""
    for rel in paths:
        where = to_dir
        for part in rel.split("/")[:-1]:
            where = where / part
            if where.is_symlink() or (where.exists() and not where.is_dir()):
                raise ConfigurationError(
                    f"restore target {to_dir} has {where.relative_to(to_dir)} in the way of "
                    f"{rel} (a file or symlink); restore into another folder"
                )
        if os.path.lexists(to_dir / rel):
            raise ConfigurationError(
                f"restore target {to_dir} already holds {rel}; restore into another folder, "
                "or move it away first"
            )


def place(tree: Path, to_dir: Path, paths: list[str]) -> None:
    """Move each of ``paths`` from ``tree`` into ``to_dir`` (after ``check_free``), undoing
    the moves already made when one fails, so the target gains all of them or none."""
    moved: list[str] = []
    try:
        for rel in paths:
            if not os.path.lexists(tree / rel):
                continue  # an item without this mirror (no wiki)
            check_free(to_dir, [rel])  # again: the target may have changed since
            (to_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            os.rename(tree / rel, to_dir / rel)
            moved.append(rel)
    except BaseException:
        for rel in reversed(moved):
            os.rename(to_dir / rel, tree / rel)
        raise
