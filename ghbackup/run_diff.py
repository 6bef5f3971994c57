"""What two runs hold, and how they differ: ``ghbackup ls`` and ``ghbackup diff``.

A run is read from a run zip (its item manifests: files, sizes and git refs), from a run
manifest (``manifest.json``: each item's status and zip checksum, no refs), or from the
bucket of a deployed stack (its run manifest). Reading is listing only: nothing is
extracted, and names come from manifests that parsed as the typed records, so a hostile
archive can make ``ls`` print wrong sizes but never write or run anything; ``verify`` is
what checks an archive.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ghbackup.archive import manifests_in, open_zip
from ghbackup.errors import ArchiveCorrupt, NotAnArchive
from ghbackup.records import ItemManifest, RecordInvalid, RunManifest


@dataclass(frozen=True)
class ItemView:
    """One item of a run as far as its source tells: status, bytes, the zip's SHA-256, and
    its git refs as ``{"repository refs/heads/main": sha}`` (None: the source has none)."""

    status: str
    bytes: int
    sha256: str | None = None
    refs: dict[str, str] | None = None


@dataclass
class RunView:
    """The items of one run by item key; ``source`` says where they were read."""

    source: str
    items: dict[str, ItemView] = field(default_factory=dict)


@dataclass(frozen=True)
class ItemChange:
    """An item in both runs whose content or status differs; ``refs`` lists the ref changes
    as (ref, old sha or None, new sha or None), empty when no refs were compared."""

    key: str
    status: tuple[str, str] | None
    refs: list[tuple[str, str | None, str | None]]
    content_changed: bool


@dataclass
class RunDiff:
    added: list[str]
    removed: list[str]
    changed: list[ItemChange]
    refs_compared: bool


def item_manifests(zip_path: Path) -> list[ItemManifest]:
    """The item manifests of a run zip or item zip (NotAnArchive when it is none)."""
    with open_zip(zip_path) as zf:
        found = manifests_in(zf)
    if not found:
        raise NotAnArchive(
            f"{zip_path} is a zip file but not a ghbackup archive (no ghbackup/1 item manifest)"
        )
    return found


def view_of_zip(zip_path: Path) -> RunView:
    view = RunView(source=str(zip_path))
    for manifest in item_manifests(zip_path):
        refs = {
            f"{key} {ref}": sha
            for key, state in manifest.git.items()
            for ref, sha in state.refs.items()
        }
        size = sum(f.size for f in manifest.files)
        view.items[manifest.item.key] = ItemView(status="succeeded", bytes=size, refs=refs)
    return view


def view_of_manifest(manifest: RunManifest, source: str) -> RunView:
    view = RunView(source=source)
    for line in manifest.items:
        view.items[line.item.key] = ItemView(
            status=line.status, bytes=line.zip_bytes, sha256=line.zip_sha256
        )
    return view


def view_of_file(path: Path) -> RunView:
    """A local run zip, item zip or run manifest (JSON), or a run's folder holding one."""
    if path.is_dir():
        zips = sorted(path.glob("ghbackup-*.zip"))
        manifest = path / "manifest.json"
        if zips:
            path = zips[0]
        elif manifest.is_file():
            path = manifest
        else:
            raise NotAnArchive(f"{path} is a folder without a run zip or manifest.json")
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_bytes())
            return view_of_manifest(RunManifest.from_json(data), str(path))
        except (OSError, ValueError, RecordInvalid, ArchiveCorrupt) as exc:
            raise NotAnArchive(f"{path} is not a ghbackup run manifest: {exc}") from None
    return view_of_zip(path)


def diff_runs(a: RunView, b: RunView) -> RunDiff:
    """Items only in ``b`` (added), only in ``a`` (removed), and in both but different."""
    refs_compared = all(v.refs is not None for v in (*a.items.values(), *b.items.values()))
    changed = []
    for key in sorted(a.items.keys() & b.items.keys()):
        old, new = a.items[key], b.items[key]
        status = (old.status, new.status) if old.status != new.status else None
        refs = []
        if old.refs is not None and new.refs is not None:
            for ref in sorted(old.refs.keys() | new.refs.keys()):
                if old.refs.get(ref) != new.refs.get(ref):
                    refs.append((ref, old.refs.get(ref), new.refs.get(ref)))
        content = bool(old.sha256 and new.sha256 and old.sha256 != new.sha256)
        if status or refs or content:
            changed.append(ItemChange(key, status, refs, content))
    return RunDiff(
        added=sorted(b.items.keys() - a.items.keys()),
        removed=sorted(a.items.keys() - b.items.keys()),
        changed=changed,
        refs_compared=refs_compared,
    )
