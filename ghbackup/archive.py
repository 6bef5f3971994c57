"""One item's zip: writing it during a capture, finding its manifest again afterwards.

Layout and manifest are documented in docs/design.md ("Per-item zip"). Everything of an item
lives under ``item.archive_root`` so that the zips of one run merge into one tree; the
``manifest.json`` in that folder is written last and lists every other entry of the item with
its size and SHA-256, computed while the entry was written (never by reading it back).

Paths inside the zip are plain, portable names: ``safe_name`` turns anything GitHub hands us
(release tags, asset names, branch names) into such a name, deterministically, and the writer
refuses any path that is not already one. Paths recorded in the manifest are relative to the
item's root, so an item stays self-contained wherever its zip is merged.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ghbackup.errors import ArchiveCorrupt, NotAnArchive, StorageError
from ghbackup.records import (
    ITEM_MANIFEST_FORMAT as FORMAT,
)
from ghbackup.records import (
    MANIFEST_NAME,
    BackupItem,
    FileEntry,
    ItemManifest,
    RecordInvalid,
)

CHUNK_SIZE = 1024 * 1024

# Keys the writer owns in manifest.json; a caller's manifest dict may not set them.
_WRITER_KEYS = ("format", "item", "files")
# Characters that are unsafe in a path component on some platform we may restore to.
_UNSAFE_CHARS = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {
    f"{p}{i}" for p in ("COM", "LPT") for i in range(1, 10)
}
_MAX_NAME_BYTES = 200
_SHORT_SUFFIX = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9]{1,10}$")  # an extension, not "1.0"


def safe_name(name: str) -> str:
    """A portable, readable file name for a name that came from GitHub.

    A name that is already safe is returned unchanged. Otherwise unsafe characters become
    ``_``, the result is shortened if needed, and ``~`` plus 8 hex digits of the original's
    SHA-256 are added before a short extension (``release/1.0`` → ``release_1.0~5d3c…``), so
    two different names never collide and the same name always maps to the same file. Record
    the original name in the JSON beside it.
    """
    cleaned = _UNSAFE_CHARS.sub("_", name)
    if cleaned in ("", ".", ".."):
        cleaned = cleaned.replace(".", "_") or "_"
    if cleaned[-1] in ". ":  # Windows drops trailing dots and spaces
        cleaned = cleaned[:-1] + "_"
    stem_upper = cleaned.split(".", 1)[0].upper()
    changed = cleaned != name or stem_upper in _WINDOWS_RESERVED
    too_long = len(cleaned.encode("utf-8")) > _MAX_NAME_BYTES
    if not changed and not too_long:
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    stem, dot, suffix = cleaned.rpartition(".")
    if not (dot and stem and _SHORT_SUFFIX.match(suffix)):
        stem, dot, suffix = cleaned, "", ""
    budget = _MAX_NAME_BYTES - len(f"~{digest}{dot}{suffix}".encode())
    stem = stem.encode("utf-8")[:budget].decode("utf-8", "ignore")
    return f"{stem}~{digest}{dot}{suffix}"


def check_relpath(relpath: str) -> str:
    """Return ``relpath`` if it is a safe relative path made of ``safe_name`` components,
    else raise ValueError saying why (absolute, ``..``, backslash, NUL, odd characters)."""
    if not isinstance(relpath, str) or not relpath:
        raise ValueError("archive path must be a non-empty string")
    if "\x00" in relpath:
        raise ValueError(f"archive path contains NUL: {relpath!r}")
    if "\\" in relpath:
        raise ValueError(f"archive path contains a backslash: {relpath!r}")
    if relpath.startswith("/") or re.match(r"^[A-Za-z]:", relpath):
        raise ValueError(f"archive path must be relative: {relpath!r}")
    for part in relpath.split("/"):
        if part in ("", ".", ".."):
            raise ValueError(f"archive path has an empty, '.' or '..' component: {relpath!r}")
        if safe_name(part) != part:
            raise ValueError(
                f"archive path component {part!r} is not portable; pass it through safe_name()"
            )
    return relpath


@dataclass(frozen=True)
class ArchiveSummary:
    """What ``ItemArchiveWriter.close`` produced: the zip file itself and its entry counts."""

    path: Path
    sha256: str
    size: int
    entries: int  # every entry, manifest.json included
    files: int  # entries listed in the manifest
    file_bytes: int  # uncompressed bytes of those entries
    manifest: dict[str, Any]  # manifest.json as written


class ItemArchiveWriter:
    """Writes one item's zip; a context manager.

    Entries are streamed in (nothing is held whole in memory), in the order they are added.
    The zip is written to ``<path>.partial`` and renamed to ``path`` only by ``close``; leaving
    the ``with`` block without ``close`` (an exception, or a forgotten close) removes it. After
    any failed ``add_*`` the writer accepts nothing but ``abort``: a half-written entry is
    already in the file, so the capture must fail (or start the item again).
    """

    def __init__(self, path: Path, item: BackupItem) -> None:
        self.path = Path(path)
        self.item = item
        self._root = item.archive_root
        self._partial = self.path.with_name(self.path.name + ".partial")
        self._files: list[FileEntry] = []
        self._names: set[str] = set()
        self._dirs: set[str] = set()
        self._broken: str | None = None
        self._closed = False
        # One timestamp for every entry; zip stores local time without zone, we store UTC.
        self._date_time = time.gmtime()[:6]
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._zip = zipfile.ZipFile(self._partial, "w", allowZip64=True)
        except OSError as exc:
            raise StorageError(f"cannot create {self.path}: {exc.strerror}") from None

    # -- context manager -------------------------------------------------------------------
    def __enter__(self) -> ItemArchiveWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self._closed:
            return
        self.abort()
        if exc_type is None:
            raise RuntimeError("ItemArchiveWriter left without close(manifest); zip removed")

    # -- adding entries --------------------------------------------------------------------
    def add_json(self, relpath: str, obj: Any) -> None:
        """A JSON document: sorted keys, indent 4, UTF-8 (not ASCII-escaped), DEFLATED."""
        data = (json.dumps(obj, sort_keys=True, indent=4, ensure_ascii=False) + "\n").encode()
        self._write(relpath, [data], compress=True, size_hint=len(data))

    def add_file(self, relpath: str, src: Path, *, compress: bool = False) -> None:
        """A file from disk, streamed in chunks; STORED unless ``compress``."""
        src = Path(src)
        try:
            size = src.stat().st_size
        except OSError as exc:
            raise StorageError(f"cannot read {src}: {exc.strerror}") from None
        self._write(relpath, _file_chunks(src), compress=compress, size_hint=size)

    def add_stream(self, relpath: str, chunks: Iterable[bytes], *, compress: bool = False) -> int:
        """Bytes from an iterator (an HTTP response body), streamed; returns the byte count.
        Exceptions from ``chunks`` propagate unchanged (and break the writer)."""
        return self._write(relpath, chunks, compress=compress, size_hint=None).size

    def add_tree(self, relprefix: str, src_dir: Path) -> None:
        """Every regular file under ``src_dir`` (sorted, so the order is deterministic) as
        ``relprefix/<relative path>``, STORED. Symlinks and special files are refused."""
        src_dir = Path(src_dir)
        check_relpath(relprefix)
        for path in _walk_sorted(src_dir):
            rel = path.relative_to(src_dir).as_posix()
            self.add_file(f"{relprefix}/{rel}", path)

    # -- finishing -------------------------------------------------------------------------
    def close(self, details: Mapping[str, Any]) -> ArchiveSummary:
        """Write ``manifest.json`` last, finish the zip, move it into place and describe it.

        ``details`` are the ItemManifest fields the capture knows (git, lfs, counts,
        skipped, times...); the writer adds ``format``, ``item`` and ``files`` and the whole
        is validated as an ItemManifest before it is written."""
        self._check_usable()
        clash = [k for k in _WRITER_KEYS if k in details]
        if clash:
            raise ValueError(f"manifest keys {clash} are written by the archive writer")
        manifest = ItemManifest.model_validate(
            {**details, "format": FORMAT, "item": self.item, "files": self._files}
        )
        body = manifest.to_json()
        data = (json.dumps(body, sort_keys=True, indent=4, ensure_ascii=False) + "\n").encode()
        try:
            self._write_entry(self._root + MANIFEST_NAME, [data], True, len(data))
            self._zip.close()
            sha, size = _sha256_of_file(self._partial)
            os.replace(self._partial, self.path)
        except StorageError:
            self.abort()
            raise
        except OSError as exc:
            self.abort()
            raise StorageError(f"cannot finish {self.path}: {exc.strerror or exc}") from None
        self._closed = True
        return ArchiveSummary(
            path=self.path,
            sha256=sha,
            size=size,
            entries=len(self._files) + 1,
            files=len(self._files),
            file_bytes=sum(f.size for f in self._files),
            manifest=body,
        )

    def abort(self) -> None:
        """Give up: close and remove the partial zip. Safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        try:
            self._zip.close()
        except (OSError, ValueError, RuntimeError, zipfile.BadZipFile):
            pass  # the file is being deleted; its trailer does not matter
        for p in (self._partial,):
            try:
                p.unlink()
            except FileNotFoundError:
                pass

    # -- internals -------------------------------------------------------------------------
    def _check_usable(self) -> None:
        if self._closed:
            raise RuntimeError("archive writer is closed")
        if self._broken:
            raise RuntimeError(f"archive writer is unusable after a failed write of {self._broken}")

    def _claim(self, relpath: str) -> str:
        check_relpath(relpath)
        if relpath == MANIFEST_NAME:
            raise ValueError("manifest.json is written by close()")
        if relpath in self._names or relpath in self._dirs:
            raise ValueError(f"duplicate archive path: {relpath}")
        parts = relpath.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts))]
        for prefix in prefixes:
            if prefix in self._names:
                raise ValueError(f"archive path {relpath} is below the file {prefix}")
        self._names.add(relpath)
        self._dirs.update(prefixes)
        return relpath

    def _write(
        self, relpath: str, chunks: Iterable[bytes], *, compress: bool, size_hint: int | None
    ) -> FileEntry:
        self._check_usable()
        self._claim(relpath)
        size, sha = self._write_entry(self._root + relpath, chunks, compress, size_hint)
        entry = FileEntry(path=relpath, size=size, sha256=sha)
        self._files.append(entry)
        return entry

    def _write_entry(
        self, name: str, chunks: Iterable[bytes], compress: bool, size_hint: int | None
    ) -> tuple[int, str]:
        info = zipfile.ZipInfo(name, date_time=self._date_time)
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.external_attr = 0o100644 << 16
        # A known size lets zipfile decide on ZIP64 itself; an unknown one must reserve it.
        force_zip64 = size_hint is None
        if size_hint is not None:
            info.file_size = size_hint
        digest = hashlib.sha256()
        size = 0
        self._broken = name  # cleared only when the entry is complete
        # OSError from the zip side is a storage failure; anything the source raises
        # (a requests.ConnectionError is an OSError too) propagates unchanged.
        try:
            dst = self._zip.open(info, "w", force_zip64=force_zip64)
        except OSError as exc:
            raise StorageError(f"cannot write {name}: {exc.strerror or exc}") from None
        try:
            for chunk in chunks:
                if not chunk:
                    continue
                try:
                    dst.write(chunk)
                except OSError as exc:
                    raise StorageError(f"cannot write {name}: {exc.strerror or exc}") from None
                digest.update(chunk)
                size += len(chunk)
        finally:
            try:
                dst.close()
            except OSError as exc:
                raise StorageError(f"cannot write {name}: {exc.strerror or exc}") from None
        self._broken = None
        return size, digest.hexdigest()


def _file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_SIZE):
            yield chunk


def _walk_sorted(top: Path) -> Iterator[Path]:
    entries = sorted(os.scandir(top), key=lambda e: e.name)
    for entry in entries:
        path = Path(entry.path)
        if entry.is_symlink():
            raise ValueError(f"refusing to archive a symlink: {path}")
        if entry.is_dir():
            yield from _walk_sorted(path)
        elif entry.is_file():
            yield path
        else:
            raise ValueError(f"refusing to archive a special file: {path}")


def _sha256_of_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    for chunk in _file_chunks(path):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


# -- reading ------------------------------------------------------------------------------

# What reading a damaged entry can raise: bad CRC or header, cut-off data, bad deflate stream.
ENTRY_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError)

_ITEM_MANIFEST = re.compile(
    r"^(?:[^/@][^/]*/[^/@][^/]*|[^/@][^/]*/@gists/[^/]+|[^/@][^/]*/@account)/manifest\.json$"
)


def open_zip(zip_path: Path) -> zipfile.ZipFile:
    """Open a zip for reading; a truncated or non-zip file raises ArchiveCorrupt."""
    try:
        return zipfile.ZipFile(zip_path, "r")
    except FileNotFoundError:
        raise NotAnArchive(f"{zip_path}: no such file") from None
    except IsADirectoryError:
        raise NotAnArchive(f"{zip_path} is a directory, not an archive file") from None
    except PermissionError:
        raise NotAnArchive(f"{zip_path}: cannot read it (permission denied)") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        # A truncated archive loses its central directory, so it looks like any non-zip.
        raise ArchiveCorrupt(
            f"{zip_path}: not a readable zip (not a zip file, or a truncated one): {exc}"
        ) from None


def manifests_in(zf: zipfile.ZipFile, damaged: dict[str, str] | None = None) -> list[ItemManifest]:
    """Every ghbackup/1 item manifest in an open zip, in zip order (see read_manifests).
    A damaged one raises ArchiveCorrupt; or, given ``damaged``, is recorded there (by its
    path in the zip) and skipped, so that the other items can still be checked."""
    found = []
    for info in zf.infolist():
        if not _ITEM_MANIFEST.match(info.filename):
            continue
        try:
            manifest = _item_manifest(zf, info)
        except ArchiveCorrupt as exc:
            if damaged is None:
                raise
            damaged[info.filename] = str(exc)
            continue
        if manifest is not None:
            found.append(manifest)
    return found


# An item manifest lists every file of one item with its size and SHA-256: a few hundred bytes
# a file, so 256 MiB is about a million files. Read whole into memory, a larger one (a
# deflated run of zeros) could exhaust it: refused before it is read.
MAX_MANIFEST_BYTES = 256 * 1024 * 1024


def _item_manifest(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> ItemManifest | None:
    """The item manifest at ``info``; None for another file called manifest.json."""
    if info.file_size > MAX_MANIFEST_BYTES:
        raise ArchiveCorrupt(
            f"{info.filename}: {info.file_size:,} bytes, more than a manifest may have "
            f"({MAX_MANIFEST_BYTES:,})"
        )
    try:
        raw = zf.read(info)
    except ENTRY_READ_ERRORS as exc:
        raise ArchiveCorrupt(f"{info.filename}: unreadable: {exc}") from None
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ArchiveCorrupt(f"{info.filename}: not valid JSON") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None  # some other file that happens to be called manifest.json
    try:
        manifest = ItemManifest.from_json(data)
    except RecordInvalid as exc:
        raise ArchiveCorrupt(f"{info.filename}: {exc}") from None
    if manifest.manifest_path != info.filename:
        raise ArchiveCorrupt(
            f"{info.filename}: manifest is for {manifest.item.key}, not this folder"
        )
    return manifest


def read_manifests(zip_path: Path) -> list[ItemManifest]:
    """Every item manifest in an item zip or a run zip.

    An item's manifest sits at ``owner/name/manifest.json``, ``owner/@gists/<id>/manifest.json``
    or ``login/@account/manifest.json`` and says ``"format": "ghbackup/1"``; a file of that
    name deeper in an item (a release asset, say) is not one. Raises ArchiveCorrupt when the
    zip or a manifest cannot be read.
    """
    with open_zip(Path(zip_path)) as zf:
        return manifests_in(zf)
