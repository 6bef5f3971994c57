"""Verify an archive against its manifests, and restore it into mirrors and files.

An archive is untrusted input: it may have sat in storage for months, and anyone who could
write to that storage may have crafted it. Both commands therefore run the same checks:

- every entry is a plain file under a relative path (no ``..``, no absolute path, no
  symlink or special file), listed exactly once in its item's manifest with the size the
  zip's own header records, and reads back with a good CRC and the recorded SHA-256;
- item names are GitHub names (``ghbackup.records``), and no two items of an archive claim
  the same folder or mirror path, compared as a case-insensitive filesystem would;
- no item file would make a folder look like a git repository (a ``.git`` entry, or git's
  own files such as ``config``, ``HEAD``, ``hooks/`` (but the webhooks' ``hooks.json``),
  ``objects/``, ``refs/`` at the item's root, or a ``HEAD`` beside ``objects/`` or ``refs/``
  anywhere): a restored metadata folder must never become git configuration for whoever
  later runs git in it;
- every git bundle is fetched into a fresh, empty repository that only git writes to, with
  a git configuration of our own (no system, global or repository-provided settings
  matter; no protocol but the local bundle file; no hooks, fsmonitor or alternates). The
  result must hold exactly the manifest's refs, nothing git's own ``init`` and ``fetch``
  would not create, and pass ``git fsck --full`` (objects merely written in a legacy format
  pass: see LEGACY_OBJECT_FORMATS). ``verify`` throws that repository away, ``restore``
  keeps it as the mirror; so an archive ``verify`` passes is one ``restore`` restores.

``restore_archive`` extracts metadata files into a staging tree beside the target, builds
each mirror in its own folder under the staging folder, and only after every check moves
the mirrors (and LFS objects) into the tree and the tree into place in one rename (into a
folder that already has content, each item's own paths, all free: ghbackup/restore_target.py).
Any failure removes the staging folder: a target is either fully restored or not touched.

Restored layout under the target, for a repository ``o/n``: ``o/n.git`` (bare mirror, LFS
objects in ``o/n.git/lfs/objects``), ``o/n.wiki.git``, and every other file of the item
(JSON, release assets, manifest.json) under ``o/n/``. A gist ``o/@gists/<id>`` becomes
``o/@gists/<id>.git`` plus ``o/@gists/<id>/``; an account's files land in ``login/@account/``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ghbackup.archive import (
    CHUNK_SIZE,
    ENTRY_READ_ERRORS,
    check_relpath,
    open_zip,
)
from ghbackup.archive_rules import (
    check_entry,
    check_no_git_dir,
    check_root,
    mirror_relpath,
    primary_git,
    select_items,
    total_bytes,
)
from ghbackup.confined_git import (
    fsck,
    git,
    init_repository,
    is_object_store_path,
    pristine_repository,
    ref_diff,
)
from ghbackup.credentials import Credentials, safe_url
from ghbackup.errors import ArchiveCorrupt, ConfigurationError, GitCommandFailed, StorageError
from ghbackup.gitmirror import parse_refs
from ghbackup.push import check_push_url, push_mirror
from ghbackup.records import ItemManifest
from ghbackup.restore_reports import RUN_FILES, ArchiveDamaged, RestoreReport, VerifyReport
from ghbackup.restore_target import check_free, check_target, own_paths, place

Progress = Callable[[str, int, "int | None"], None]
"""``progress(description, advance, total)``: ``advance`` is bytes of archive entries
processed since the last call, ``total`` the bytes of all entries being processed (the same
on every call of one operation; None when unknown); ``description`` names the current step."""

_LFS_OBJECT = re.compile(r"^lfs/objects/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})$")


def verify_archive(
    zip_path: Path,
    *,
    repo: str | None = None,
    progress: Progress | None = None,
    scratch: Path | None = None,
) -> VerifyReport:
    """Check an item zip or run zip (or only the item ``repo``, ``owner/name`` or an item
    key) against its manifests, fetching every bundle into a throwaway repository (made in
    ``scratch``, default the temporary folder): the checks ``restore_archive`` makes. Every
    item is checked, even after one fails; then ArchiveDamaged (an ArchiveCorrupt naming the
    first failing path) carries the report of which items are damaged and which intact.
    Damage to the zip as a whole (its directory, duplicate or unsafe entries, two items
    claiming one path) is an ArchiveCorrupt at once. NotAnArchive when the path is no
    archive; ConfigurationError when ``repo`` is not in it.
    """
    zip_path = Path(zip_path).resolve()
    started = time.monotonic()
    report = VerifyReport(zip_path=zip_path)
    work = tempfile.TemporaryDirectory(  # one that cannot be removed fails no verify
        prefix="ghbackup-verify-", dir=scratch, ignore_cleanup_errors=True
    )
    with work as tmp, open_zip(zip_path) as zf:
        # The whole archive: an item whose manifest is damaged is reported with the others.
        manifests = select_items(zf, zip_path, repo, report.damaged if repo is None else None)
        checker = _Checker(
            zf, Path(tmp), progress, total_bytes(zf, manifests, restoring=False), "Verifying"
        )
        for manifest in manifests:
            try:
                checker.check_item(manifest, tree=None)
            except ArchiveCorrupt as exc:
                report.damaged[manifest.item.key] = str(exc)
            else:
                report.items.append(manifest.item.key)
        if repo is None:
            # Entries of an item whose manifest is damaged are that item's damage, reported.
            lost = tuple(path.rsplit("/", 1)[0] + "/" for path in report.damaged)
            try:
                checker.check_whole_zip(manifests, lost)
            except ArchiveCorrupt as exc:
                report.damaged[RUN_FILES] = str(exc)
        report.files, report.bytes = checker.files, checker.bytes
        report.bundles, report.lfs_objects = checker.bundles, checker.lfs_objects
    report.seconds = time.monotonic() - started
    if report.damaged:
        raise ArchiveDamaged(report)
    return report


def restore_archive(
    zip_path: Path,
    to_dir: Path,
    *,
    repo: str | None = None,
    push_url: str | None = None,
    push_credentials: Credentials | None = None,
    progress: Progress | None = None,
) -> RestoreReport:
    """Verify and restore the archive (or only the item ``repo``) into ``to_dir``: a new or
    empty folder, or one where every restored item's own paths are free (see
    ``ghbackup.restore_target``). With ``push_url`` the restored mirror is then pushed there (all
    refs except GitHub's read-only ``refs/pull/*``), followed by its LFS objects; an http(s)
    remote is pushed to with ``push_credentials``.

    Raises ArchiveCorrupt (first failing path), ConfigurationError (bad target or options),
    GitCommandFailed (git itself failed); on any error nothing is left in or beside ``to_dir``.
    """
    # Absolute: git runs in other working directories and must find both.
    zip_path, to_dir = Path(zip_path).resolve(), Path(to_dir).resolve()
    started = time.monotonic()
    adding = check_target(to_dir)
    if push_url is not None:
        check_push_url(push_url)
    report = RestoreReport(zip_path=zip_path, target=to_dir)
    with open_zip(zip_path) as zf:
        manifests = select_items(zf, zip_path, repo)
        if push_url is not None:
            with_git = [m for m in manifests if primary_git(m)]
            if len(with_git) != 1:
                raise ConfigurationError(
                    "push needs exactly one repository: choose it with repo=owner/name"
                    if with_git
                    else "push needs a repository, and the selected items have none"
                )
        paths = own_paths(manifests)
        if adding:
            check_free(to_dir, paths)
        # Staged on the target's filesystem, so the finished tree moves in by renames.
        stage_in = to_dir if adding else to_dir.parent
        stage_in.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{to_dir.name}.restore-", dir=stage_in))
        try:
            tree, work = staging / "tree", staging / "work"
            tree.mkdir()
            work.mkdir()
            checker = _Checker(
                zf, work, progress, total_bytes(zf, manifests, restoring=True), "Restoring"
            )
            for manifest in manifests:
                checker.check_item(manifest, tree=tree)
            if repo is None:
                checker.check_whole_zip(manifests)
            report.mirrors = checker.assemble(tree)
            if adding:
                place(tree, to_dir, paths)
            else:
                if to_dir.exists():
                    to_dir.rmdir()  # empty, checked above
                os.rename(tree, to_dir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    report.mirrors = [to_dir / m.relative_to(tree) for m in report.mirrors]
    report.items = [m.item.key for m in manifests]
    report.files, report.bytes, report.lfs_objects = (
        checker.files,
        checker.bytes,
        checker.lfs_objects,
    )
    if push_url is not None:
        manifest = next(m for m in manifests if primary_git(m))
        mirror = to_dir / mirror_relpath(manifest, primary_git(manifest) or "repository")
        checker.step(f"git push {safe_url(push_url)}")
        lfs = any(mirror.joinpath("lfs", "objects").glob("*/*/*"))
        push_mirror(mirror, push_url, push_credentials, lfs=lfs)
        report.pushed_to = safe_url(push_url)
    report.seconds = time.monotonic() - started
    return report


# -- checking (and extracting) ------------------------------------------------------------


@dataclass
class _Mirror:
    """A repository built from a bundle, waiting under ``work`` to be moved into the tree."""

    built: Path  # where git built it: a folder no archive content is ever written to
    relpath: str  # where it goes in the restored tree
    lfs: Path  # its LFS objects, extracted apart (``<lfs>/lfs/objects/...``)


class _Checker:
    """Reads the entries of items once each, checking and optionally extracting them."""

    def __init__(
        self,
        zf: zipfile.ZipFile,
        work: Path,
        progress: Progress | None,
        total: int,
        verb: str,
    ) -> None:
        self.zf, self.work, self.progress, self.total, self.verb = zf, work, progress, total, verb
        self.files = self.bytes = self.bundles = self.lfs_objects = 0
        self.mirrors: list[_Mirror] = []
        self._repos = self._bundle_files = 0
        names = zf.namelist()
        if len(names) != len(set(names)):
            dup = next(n for n in names if names.count(n) > 1)
            raise ArchiveCorrupt(f"{dup}: appears more than once in the zip")
        for info in zf.infolist():
            check_entry(info)

    def step(self, description: str, advance: int = 0) -> None:
        if self.progress is not None:
            self.progress(description, advance, self.total)

    def check_item(self, manifest: ItemManifest, *, tree: Path | None) -> None:
        """Check one item; with ``tree``, also extract its files there and keep its mirrors
        (in ``self.mirrors``) for ``assemble``."""
        root = manifest.root
        check_root(manifest)
        label = f"{self.verb} {root.rstrip('/')}"
        listed = {root + f.path for f in manifest.files}
        present = {n for n in self.zf.namelist() if n.startswith(root) and not n.endswith("/")}
        for entry in manifest.files:
            try:
                check_relpath(entry.path)
            except ValueError as exc:
                raise ArchiveCorrupt(f"{manifest.manifest_path}: {exc}") from None
            if root + entry.path not in present:
                raise ArchiveCorrupt(f"{root}{entry.path}: missing from the zip")
        if len(listed) != len(manifest.files):
            raise ArchiveCorrupt(f"{manifest.manifest_path}: lists a file twice")
        unlisted = sorted(present - listed - {manifest.manifest_path})
        if unlisted:
            raise ArchiveCorrupt(f"{unlisted[0]}: not listed in {manifest.manifest_path}")
        check_no_git_dir(manifest)

        bundles: dict[str, str] = {}
        for key, state in manifest.git.items():
            if state.refs and not state.bundle:
                raise ArchiveCorrupt(f"{manifest.manifest_path}: git.{key} has refs but no bundle")
            if state.bundle:
                if state.bundle not in {f.path for f in manifest.files}:
                    raise ArchiveCorrupt(f"{root}{state.bundle}: missing from the zip")
                if state.bundle in bundles:  # one repository would stay empty
                    raise ArchiveCorrupt(
                        f"{manifest.manifest_path}: git.{key} and git.{bundles[state.bundle]} "
                        "name the same bundle"
                    )
                bundles[state.bundle] = key

        # Every repository of the item, built in its own fresh folder (verify too: a bundle
        # passes only by becoming a repository the way restore makes one).
        repos: dict[str, _Mirror] = {}
        for key, state in manifest.git.items():
            self._repos += 1
            built = self.work / "git" / f"{self._repos}.git"
            lfs_dir = self.work / "lfs" / str(self._repos)
            init_repository(built)
            if state.head and state.head.startswith("refs/"):
                try:
                    git(built, ["symbolic-ref", "HEAD", state.head], timeout=60)
                except GitCommandFailed:
                    raise ArchiveCorrupt(
                        f"{manifest.manifest_path}: git.{key}.head {state.head[:100]!r} "
                        "is not a ref name"
                    ) from None
            repos[key] = _Mirror(built, mirror_relpath(manifest, key), lfs_dir)
        primary = primary_git(manifest)
        lfs_home = repos[primary].lfs if primary and tree is not None else None

        for entry in manifest.files:
            name = root + entry.path
            lfs = _LFS_OBJECT.match(entry.path)
            header_size = self.zf.getinfo(name).file_size
            if header_size != entry.size:
                # Before reading: a manifest (or a header) may lie by gigabytes.
                raise ArchiveCorrupt(
                    f"{name}: the zip says {header_size} bytes but the manifest says {entry.size}"
                )
            if entry.path in bundles:
                # Numbered by entry: a bundle an earlier (failed) item left must not collide.
                self._bundle_files += 1
                dest: Path | None = self.work / f"bundle-{self._bundle_files}.bundle"
            elif tree is None:
                dest = None
            elif lfs and lfs_home is not None:
                dest = lfs_home / entry.path
            else:
                dest = tree / name
            size, sha = self._read(name, dest, label)
            if size != entry.size:
                raise ArchiveCorrupt(f"{name}: size {size} but the manifest says {entry.size}")
            if sha != entry.sha256:
                raise ArchiveCorrupt(f"{name}: sha256 mismatch")
            if lfs:
                if sha != lfs.group(3) or lfs.group(3)[:4] != lfs.group(1) + lfs.group(2):
                    raise ArchiveCorrupt(f"{name}: LFS object content does not match its oid")
                self.lfs_objects += 1
            self.files += 1
            self.bytes += size
            if entry.path in bundles:
                assert dest is not None
                key = bundles[entry.path]
                refs = manifest.git[key].refs
                self._check_bundle(name, dest, repos[key].built, refs, label)
                self._fetch(name, dest, repos[key].built, refs, label)
                dest.unlink()
                self.bundles += 1
        for key, repo in repos.items():
            self._check_pristine(f"{root}{manifest.git[key].bundle or key}", repo.built)
        if tree is None:
            for repo in repos.values():
                shutil.rmtree(repo.built)
            return
        self.mirrors += repos.values()
        self._read(manifest.manifest_path, tree / manifest.manifest_path, label)

    def assemble(self, tree: Path) -> list[Path]:
        """Move every built mirror, then its LFS objects, to its place in ``tree``; a place
        already taken (by an item's files) is an ArchiveCorrupt, never overwritten."""
        placed = []
        for mirror in self.mirrors:
            dest = tree / mirror.relpath
            if os.path.lexists(dest):
                raise ArchiveCorrupt(f"{mirror.relpath}: collides with another restored path")
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
            except (FileExistsError, NotADirectoryError):
                raise ArchiveCorrupt(
                    f"{mirror.relpath}: collides with another restored path"
                ) from None
            os.rename(mirror.built, dest)
            if (mirror.lfs / "lfs").is_dir():
                os.rename(mirror.lfs / "lfs", dest / "lfs")
            placed.append(dest)
        return placed

    def check_whole_zip(self, manifests: list[ItemManifest], skip: tuple[str, ...] = ()) -> None:
        """Entries outside every item: top-level files (run-level records) must read back
        with a good CRC; anything deeper belongs to no manifest and is an error (except
        under the folders ``skip``: items already found damaged)."""
        roots = tuple(m.root for m in manifests) + skip
        for info in self.zf.infolist():
            if info.filename.startswith(roots) or info.is_dir():
                continue
            if "/" in info.filename:
                raise ArchiveCorrupt(f"{info.filename}: not listed in any item manifest")
            self._read(info.filename, None, f"{self.verb} {info.filename}")

    def _read(self, name: str, dest: Path | None, label: str) -> tuple[int, str]:
        """Read an entry to its end (zipfile checks the CRC there), hashing it and copying it
        to ``dest`` when given. Any damage becomes ArchiveCorrupt naming the entry."""
        digest = hashlib.sha256()
        size = 0
        out: BinaryIO | None = None
        try:
            if dest is not None:
                dest.parent.mkdir(parents=True, exist_ok=True)
                out = open(dest, "xb")  # noqa: SIM115 - closed in finally
            with self.zf.open(name) as src:
                while True:
                    try:
                        chunk = src.read(CHUNK_SIZE)
                    except ENTRY_READ_ERRORS as exc:
                        raise ArchiveCorrupt(f"{name}: unreadable: {_one_line(exc)}") from None
                    if not chunk:
                        break
                    digest.update(chunk)
                    size += len(chunk)
                    if out is not None:
                        out.write(chunk)
                    self.step(label, len(chunk))
        except FileExistsError:
            raise ArchiveCorrupt(f"{name}: collides with another restored path") from None
        except ENTRY_READ_ERRORS as exc:
            # zf.open checks the local header; OSError here is writing the restored copy.
            if isinstance(exc, OSError) and not isinstance(exc, zipfile.BadZipFile):
                raise StorageError(f"cannot write {dest}: {exc.strerror}") from None
            raise ArchiveCorrupt(f"{name}: unreadable: {_one_line(exc)}") from None
        finally:
            if out is not None:
                out.close()
        return size, digest.hexdigest()

    def _check_bundle(
        self, name: str, path: Path, repo: Path, refs: dict[str, str], label: str
    ) -> None:
        """The bundle's own header against the manifest, before anything is fetched."""
        self.step(f"{label}: git bundle verify")
        try:
            git(repo, ["bundle", "verify", "--quiet", str(path)])
            heads = git(repo, ["bundle", "list-heads", str(path)])
        except GitCommandFailed as exc:
            raise ArchiveCorrupt(f"{name}: git bundle verify failed: {exc}") from None
        found = parse_refs(heads)
        head_sha = found.pop("HEAD", None)
        if found != refs:
            raise ArchiveCorrupt(f"{name}: refs differ from the manifest ({ref_diff(refs, found)})")
        if head_sha is not None and head_sha not in refs.values():
            raise ArchiveCorrupt(f"{name}: bundle HEAD {head_sha[:12]} is none of its refs")

    def _fetch(self, name: str, bundle: Path, repo: Path, refs: dict[str, str], label: str) -> None:
        """Unbundle into ``repo`` (fresh and empty), then prove it whole: exactly the
        manifest's refs, every object present and connected (``git fsck --full``)."""
        self.step(f"{label}: git fetch {bundle.name}")
        # fetch, not clone: a clone would drop refs outside heads and tags (refs/pull/*).
        try:
            git(repo, ["fetch", "--quiet", "--no-write-fetch-head", str(bundle), "refs/*:refs/*"])
        except GitCommandFailed as exc:
            # A bundle whose header lists objects its pack lacks, or whose pack is damaged.
            raise ArchiveCorrupt(f"{name}: git fetch failed: {exc}") from None
        restored = parse_refs(git(repo, ["for-each-ref", "--format=%(objectname) %(refname)"]))
        if restored != refs:
            raise ArchiveCorrupt(
                f"{name}: restored refs differ from the manifest ({ref_diff(refs, restored)})"
            )
        self.step(f"{label}: git fsck")
        fsck(repo, name)

    def _check_pristine(self, name: str, repo: Path) -> None:
        """``repo`` holds only what ``git init --bare`` and a fetch create: the same config
        as a fresh repository, no alternates, hooks, info, shallow or other extra files."""
        config, top = pristine_repository(self.work)
        if (repo / "config").read_bytes() != config:
            raise ArchiveCorrupt(f"{name}: the restored repository's config was changed")
        allowed_top = top | {"packed-refs"}
        for path in sorted(repo.rglob("*")):
            rel = path.relative_to(repo).parts
            ok = not path.is_symlink() and (
                (len(rel) == 1 and rel[0] in allowed_top)
                or rel[0] == "refs"
                or (rel[0] == "objects" and is_object_store_path(rel[1:], path.is_dir()))
            )
            if not ok:
                raise ArchiveCorrupt(
                    f"{name}: the restored repository holds an unexpected {'/'.join(rel)}"
                )


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__
