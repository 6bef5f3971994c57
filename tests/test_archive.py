"""The per-item zip writer and the manifest reader (fast: no git)."""

from __future__ import annotations

import hashlib
import json
import os
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from ghbackup.archive import (
    FORMAT,
    ItemArchiveWriter,
    ItemManifest,
    check_relpath,
    read_manifests,
    safe_name,
)
from ghbackup.errors import ArchiveCorrupt
from ghbackup.records import BackupItem

REPO = BackupItem(kind="repository", full_name="acme/widget")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_close_writes_manifest_last_with_every_file_and_its_checksum(tmp_path):
    src = tmp_path / "asset.bin"
    src.write_bytes(b"\x00\x01" * 5000)
    with ItemArchiveWriter(tmp_path / "item.zip", REPO) as writer:
        writer.add_json("repository.json", {"name": "widget", "b": 1, "a": "é"})
        writer.add_file("releases/v1/asset.bin", src)
        n = writer.add_stream("releases/v1/stream.bin", iter([b"abc", b"", b"def"]))
        summary = writer.close({"counts": {"issues": 0}, "complete": True})
    assert n == 6
    with zipfile.ZipFile(summary.path) as zf:
        names = zf.namelist()
        assert names == [
            "acme/widget/repository.json",
            "acme/widget/releases/v1/asset.bin",
            "acme/widget/releases/v1/stream.bin",
            "acme/widget/manifest.json",
        ]
        infos = {i.filename: i for i in zf.infolist()}
        assert infos["acme/widget/repository.json"].compress_type == zipfile.ZIP_DEFLATED
        assert infos["acme/widget/releases/v1/asset.bin"].compress_type == zipfile.ZIP_STORED
        text = zf.read("acme/widget/repository.json").decode()
        manifest = json.loads(zf.read("acme/widget/manifest.json"))
    assert text == '{\n    "a": "é",\n    "b": 1,\n    "name": "widget"\n}\n'
    assert manifest["format"] == FORMAT
    assert manifest["item"] == {"kind": "repository", "full_name": "acme/widget"}
    assert manifest["counts"] == {"issues": 0} and manifest["complete"] is True
    assert manifest["files"] == [
        {"path": "repository.json", "size": len(text.encode()), "sha256": sha(text.encode())},
        {"path": "releases/v1/asset.bin", "size": 10000, "sha256": sha(src.read_bytes())},
        {"path": "releases/v1/stream.bin", "size": 6, "sha256": sha(b"abcdef")},
    ]
    data = summary.path.read_bytes()
    assert (summary.sha256, summary.size) == (sha(data), len(data))
    assert (summary.entries, summary.files) == (4, 3)
    assert not (tmp_path / "item.zip.partial").exists()


def test_add_tree_adds_files_in_sorted_order(tmp_path):
    tree = tmp_path / "objects"
    for rel in ("b2/ff/x", "a1/00/z", "a1/00/y"):
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_bytes(rel.encode())
    with ItemArchiveWriter(tmp_path / "item.zip", REPO) as writer:
        writer.add_tree("lfs/objects", tree)
        summary = writer.close({})
    assert [f["path"] for f in summary.manifest["files"]] == [
        "lfs/objects/a1/00/y",
        "lfs/objects/a1/00/z",
        "lfs/objects/b2/ff/x",
    ]


def test_add_tree_refuses_symlinks(tmp_path):
    tree = tmp_path / "objects"
    tree.mkdir()
    (tree / "link").symlink_to("/etc/passwd")
    with ItemArchiveWriter(tmp_path / "item.zip", REPO) as writer:
        with pytest.raises(ValueError, match="symlink"):
            writer.add_tree("lfs/objects", tree)
        writer.abort()
    assert list(tmp_path.glob("item.zip*")) == []


@pytest.mark.parametrize(
    "relpath",
    ["/etc/passwd", "../x", "a/../b", "a\\b", "a\x00b", "a//b", "a/./b", "C:/x", "a/b:c", ""],
)
def test_writer_rejects_unsafe_paths(tmp_path, relpath):
    with ItemArchiveWriter(tmp_path / "item.zip", REPO) as writer:
        with pytest.raises(ValueError):
            writer.add_json(relpath, {})
        writer.abort()


def test_writer_rejects_duplicates_manifest_and_file_directory_clashes(tmp_path):
    with ItemArchiveWriter(tmp_path / "item.zip", REPO) as writer:
        writer.add_json("a/b.json", {})
        with pytest.raises(ValueError, match="duplicate"):
            writer.add_json("a/b.json", {})
        with pytest.raises(ValueError, match="duplicate"):
            writer.add_json("a", {})
        with pytest.raises(ValueError, match="below the file"):
            writer.add_json("a/b.json/c", {})
        with pytest.raises(ValueError, match="manifest"):
            writer.add_json("manifest.json", {})
        with pytest.raises(ValueError, match="written by the archive writer"):
            writer.close({"files": []})
        summary = writer.close({})
    assert summary.files == 1


def test_safe_name_keeps_safe_names_and_makes_odd_ones_portable_and_distinct():
    assert safe_name("v1.2.3") == "v1.2.3"
    assert safe_name("naïve build.tar.gz") == "naïve build.tar.gz"
    slash = safe_name("release/1.0")
    assert slash.startswith("release_1.0~") and "/" not in slash
    assert safe_name("release/1.0") == slash  # deterministic
    assert safe_name("release:1.0") != slash  # both map to release_1.0, still distinct
    odd = safe_name('a<b>"c|d?.zip')
    assert odd.startswith("a_b__c_d_~") and odd.endswith(".zip")
    for name in ("..", ".", "", "CON", "nul.txt", "x.", "tab\there", "a\\b"):
        cleaned = safe_name(name)
        check_relpath(cleaned)  # raises if not portable
        assert cleaned != name
    long = safe_name("é" * 300)
    assert len(long.encode()) <= 200 and check_relpath(long)


def test_leaving_the_block_on_error_removes_the_partial_zip(tmp_path):
    with pytest.raises(RuntimeError, match="boom"):
        with ItemArchiveWriter(tmp_path / "item.zip", REPO) as writer:
            writer.add_json("a.json", {})
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_forgetting_close_is_an_error_and_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError, match="without close"):
        with ItemArchiveWriter(tmp_path / "item.zip", REPO) as writer:
            writer.add_json("a.json", {})
    assert list(tmp_path.iterdir()) == []


def test_a_stream_that_fails_midway_breaks_the_writer(tmp_path):
    def cut_connection():
        yield b"x" * 1000
        raise ConnectionError("reset by peer")

    with ItemArchiveWriter(tmp_path / "item.zip", REPO) as writer:
        with pytest.raises(ConnectionError):
            writer.add_stream("releases/v1/a.bin", cut_connection())
        with pytest.raises(RuntimeError, match="unusable"):
            writer.add_json("b.json", {})
        with pytest.raises(RuntimeError, match="unusable"):
            writer.close({})
        writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_zip64_entries_write_and_read_back(tmp_path, monkeypatch):
    # Lower zipfile's 4 GiB limit so the ZIP64 paths run on small data.
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 1000)
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(5000))
    with ItemArchiveWriter(tmp_path / "item.zip", REPO) as writer:
        writer.add_file("releases/v1/big.bin", src)
        writer.add_stream("releases/v1/stream.bin", (b"y" * 1500 for _ in range(3)))
        writer.add_json("repository.json", {"pad": "z" * 2000})
        summary = writer.close({})
    with zipfile.ZipFile(summary.path) as zf:
        assert zf.testzip() is None
        assert zf.read("acme/widget/releases/v1/big.bin") == src.read_bytes()
        assert zf.getinfo("acme/widget/releases/v1/stream.bin").file_size == 4500
    (manifest,) = read_manifests(summary.path)
    assert [f.size for f in manifest.files] == [5000, 4500, summary.manifest["files"][2]["size"]]


def _item_zip(path: Path, item: BackupItem, **extra) -> Path:
    with ItemArchiveWriter(path, item) as writer:
        writer.add_json("data.json", {"k": item.key})
        return writer.close(extra).path


def test_read_manifests_finds_every_item_of_a_merged_run_zip(tmp_path):
    items = [
        BackupItem(kind="repository", full_name="acme/widget"),
        BackupItem(kind="gist", id="abc123", owner="acme"),
        BackupItem(kind="account", login="acme"),
    ]
    run = tmp_path / "run.zip"
    with zipfile.ZipFile(run, "w") as out:
        out.writestr("manifest.json", json.dumps({"format": "ghbackup-run/1"}))
        for i, item in enumerate(items):
            with zipfile.ZipFile(_item_zip(tmp_path / f"{i}.zip", item)) as zf:
                for info in zf.infolist():
                    out.writestr(info, zf.read(info))
        # Files named manifest.json inside an item are not item manifests.
        out.writestr("acme/widget/releases/v1/manifest.json", json.dumps({"format": FORMAT}))
        out.writestr("acme/other/manifest.json", json.dumps({"format": "something-else"}))
    manifests = read_manifests(run)
    assert [m.item for m in manifests] == items
    assert [m.root for m in manifests] == ["acme/widget/", "acme/@gists/abc123/", "acme/@account/"]


def test_item_manifest_round_trips_and_keeps_unknown_keys(tmp_path):
    path = _item_zip(
        tmp_path / "item.zip",
        REPO,
        git={"repository": {"refs": {"refs/heads/main": "a" * 40}, "head": "refs/heads/main"}},
        lfs={"objects": 0, "bytes": 0},
        future_key={"x": 1},
        complete=True,
    )
    (manifest,) = read_manifests(path)
    assert manifest.git["repository"].bundle == "repository.bundle"  # default for old writers
    assert manifest.git["repository"].head == "refs/heads/main"
    assert manifest.model_extra == {"future_key": {"x": 1}}
    again = ItemManifest.from_json(json.dumps(manifest.to_json()))
    assert again == manifest


def test_read_manifests_reports_a_truncated_zip_as_corrupt(tmp_path):
    path = _item_zip(tmp_path / "item.zip", REPO)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArchiveCorrupt, match="item.zip"):
        read_manifests(path)


def test_read_manifests_rejects_a_manifest_in_the_wrong_folder(tmp_path):
    path = tmp_path / "bad.zip"
    body = {"format": FORMAT, "item": REPO.to_json(), "files": []}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("evil/one/manifest.json", json.dumps(body))
    with pytest.raises(ArchiveCorrupt, match="evil/one/manifest.json"):
        read_manifests(path)


@pytest.mark.integration
def test_add_stream_of_200_mb_keeps_memory_flat(tmp_path):
    chunk = os.urandom(1024 * 1024)
    tracemalloc.start()
    try:
        with ItemArchiveWriter(tmp_path / "item.zip", REPO) as writer:
            n = writer.add_stream("releases/v1/big.bin", (chunk for _ in range(200)))
            writer.close({})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert n == 200 * 1024 * 1024
    assert peak < 16 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
