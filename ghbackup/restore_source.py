"""What a restore to GitHub reads: one repository item, verified and restored locally.

``restore_archive`` checks the item against its manifest while it extracts it; this module
then reads the restored metadata files defensively (an archive is untrusted input): a file
that is not the JSON shape GitHub gives becomes ArchiveCorrupt naming it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ghbackup.archive import read_manifests, safe_name
from ghbackup.errors import ArchiveCorrupt, ConfigurationError
from ghbackup.process import run_git


@dataclass
class Release:
    data: dict[str, Any]
    assets: list[tuple[dict[str, Any], Path | None]]  # (asset JSON, file; None if skipped)


@dataclass
class Source:
    """The restored repository ``full_name`` under ``root`` (restore_archive's layout)."""

    full_name: str
    repo: dict[str, Any]
    mirror: Path
    wiki: Path | None
    topics: list[str]
    labels: list[dict[str, Any]]
    milestones: list[dict[str, Any]]  # by number
    issues: dict[int, dict[str, Any]]
    pulls: dict[int, dict[str, Any]]
    releases: list[Release]
    protections: dict[str, dict[str, Any]] = field(default_factory=dict)  # branch -> JSON
    refs: dict[str, str] = field(default_factory=dict)

    @property
    def branches(self) -> set[str]:
        return {r[len("refs/heads/") :] for r in self.refs if r.startswith("refs/heads/")}

    @property
    def unpushable_refs(self) -> list[str]:
        """Refs GitHub does not take in a push (refs/pull/* is read-only there)."""
        return sorted(r for r in self.refs if not r.startswith(("refs/heads/", "refs/tags/")))

    @property
    def lfs_objects(self) -> int:
        root = self.mirror / "lfs" / "objects"
        return sum(1 for p in root.glob("*/*/*") if p.is_file()) if root.exists() else 0


def items(value: Any) -> list[Any]:
    """A list from the archive, or [] when the field holds something else (untrusted input)."""
    return value if isinstance(value, list) else []


def segment(name: str) -> str:
    """A name from the archive as one URL path segment (tags and branches may hold ``/``)."""
    return quote(str(name), safe="")


def check_item(zip_path: Path, full_name: str) -> None:
    """Refuse an item that is not in the archive or whose capture did not complete."""
    manifests = [m for m in read_manifests(zip_path) if m.item.full_name == full_name]
    if not manifests:
        raise ConfigurationError(
            f"{full_name} is not in {zip_path.name} (its capture failed, or it was not "
            "selected); nothing was restored"
        )
    if not manifests[0].complete:
        raise ArchiveCorrupt(f"{full_name}: its capture did not complete; nothing was restored")


def load(root: Path, full_name: str) -> Source:
    owner, name = full_name.split("/", 1)
    meta = root / owner / name
    mirror = root / owner / f"{name}.git"
    wiki = root / owner / f"{name}.wiki.git"
    refs = {}
    if mirror.exists():
        out = run_git(["for-each-ref", "--format=%(objectname) %(refname)"], cwd=mirror)
        refs = {ref: sha for sha, _, ref in (ln.partition(" ") for ln in out.splitlines())}
    repo = _obj(meta, "repository.json")
    saved = _json(meta, "topics.json", {})
    topics = items(saved.get("names") if isinstance(saved, dict) else repo.get("topics"))
    issues = {_num(p, d): d for p, d in _each(meta / "issues")}
    pulls = {_num(p, d): d for p, d in _each(meta / "pulls")}
    milestones = [d for _, d in sorted((_num(p, d), d) for p, d in _each(meta / "milestones"))]
    releases = []
    for path, data in _each(meta / "releases"):
        assets = []
        for asset in items(data.get("assets")):
            if not isinstance(asset, dict) or not isinstance(asset.get("name"), str):
                raise ArchiveCorrupt(f"{path.name}: an asset without a name")
            file = path.with_suffix("") / safe_name(asset["name"])
            assets.append((asset, file if file.is_file() else None))
        releases.append(Release(data, assets))
    releases.sort(key=lambda r: str(r.data.get("created_at") or ""))
    protections = {}
    for branch in items(_json(meta, "branches/branches.json", [])):
        bname = branch.get("name") if isinstance(branch, dict) else None
        file = meta / "branches" / f"{safe_name(str(bname))}.protection.json"
        if isinstance(bname, str) and file.is_file():
            protections[bname] = _obj(meta, f"branches/{file.name}")
    return Source(
        full_name=full_name,
        repo=repo,
        mirror=mirror,
        wiki=wiki if wiki.exists() else None,
        topics=[t for t in topics if isinstance(t, str)],
        labels=[lb for lb in items(_json(meta, "labels/labels.json", [])) if isinstance(lb, dict)],
        milestones=milestones,
        issues=issues,
        pulls=pulls,
        releases=releases,
        protections=protections,
        refs=refs,
    )


def _json(meta: Path, rel: str, default: Any) -> Any:
    path = meta / rel
    if not path.exists():
        return default
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ArchiveCorrupt(f"{rel}: not JSON ({type(exc).__name__})") from None


def _obj(meta: Path, rel: str) -> dict[str, Any]:
    data = _json(meta, rel, None)
    if not isinstance(data, dict):
        raise ArchiveCorrupt(f"{rel}: missing or not a JSON object")
    return data


def _each(folder: Path) -> list[tuple[Path, dict[str, Any]]]:
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.json")):
        data = _obj(folder.parent, f"{folder.name}/{path.name}")
        out.append((path, data))
    return out


def _num(path: Path, data: dict[str, Any]) -> int:
    number = data.get("number")
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise ArchiveCorrupt(f"{path.parent.name}/{path.name}: no valid number")
    if data.get("title") is not None and not isinstance(data.get("title"), str):
        raise ArchiveCorrupt(f"{path.parent.name}/{path.name}: title is not text")
    return number
