"""Verify an archive against its manifests, and restore it into mirrors and files.

``verify_archive`` proves an item zip (or a run zip of many items) is intact: every entry
reads back with a good CRC, every listed file has its recorded size and SHA-256, nothing is
missing or unlisted, every LFS object's content hashes to its oid, and every git bundle passes
``git bundle verify`` and holds exactly the refs the manifest recorded.

``restore_archive`` does the same checks while it extracts (each entry is read once) into a
staging folder beside the target, rebuilds bare mirrors from the bundles, runs
``git fsck --full`` on them (objects merely written in a legacy format pass: see
LEGACY_OBJECT_FORMATS) and only then moves the staging folder into place in one rename.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from ghbackup.archive import (
    CHUNK_SIZE,
    ENTRY_READ_ERRORS,
    ItemManifest,
    check_relpath,
    manifests_in,
    open_zip,
)
from ghbackup.errors import ArchiveCorrupt, ConfigurationError, GitCommandFailed, StorageError
from ghbackup.process import run_git

Progress = Callable[[str, int, "int | None"], None]
"""``progress(description, advance, total)``: ``advance`` is bytes of archive entries
processed since the last call, ``total`` the bytes of all entries being processed (the same
on every call of one operation; None when unknown); ``description`` names the current step."""

# Git keys whose bundle becomes the item's main mirror (``<root>.git``).
_PRIMARY_GIT = ("repository", "gist")
_LFS_OBJECT = re.compile(r"^lfs/objects/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})$")


@dataclass
class VerifyReport:
    """What ``verify_archive`` checked; it only returns when everything passed."""

    zip_path: Path
    items: list[str] = field(default_factory=list)  # item keys
    files: int = 0
    bytes: int = 0
    bundles: int = 0
    lfs_objects: int = 0
    seconds: float = 0.0


@dataclass
class RestoreReport:
    """What ``restore_archive`` put in place."""

    zip_path: Path
    target: Path
    items: list[str] = field(default_factory=list)
    mirrors: list[Path] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    lfs_objects: int = 0
    pushed_to: str | None = None  # the push URL without any userinfo
    seconds: float = 0.0


def verify_archive(
    zip_path: Path, *, repo: str | None = None, progress: Progress | None = None
) -> VerifyReport:
    """Check an item zip or run zip (or only the item ``repo``, ``owner/name`` or an item
    key) against its manifests. Raises ArchiveCorrupt naming the first failing path;
    ConfigurationError when ``repo`` is not in the archive."""
    zip_path = Path(zip_path).resolve()
    started = time.monotonic()
    report = VerifyReport(zip_path=zip_path)
    with tempfile.TemporaryDirectory(prefix="ghbackup-verify-") as tmp, open_zip(zip_path) as zf:
        manifests = _select(zf, zip_path, repo)
        checker = _Checker(
            zf, Path(tmp), progress, _total_bytes(zf, manifests, restoring=False), "Verifying"
        )
        for manifest in manifests:
            checker.check_item(manifest, tree=None)
        if repo is None:
            checker.check_whole_zip(manifests)
        report.items = [m.item.key for m in manifests]
        report.files, report.bytes = checker.files, checker.bytes
        report.bundles, report.lfs_objects = checker.bundles, checker.lfs_objects
    report.seconds = time.monotonic() - started
    return report


def restore_archive(
    zip_path: Path,
    to_dir: Path,
    *,
    repo: str | None = None,
    push_url: str | None = None,
    progress: Progress | None = None,
) -> RestoreReport:
    """Verify and restore the archive (or only the item ``repo``) into ``to_dir``, which must
    not exist or be empty. With ``push_url`` the restored mirror is then pushed there (all
    refs except GitHub's read-only ``refs/pull/*``), followed by its LFS objects.

    Raises ArchiveCorrupt (first failing path), ConfigurationError (bad target or options),
    GitCommandFailed (git itself failed); on any error nothing is left in or beside ``to_dir``.
    """
    # Absolute: git runs in other working directories and must find both.
    zip_path, to_dir = Path(zip_path).resolve(), Path(to_dir).resolve()
    started = time.monotonic()
    _check_target(to_dir)
    if push_url is not None:
        _check_push_url(push_url)
    report = RestoreReport(zip_path=zip_path, target=to_dir)
    with open_zip(zip_path) as zf:
        manifests = _select(zf, zip_path, repo)
        if push_url is not None:
            with_git = [m for m in manifests if _primary_git(m)]
            if len(with_git) != 1:
                raise ConfigurationError(
                    "push needs exactly one repository: choose it with repo=owner/name"
                    if with_git
                    else "push needs a repository, and the selected items have none"
                )
        to_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{to_dir.name}.restore-", dir=to_dir.parent))
        try:
            tree, work = staging / "tree", staging / "work"
            tree.mkdir()
            work.mkdir()
            checker = _Checker(
                zf, work, progress, _total_bytes(zf, manifests, restoring=True), "Restoring"
            )
            for manifest in manifests:
                report.mirrors += checker.check_item(manifest, tree=tree)
            if repo is None:
                checker.check_whole_zip(manifests)
            for mirror in report.mirrors:
                checker.step(f"git fsck {mirror.relative_to(tree)}")
                _fsck(mirror)
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
        manifest = next(m for m in manifests if _primary_git(m))
        mirror = to_dir / _mirror_relpath(manifest, _primary_git(manifest) or "repository")
        checker.step(f"git push {_safe_url(push_url)}")
        _push(mirror, push_url, lfs=any(mirror.joinpath("lfs", "objects").glob("*/*/*")))
        report.pushed_to = _safe_url(push_url)
    report.seconds = time.monotonic() - started
    return report


def _check_target(to_dir: Path) -> None:
    """ConfigurationError, one line, for a target restore cannot build: not empty, under a
    file, a mount point (the finished tree is renamed onto the target, which a mount point
    cannot be), or where nothing can be written (read-only filesystem, permissions)."""
    if to_dir.exists() and (not to_dir.is_dir() or any(to_dir.iterdir())):
        raise ConfigurationError(f"restore target {to_dir} already exists and is not empty")
    existing = next(p for p in to_dir.parents if p.exists())  # "/" exists, at the latest
    if not existing.is_dir():
        raise ConfigurationError(f"restore target {to_dir} is under {existing}, which is a file")
    if os.path.ismount(to_dir):
        raise ConfigurationError(
            f"restore target {to_dir} is a mount point, which restore cannot replace; "
            "restore into a new folder inside it"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigurationError(
            f"cannot write in {existing} (a read-only filesystem or no permission); restore "
            "stages the tree beside the target"
        )


# -- checking (and extracting) ------------------------------------------------------------


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
        self._verify_repo: Path | None = None
        names = zf.namelist()
        if len(names) != len(set(names)):
            dup = next(n for n in names if names.count(n) > 1)
            raise ArchiveCorrupt(f"{dup}: appears more than once in the zip")

    def step(self, description: str, advance: int = 0) -> None:
        if self.progress is not None:
            self.progress(description, advance, self.total)

    def check_item(self, manifest: ItemManifest, *, tree: Path | None) -> list[Path]:
        """Check one item; with ``tree``, also extract it there. Returns the mirrors made."""
        root = manifest.root
        _check_root(manifest)
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

        bundles = {}
        for key, state in manifest.git.items():
            if state.refs and not state.bundle:
                raise ArchiveCorrupt(f"{manifest.manifest_path}: git.{key} has refs but no bundle")
            if state.bundle:
                if state.bundle not in {f.path for f in manifest.files}:
                    raise ArchiveCorrupt(f"{root}{state.bundle}: missing from the zip")
                bundles[state.bundle] = key

        mirrors: dict[str, Path] = {}
        if tree is not None:
            for key, state in manifest.git.items():
                mirror = tree / _mirror_relpath(manifest, key)
                mirror.parent.mkdir(parents=True, exist_ok=True)
                run_git(["init", "--quiet", "--bare", str(mirror)], timeout=120)
                if state.head and state.head.startswith("refs/"):
                    run_git(["symbolic-ref", "HEAD", state.head], cwd=mirror, timeout=60)
                mirrors[key] = mirror
        primary = _primary_git(manifest)
        lfs_home = mirrors.get(primary) if primary else None

        for entry in manifest.files:
            name = root + entry.path
            lfs = _LFS_OBJECT.match(entry.path)
            if entry.path in bundles:
                dest: Path | None = self.work / f"bundle-{self.bundles}.bundle"
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
                self._check_bundle(name, dest, manifest.git[key].refs, label)
                if key in mirrors:
                    self._fetch(name, dest, mirrors[key], manifest.git[key].refs, label)
                dest.unlink()
                self.bundles += 1
        if tree is not None:
            self._read(manifest.manifest_path, tree / manifest.manifest_path, label)
        return list(mirrors.values())

    def check_whole_zip(self, manifests: list[ItemManifest]) -> None:
        """Entries outside every item: top-level files (run-level records) must read back
        with a good CRC; anything deeper belongs to no manifest and is an error."""
        roots = tuple(m.root for m in manifests)
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

    def _verify_repository(self) -> Path:
        # git bundle verify needs a repository; an empty one suits complete bundles.
        if self._verify_repo is None:
            self._verify_repo = self.work / "verify.git"
            run_git(["init", "--quiet", "--bare", str(self._verify_repo)], timeout=120)
        return self._verify_repo

    def _check_bundle(self, name: str, path: Path, refs: dict[str, str], label: str) -> None:
        self.step(f"{label}: git bundle verify")
        repo = self._verify_repository()
        try:
            run_git(["bundle", "verify", "--quiet", str(path)], cwd=repo)
            heads = run_git(["bundle", "list-heads", str(path)], cwd=repo)
        except GitCommandFailed as exc:
            raise ArchiveCorrupt(f"{name}: git bundle verify failed: {exc}") from None
        found = _parse_refs(heads)
        head_sha = found.pop("HEAD", None)
        if found != refs:
            raise ArchiveCorrupt(
                f"{name}: refs differ from the manifest ({_ref_diff(refs, found)})"
            )
        if head_sha is not None and head_sha not in refs.values():
            raise ArchiveCorrupt(f"{name}: bundle HEAD {head_sha[:12]} is none of its refs")

    def _fetch(
        self, name: str, bundle: Path, mirror: Path, refs: dict[str, str], label: str
    ) -> None:
        self.step(f"{label}: git fetch {bundle.name}")
        # fetch, not clone: a clone would drop refs outside heads and tags (refs/pull/*).
        run_git(
            ["fetch", "--quiet", "--no-write-fetch-head", str(bundle), "refs/*:refs/*"],
            cwd=mirror,
        )
        restored = _parse_refs(
            run_git(["for-each-ref", "--format=%(objectname) %(refname)"], cwd=mirror)
        )
        if restored != refs:
            raise ArchiveCorrupt(
                f"{name}: restored refs differ from the manifest ({_ref_diff(refs, restored)})"
            )


def _select(zf: zipfile.ZipFile, zip_path: Path, repo: str | None) -> list[ItemManifest]:
    manifests = manifests_in(zf)
    if not manifests:
        raise ArchiveCorrupt(f"{zip_path}: holds no ghbackup/1 item manifest")
    if repo is None:
        return manifests
    chosen = [m for m in manifests if repo in (m.item.full_name, m.item.key)]
    if not chosen:
        held = ", ".join(m.item.key for m in manifests[:5])
        more = f" and {len(manifests) - 5} more" if len(manifests) > 5 else ""
        raise ConfigurationError(f"{repo} is not in {zip_path} (it holds {held}{more})")
    return chosen


def _check_root(manifest: ItemManifest) -> None:
    parts = manifest.root.rstrip("/").split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ArchiveCorrupt(f"{manifest.manifest_path}: unsafe item folder")


def _primary_git(manifest: ItemManifest) -> str | None:
    return next((k for k in _PRIMARY_GIT if k in manifest.git), None)


def _mirror_relpath(manifest: ItemManifest, key: str) -> str:
    base = manifest.root.rstrip("/")
    if key in _PRIMARY_GIT:
        return f"{base}.git"
    if key == "wiki":
        return f"{base}.wiki.git"
    if not re.fullmatch(r"[A-Za-z0-9_-]+", key):
        raise ArchiveCorrupt(f"{manifest.manifest_path}: unsafe git key {key!r}")
    return f"{base}.{key}.git"


def _total_bytes(zf: zipfile.ZipFile, manifests: list[ItemManifest], *, restoring: bool) -> int:
    """Bytes the checker reads: every listed file, plus each item's manifest.json when
    restoring (it is copied beside the metadata)."""
    listed = sum(f.size for m in manifests for f in m.files)
    if not restoring:
        return listed
    return listed + sum(zf.getinfo(m.manifest_path).file_size for m in manifests)


def _parse_refs(text: str) -> dict[str, str]:
    refs = {}
    for line in text.splitlines():
        sha, _, name = line.strip().partition(" ")
        if name:
            refs[name] = sha
    return refs


def _ref_diff(expected: dict[str, str], found: dict[str, str]) -> str:
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


def _fsck(mirror: Path) -> None:
    relaxed = [arg for msg in LEGACY_OBJECT_FORMATS for arg in ("-c", f"fsck.{msg}=ignore")]
    try:
        run_git([*relaxed, "fsck", "--full", "--no-progress", "--no-dangling"], cwd=mirror)
    except GitCommandFailed as exc:
        raise ArchiveCorrupt(f"{mirror.name}: git fsck failed: {exc}") from None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


# -- pushing ------------------------------------------------------------------------------


def _check_push_url(url: str) -> None:
    parts = urlsplit(url)
    if "@" in parts.netloc and parts.scheme in ("http", "https"):
        raise ConfigurationError(
            "the push URL must not contain credentials; set GITHUB_TOKEN (or the App variables)"
        )


def _safe_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        return parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]).geturl()
    return url


def _push_environment(url: str) -> dict[str, str]:
    """Git environment for pushing to ``url``: for http(s), a credential helper scoped to
    that host answering with the token from GITHUB_TOKEN or the GitHub App variables (via
    ``ghbackup.credentials``; never on a command line). Local and ssh URLs need nothing."""
    if urlsplit(url).scheme not in ("http", "https"):
        return {}
    from ghbackup.credentials import Credentials, git_credential_environment

    return git_credential_environment(Credentials.from_mapping(os.environ), url)


def _push(mirror: Path, url: str, *, lfs: bool) -> None:
    env = _push_environment(url)
    secrets = [v for k, v in env.items() if k == "GHBACKUP_GIT_PASSWORD"]
    # Like --mirror, but GitHub refuses writes to its read-only refs/pull/* namespace.
    run_git(
        ["push", "--quiet", "--prune", url, "+refs/*:refs/*", "^refs/pull/*"],
        cwd=mirror,
        env=env,
        secrets=secrets,
    )
    if lfs:
        # git-lfs speaks to local remotes only through file:// URLs, not bare paths.
        lfs_url = (
            url if "://" in url or ":" in url.split("/", 1)[0] else Path(url).resolve().as_uri()
        )
        # Objects GitHub did not have at capture time (the manifest's skipped "lfs") are
        # missing here too: push the rest rather than refuse after the refs are pushed.
        run_git(["-c", "lfs.allowincompletepush=true", "lfs", "push", "--all", lfs_url],
                cwd=mirror, env=env, secrets=secrets)  # fmt: skip
