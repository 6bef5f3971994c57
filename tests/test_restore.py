"""verify_archive and restore_archive against item zips built from real git repositories."""

from __future__ import annotations

import hashlib
import json
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from ghbackup import confined_git
from ghbackup.archive import ItemArchiveWriter
from ghbackup.errors import ArchiveCorrupt, ConfigurationError, GitCommandFailed
from ghbackup.process import run_git
from ghbackup.records import BackupItem
from ghbackup.restore import ArchiveDamaged, restore_archive, verify_archive
from tests.roundtrip import add_legacy_history

AUTHOR = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}
REPO = BackupItem(kind="repository", full_name="acme/widget")
LFS_CONTENT = b"large binary content\n" * 100
LFS_OID = hashlib.sha256(LFS_CONTENT).hexdigest()


def git(repo: Path, *args: str) -> str:
    return run_git(list(args), cwd=repo, env=AUTHOR, timeout=60)


def refs_of(repo: Path) -> dict[str, str]:
    out = git(repo, "for-each-ref", "--format=%(objectname) %(refname)")
    return {name: sha for sha, name in (line.split(" ", 1) for line in out.splitlines())}


def make_repo(path: Path, *, lfs: bool = False, files: int = 2) -> Path:
    """A repository with branches, tags (annotated and light), a pull ref, maybe LFS."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    for i in range(files):
        (path / f"f{i}.txt").write_text(f"content {i}\n")
        git(path, "add", ".")
        git(path, "commit", "-q", "-m", f"commit {i}")
    base = "HEAD~1" if files > 1 else "HEAD"
    git(path, "branch", "dev", base)
    git(path, "tag", "-a", "v1", "-m", "release 1")
    git(path, "tag", "light", base)
    git(path, "update-ref", "refs/pull/7/head", "dev")
    if lfs:
        (path / ".gitattributes").write_text("*.bin filter=lfs diff=lfs merge=lfs -text\n")
        pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{LFS_OID}\n"
        (path / "big.bin").write_text(pointer + f"size {len(LFS_CONTENT)}\n")
        git(path, "add", ".")
        git(path, "commit", "-q", "-m", "lfs")
        obj = path / ".git" / "lfs" / "objects" / LFS_OID[:2] / LFS_OID[2:4] / LFS_OID
        obj.parent.mkdir(parents=True)
        obj.write_bytes(LFS_CONTENT)
    return path


def write_item(
    zip_path: Path,
    item: BackupItem,
    repo: Path | None,
    *,
    wiki: Path | None = None,
    refs_override: dict[str, str] | None = None,
    metadata: dict[str, object] | None = None,
) -> Path:
    """An item zip as a capture would write it."""
    scratch = zip_path.parent / f"scratch-{zip_path.stem}"
    scratch.mkdir()
    git_section: dict[str, object] = {}
    with ItemArchiveWriter(zip_path, item) as writer:
        for rel, obj in (metadata or {"repository.json": {"name": "widget"}}).items():
            writer.add_json(rel, obj)
        key = "gist" if item.kind == "gist" else "repository"
        if repo is not None:
            refs = refs_of(repo)
            head = git(repo, "symbolic-ref", "HEAD").strip()
            if refs:
                run_git(["bundle", "create", "-q", str(scratch / "r.bundle"), "--all"], cwd=repo)
                writer.add_file(f"{key}.bundle", scratch / "r.bundle")
            git_section[key] = {"refs": refs_override or refs, "head": head}
            lfs_dir = repo / ".git" / "lfs" / "objects"
            if lfs_dir.is_dir():
                writer.add_tree("lfs/objects", lfs_dir)
        if wiki is not None:
            run_git(["bundle", "create", "-q", str(scratch / "w.bundle"), "--all"], cwd=wiki)
            writer.add_file("wiki.bundle", scratch / "w.bundle")
            git_section["wiki"] = {"refs": refs_of(wiki), "head": "refs/heads/main"}
        summary = writer.close({"git": git_section, "complete": True})
    return summary.path


def merge_zips(out: Path, *zips: Path, extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(out, "w") as dst:
        for name, data in (extra or {}).items():
            dst.writestr(name, data)
        for path in zips:
            with zipfile.ZipFile(path) as src:
                for info in src.infolist():
                    dst.writestr(info, src.read(info))
    return out


def rewrite_zip(path: Path, *, drop=(), add=None, replace=None) -> None:
    """Rebuild a zip with consistent CRCs but changed content (a tampered archive)."""
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w") as dst:
        for info in src.infolist():
            if info.filename in drop:
                continue
            data = (replace or {}).get(info.filename, src.read(info))
            dst.writestr(info, data)
        for name, data in (add or {}).items():
            dst.writestr(name, data)
    tmp.replace(path)


def flip_byte(path: Path, entry: str, offset: int = 10) -> None:
    """Flip one byte of an entry's stored data in place (CRC no longer matches)."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(entry)
    raw = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack(
        "<HH", raw[info.header_offset + 26 : info.header_offset + 30]
    )
    start = info.header_offset + 30 + name_len + extra_len
    raw[start + offset] ^= 0xFF
    path.write_bytes(bytes(raw))


@pytest.fixture
def source(tmp_path):
    return make_repo(tmp_path / "src", lfs=True)


@pytest.fixture
def item_zip(tmp_path, source):
    wiki = make_repo(tmp_path / "wiki", files=1)
    meta = {"repository.json": {"name": "widget"}, "issues/1.json": {"title": "é", "n": 1}}
    return write_item(tmp_path / "item.zip", REPO, source, wiki=wiki, metadata=meta)


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if "restore" in p.name or p.name == "out")


# -- round trip ---------------------------------------------------------------------------


def test_restore_rebuilds_mirror_wiki_lfs_and_metadata(tmp_path, source, item_zip):
    calls = []
    report = restore_archive(item_zip, tmp_path / "out", progress=lambda *a: calls.append(a))
    mirror = tmp_path / "out" / "acme" / "widget.git"
    assert refs_of(mirror) == refs_of(source)
    assert "refs/pull/7/head" in refs_of(mirror)
    assert git(mirror, "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    assert git(mirror, "rev-parse", "--is-bare-repository").strip() == "true"
    git(mirror, "fsck", "--full")
    wiki = tmp_path / "out" / "acme" / "widget.wiki.git"
    assert refs_of(wiki) == refs_of(tmp_path / "wiki")
    obj = mirror / "lfs" / "objects" / LFS_OID[:2] / LFS_OID[2:4] / LFS_OID
    assert obj.read_bytes() == LFS_CONTENT
    meta = tmp_path / "out" / "acme" / "widget"
    assert json.loads((meta / "issues" / "1.json").read_text()) == {"title": "é", "n": 1}
    assert json.loads((meta / "manifest.json").read_text())["format"] == "ghbackup/1"
    assert sorted(p.name for p in meta.iterdir()) == ["issues", "manifest.json", "repository.json"]
    assert report.mirrors == [mirror, wiki] and report.lfs_objects == 1
    assert report.items == ["repository/acme/widget"]
    assert calls and all(total == calls[0][2] for _, _, total in calls)
    assert leftovers(tmp_path) == ["out"]


def test_verify_passes_a_good_archive(item_zip):
    report = verify_archive(item_zip)
    assert (report.bundles, report.lfs_objects) == (2, 1)
    assert report.files == 5  # repository.json, issue, bundle, lfs object, wiki bundle


def test_empty_repository_restores_as_an_empty_bare_repo(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q", "-b", "trunk")
    path = write_item(tmp_path / "item.zip", REPO, empty)
    verify_archive(path)
    restore_archive(path, tmp_path / "out")
    mirror = tmp_path / "out" / "acme" / "widget.git"
    assert refs_of(mirror) == {}
    assert git(mirror, "symbolic-ref", "HEAD").strip() == "refs/heads/trunk"


def test_gist_and_account_items_restore_beside_their_owner(tmp_path):
    gist_repo = make_repo(tmp_path / "gist", files=1)
    gist = BackupItem(kind="gist", id="abc123", owner="acme")
    account = BackupItem(kind="account", login="acme")
    run = merge_zips(
        tmp_path / "run.zip",
        write_item(tmp_path / "g.zip", gist, gist_repo, metadata={"gist.json": {"id": "abc123"}}),
        write_item(tmp_path / "a.zip", account, None, metadata={"starred.json": [1, 2]}),
    )
    restore_archive(run, tmp_path / "out")
    assert refs_of(tmp_path / "out" / "acme" / "@gists" / "abc123.git") == refs_of(gist_repo)
    assert (tmp_path / "out" / "acme" / "@gists" / "abc123" / "gist.json").is_file()
    assert json.loads((tmp_path / "out/acme/@account/starred.json").read_text()) == [1, 2]


def test_one_repository_restores_from_a_run_zip(tmp_path, source, item_zip):
    other_src = make_repo(tmp_path / "other", files=3)
    other = BackupItem(kind="repository", full_name="acme/other")
    run = merge_zips(
        tmp_path / "run.zip",
        item_zip,
        write_item(tmp_path / "o.zip", other, other_src),
        extra={"manifest.json": b'{"format": "ghbackup-run/1"}'},
    )
    assert len(verify_archive(run).items) == 2
    report = restore_archive(run, tmp_path / "out", repo="acme/other")
    assert report.items == ["repository/acme/other"]
    assert sorted(p.name for p in (tmp_path / "out" / "acme").iterdir()) == ["other", "other.git"]
    assert refs_of(tmp_path / "out" / "acme" / "other.git") == refs_of(other_src)
    with pytest.raises(ConfigurationError, match="acme/missing is not in"):
        verify_archive(run, repo="acme/missing")


def three_repository_run(tmp_path: Path) -> Path:
    """A run zip of acme/a, acme/b and acme/c, each with a bundle and a metadata file."""
    zips = []
    for name in "abc":
        src = make_repo(tmp_path / f"src-{name}", files=1)
        item = BackupItem(kind="repository", full_name=f"acme/{name}")
        zips.append(write_item(tmp_path / f"{name}.zip", item, src))
    return merge_zips(tmp_path / "run.zip", *zips)


def test_verify_reports_every_damaged_item_and_which_are_intact(tmp_path):
    run = three_repository_run(tmp_path)
    flip_byte(run, "acme/a/repository.json")
    flip_byte(run, "acme/c/repository.bundle", offset=100)
    with pytest.raises(ArchiveDamaged) as raised:
        verify_archive(run)
    report = raised.value.report
    assert sorted(report.damaged) == ["repository/acme/a", "repository/acme/c"]
    assert report.damaged["repository/acme/a"].startswith("acme/a/repository.json: ")
    assert report.damaged["repository/acme/c"].startswith("acme/c/repository.bundle: ")
    assert report.items == ["repository/acme/b"]
    assert str(raised.value).endswith("(and 1 more damaged)")
    # The same archive, restored: refused, as verify said.
    with pytest.raises(ArchiveCorrupt, match="^acme/a/repository.json: "):
        restore_archive(run, tmp_path / "out")
    assert len(restore_archive(run, tmp_path / "out", repo="acme/b").items) == 1


def test_verify_reports_a_damaged_item_manifest_and_checks_the_other_items(tmp_path):
    run = three_repository_run(tmp_path)
    flip_byte(run, "acme/b/manifest.json")
    with pytest.raises(ArchiveDamaged) as raised:
        verify_archive(run)
    report = raised.value.report
    assert list(report.damaged) == ["acme/b/manifest.json"]
    assert report.damaged["acme/b/manifest.json"].startswith("acme/b/manifest.json: unreadable")
    assert report.items == ["repository/acme/a", "repository/acme/c"]
    with pytest.raises(ArchiveCorrupt, match="^acme/b/manifest.json: unreadable"):
        restore_archive(run, tmp_path / "out", repo="acme/a")  # restore: the same checks


def test_push_mirrors_the_restored_repository_except_pull_refs(tmp_path, source, item_zip):
    remote = tmp_path / "remote.git"
    run_git(["init", "-q", "--bare", str(remote)])
    report = restore_archive(item_zip, tmp_path / "out", push_url=str(remote))
    expected = {k: v for k, v in refs_of(source).items() if not k.startswith("refs/pull/")}
    assert refs_of(remote) == expected
    pushed = remote / "lfs" / "objects" / LFS_OID[:2] / LFS_OID[2:4] / LFS_OID
    assert pushed.read_bytes() == LFS_CONTENT
    assert report.pushed_to == str(remote)


def test_push_needs_a_repo_choice_when_the_zip_holds_several(tmp_path, item_zip):
    other = write_item(
        tmp_path / "o.zip",
        BackupItem(kind="repository", full_name="acme/o"),
        make_repo(tmp_path / "o"),
    )
    run = merge_zips(tmp_path / "run.zip", item_zip, other)
    with pytest.raises(ConfigurationError, match="repo=owner/name"):
        restore_archive(run, tmp_path / "out", push_url=str(tmp_path / "remote.git"))
    assert leftovers(tmp_path) == []


def test_push_url_with_credentials_is_refused(tmp_path, item_zip):
    with pytest.raises(ConfigurationError, match="must not contain credentials"):
        restore_archive(item_zip, tmp_path / "out", push_url="https://u:secret@example.com/a/b")


# -- corruption ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "entry",
    [
        "acme/widget/repository.bundle",
        "acme/widget/issues/1.json",
        f"acme/widget/lfs/objects/{LFS_OID[:2]}/{LFS_OID[2:4]}/{LFS_OID}",
        "acme/widget/manifest.json",
    ],
)
def test_a_flipped_byte_is_reported_with_its_path(item_zip, entry):
    flip_byte(item_zip, entry)
    with pytest.raises(ArchiveCorrupt, match=f"^{entry}: "):
        verify_archive(item_zip)


def test_changed_content_with_a_valid_crc_fails_the_sha256_check(item_zip):
    rewrite_zip(item_zip, replace={"acme/widget/issues/1.json": b'{"title": "forged"}\n'})
    with pytest.raises(ArchiveCorrupt, match="^acme/widget/issues/1.json: the zip says 20 bytes"):
        verify_archive(item_zip)


def test_same_size_tampering_is_a_sha256_mismatch(item_zip):
    with zipfile.ZipFile(item_zip) as zf:
        data = bytearray(zf.read("acme/widget/repository.bundle"))
    data[-30] ^= 0x01
    rewrite_zip(item_zip, replace={"acme/widget/repository.bundle": bytes(data)})
    with pytest.raises(ArchiveCorrupt, match="^acme/widget/repository.bundle: sha256 mismatch$"):
        verify_archive(item_zip)


def test_a_truncated_zip_is_corrupt_not_a_traceback(item_zip):
    data = item_zip.read_bytes()
    item_zip.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArchiveCorrupt, match="item.zip: not a readable zip"):
        verify_archive(item_zip)


def test_a_missing_file_is_reported(item_zip):
    rewrite_zip(item_zip, drop={"acme/widget/issues/1.json"})
    with pytest.raises(ArchiveCorrupt, match="^acme/widget/issues/1.json: missing"):
        verify_archive(item_zip)


def test_an_unlisted_file_is_reported(item_zip):
    rewrite_zip(item_zip, add={"acme/widget/issues/2.json": b"{}"})
    with pytest.raises(ArchiveCorrupt, match="^acme/widget/issues/2.json: not listed"):
        verify_archive(item_zip)


def test_a_file_outside_every_item_is_reported(item_zip):
    rewrite_zip(item_zip, add={"stray/dir/file.txt": b"x"})
    with pytest.raises(ArchiveCorrupt, match="^stray/dir/file.txt: not listed in any"):
        verify_archive(item_zip)


def test_bundle_refs_that_differ_from_the_manifest_are_reported(tmp_path, source):
    refs = refs_of(source)
    refs["refs/heads/dev"] = (
        refs["refs/heads/main"] if refs["refs/heads/dev"] != refs["refs/heads/main"] else "0" * 40
    )
    path = write_item(tmp_path / "item.zip", REPO, source, refs_override=refs)
    with pytest.raises(
        ArchiveCorrupt, match="repository.bundle: refs differ .*different refs/heads/dev"
    ):
        verify_archive(path)


def test_an_lfs_object_whose_content_is_not_its_oid_is_reported(tmp_path, source):
    obj = source / ".git" / "lfs" / "objects" / LFS_OID[:2] / LFS_OID[2:4] / LFS_OID
    obj.write_bytes(b"not the content")
    path = write_item(tmp_path / "item.zip", REPO, source)
    with pytest.raises(ArchiveCorrupt, match="does not match its oid"):
        verify_archive(path)


def test_restore_of_a_corrupt_archive_leaves_nothing_behind(tmp_path, item_zip):
    # The wiki bundle comes after the main bundle: restore has done real work by then.
    flip_byte(item_zip, "acme/widget/wiki.bundle", offset=200)
    with pytest.raises(ArchiveCorrupt, match="^acme/widget/wiki.bundle: "):
        restore_archive(item_zip, tmp_path / "out")
    assert leftovers(tmp_path) == []


def test_restore_adds_a_repository_to_a_folder_whose_paths_for_it_are_free(tmp_path, item_zip):
    target = tmp_path / "out"
    (target / "acme" / "other.git").mkdir(parents=True)
    (target / "keep.txt").write_text("mine")
    restore_archive(item_zip, target)
    assert (target / "keep.txt").read_text() == "mine"
    assert (target / "acme" / "other.git").is_dir()
    assert (target / "acme" / "widget.git" / "HEAD").is_file()
    assert (target / "acme" / "widget" / "manifest.json").is_file()
    assert sorted(p.name for p in target.iterdir()) == ["acme", "keep.txt"]  # no staging left
    assert leftovers(tmp_path) == ["out"]


@pytest.mark.parametrize("taken", ["acme/widget.git", "acme/widget.wiki.git", "acme/widget"])
def test_restore_refuses_a_folder_that_holds_one_of_the_repositorys_paths(
    tmp_path, item_zip, taken
):
    target = tmp_path / "out"
    (target / taken).mkdir(parents=True)
    (target / taken / "mine.txt").write_text("mine")
    with pytest.raises(ConfigurationError, match=f"already holds {taken}"):
        restore_archive(item_zip, target)
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*")) == sorted(
        ["acme", taken, f"{taken}/mine.txt"]
    )
    assert leftovers(tmp_path) == ["out"]


def test_restore_refuses_an_owner_folder_that_is_a_symlink(tmp_path, item_zip):
    target, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    target.mkdir()
    elsewhere.mkdir()
    (target / "acme").symlink_to(elsewhere)
    with pytest.raises(ConfigurationError, match="in the way of acme/widget"):
        restore_archive(item_zip, target)
    assert list(elsewhere.iterdir()) == []


def test_restore_into_an_existing_empty_folder_works(tmp_path, item_zip):
    (tmp_path / "out").mkdir()
    restore_archive(item_zip, tmp_path / "out")
    assert (tmp_path / "out" / "acme" / "widget.git").is_dir()


def test_push_credentials_are_given_to_a_helper_not_put_in_the_url():
    from ghbackup.credentials import TokenCredentials
    from ghbackup.push import push_credential

    credentials = TokenCredentials("ghp_pushsecret123")
    credential = push_credential("https://github.example.com/acme/widget.git", credentials)
    assert credential is not None and credential.credentials is credentials
    assert credential.scope == "https://github.example.com"
    assert "ghp_pushsecret123" not in repr(credential)
    assert push_credential(str(Path("/tmp/x.git")), None) is None
    with pytest.raises(ConfigurationError, match="GITHUB_TOKEN"):
        push_credential("https://github.example.com/acme/widget.git", None)


# -- history as old tools wrote it ------------------------------------------------------------


def test_history_in_legacy_formats_restores_as_it_was(tmp_path):
    source = make_repo(tmp_path / "src")
    add_legacy_history(source)
    with pytest.raises(GitCommandFailed):  # today's fsck rejects it...
        git(source, "fsck", "--full")
    path = write_item(tmp_path / "item.zip", REPO, source)
    verify_archive(path)
    restore_archive(path, tmp_path / "out")  # ...a restore keeps it, byte for byte
    mirror = tmp_path / "out" / "acme" / "widget.git"
    assert refs_of(mirror) == refs_of(source)
    for ref in ("refs/heads/legacy", "refs/tags/v0.1"):
        assert git(mirror, "cat-file", "-p", ref) == git(source, "cat-file", "-p", ref)


@pytest.mark.parametrize("damage", ["missing", "altered"])
def test_fsck_still_fails_on_missing_or_altered_objects(tmp_path, damage):
    repo = make_repo(tmp_path / "repo")
    add_legacy_history(repo)
    blob = git(repo, "rev-parse", "HEAD:f1.txt").strip()
    loose = repo / ".git" / "objects" / blob[:2] / blob[2:]
    loose.chmod(0o644)
    if damage == "missing":
        loose.unlink()
    else:
        loose.write_bytes(zlib.compress(b"blob 9\0tampered!"))
    with pytest.raises(ArchiveCorrupt, match="git fsck failed") as failed:
        confined_git.fsck(repo / ".git")
    assert blob[2:] in str(failed.value)  # the damaged object is named, not a legacy warning


def test_a_failing_git_command_is_named_and_its_error_is_not_a_warning(tmp_path):
    repo = make_repo(tmp_path / "repo")
    with pytest.raises(GitCommandFailed) as failed:
        git(repo, "-c", "core.abbrev=12", "rev-parse", "--verify", "refs/heads/nope")
    assert str(failed.value).startswith("git rev-parse failed (exit 128): fatal: ")
