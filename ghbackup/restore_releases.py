"""Releases restored to GitHub: created on their tags, their assets uploaded to the
uploads host (uploads.github.com; the API host on GitHub Enterprise Server)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ghbackup.errors import GitHubError, NotFound
from ghbackup.restore_source import segment as _seg

if TYPE_CHECKING:
    from ghbackup.restore_github import Restorer


def restore_releases(r: Restorer) -> None:
    """Releases on their tags, then their assets, uploaded to the uploads host."""
    for rel in r.source.releases:
        data = rel.data
        tag = str(data.get("tag_name"))
        if not data.get("draft") and f"refs/tags/{tag}" not in r.source.refs:
            r.warn(f"release {tag}: its tag is not in the archive; not restored")
            continue
        body = {"tag_name": tag, "draft": bool(data.get("draft")),
                "prerelease": bool(data.get("prerelease"))}  # fmt: skip
        for key in ("name", "body", "target_commitish"):
            if isinstance(data.get(key), str) and data[key]:
                body[key] = data[key]
        try:
            entry = r.create(
                "releases",
                f"release:{tag}",
                f"{r.base}/releases",
                body,
                lambda tag=tag: _release_by_tag(r, tag),
                lambda obj: {"id": obj["id"], "upload_url": obj["upload_url"]},
            )
        except GitHubError as exc:
            if exc.status != 422:
                raise
            r.warn(f"release {tag}: GitHub refused it ({exc})")
            continue
        for asset, file in rel.assets:
            if file is None:
                r.warn(f"release {tag}: asset {asset['name']} is not in the archive")
                continue
            r.create(
                "release assets",
                f"asset:{tag}/{asset['name']}",
                "",
                None,
                lambda asset=asset, entry=entry: next(
                    (
                        a
                        for a in r.list(f"releases/{entry['id']}/assets")
                        if a["name"] == asset["name"]
                    ),
                    None,
                ),  # fmt: skip
                lambda obj: obj["id"],
                send=lambda asset=asset, file=file, entry=entry: _upload(r, entry, asset, file),
            )


def _release_by_tag(r: Restorer, tag: str) -> Any:
    try:
        return r.client.get(f"{r.base}/releases/tags/{_seg(tag)}")
    except NotFound:
        return None


def _upload(r: Restorer, entry: dict[str, Any], asset: dict[str, Any], file: Path) -> Any:
    with open(file, "rb") as data:  # streamed: an asset may be up to 2 GiB
        return r.paced(
            lambda: r.client.upload(
                entry["upload_url"],
                asset["name"],
                data,
                str(asset.get("content_type") or "application/octet-stream"),
                asset.get("label") or None,
            )
        )
