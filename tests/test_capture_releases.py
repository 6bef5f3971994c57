"""Release assets GitHub lists but cannot serve are skipped, not fatal to the repository."""

from __future__ import annotations

import zipfile

from ghbackup.archive import ItemArchiveWriter
from ghbackup.capture import _Capture, _capture_releases, _no_progress
from ghbackup.errors import NotFound
from ghbackup.github import OptionalResource
from ghbackup.gitmirror import GitSettings
from ghbackup.records import BackupItem

ITEM = BackupItem(kind="repository", full_name="acme/widget")


class Releases:
    """A client serving one release with the given assets; ``gone`` answer 404."""

    def __init__(self, assets: list[dict], gone: set[str]) -> None:
        self.assets, self.gone, self.downloaded = assets, gone, []

    def list_optional(self, path: str) -> OptionalResource:
        return OptionalResource([{"id": 1, "tag_name": "v1", "assets": self.assets}])

    def download(self, url, sink, *, expected_size=None) -> int:
        if url in self.gone:
            raise NotFound(f"{url}: HTTP 404 Not Found", 404)
        self.downloaded.append(url)
        sink.write(b"x" * expected_size)
        return expected_size


def asset(n: int, **extra) -> dict:
    return {"id": n, "name": f"a{n}.bin", "url": f"https://api/assets/{n}", "size": 10, **extra}


def test_unfinished_and_vanished_assets_are_skipped_and_the_rest_captured(tmp_path):
    client = Releases(
        [asset(1, state="uploaded"), asset(2, state="open"), asset(3), asset(4)],
        gone={"https://api/assets/3"},
    )
    with ItemArchiveWriter(tmp_path / "item.zip", ITEM) as writer:
        cap = _Capture(ITEM, client, writer, tmp_path, _no_progress, GitSettings())  # type: ignore[arg-type]
        _capture_releases(cap, "repos/acme/widget")
        writer.close({"complete": True})
    assert client.downloaded == ["https://api/assets/1", "https://api/assets/4"]
    assert cap.counts["release_assets"] == 2
    assert cap.skipped == {
        "releases/v1/a2.bin": "asset upload not finished on GitHub (state 'open')",
        "releases/v1/a3.bin": "asset not found when downloaded (https://api/assets/3: HTTP 404 Not Found)",
    }
    with zipfile.ZipFile(tmp_path / "item.zip") as zf:
        names = set(zf.namelist())
    assert {"acme/widget/releases/v1/a1.bin", "acme/widget/releases/v1/a4.bin"} <= names
    assert not any(n.endswith(("a2.bin", "a3.bin")) for n in names)
    assert not (tmp_path / "asset.bin").exists()
