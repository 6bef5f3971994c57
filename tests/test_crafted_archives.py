"""Hostile archives: zips crafted by hand, the way an attacker (or a broken disk) would.

For every crafted archive, ``ghbackup verify`` exits non-zero with one ``ArchiveCorrupt``
line naming the offending path, and ``ghbackup restore`` refuses it: it writes nothing
outside its staging folder (the target's parent is unchanged afterwards), removes that
folder, and runs no command (the marker file a payload would create does not exist).
Archives ``verify`` passes must restore: the same property is checked over good archives.
"""

from __future__ import annotations

import hashlib
import json
import stat
import subprocess
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from cli.main import main
from ghbackup import zipformat
from ghbackup.errors import ArchiveCorrupt, BackupError
from ghbackup.process import run_git
from ghbackup.restore import restore_archive, verify_archive
from tests.roundtrip import add_legacy_history

AUTHOR = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}
MISSING_OBJECT = "1234567890abcdef1234567890abcdef12345678"


def git(repo: Path, *args: str) -> str:
    return run_git(list(args), cwd=repo, env=AUTHOR, timeout=60)


@dataclass(frozen=True)
class Source:
    """A small repository and its complete bundle."""

    path: Path
    bundle: bytes
    refs: dict[str, str]


def make_source(path: Path, *, legacy: bool = False) -> Source:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    for i in range(2):
        (path / f"f{i}.txt").write_text(f"content {i}\n")
        git(path, "add", ".")
        git(path, "commit", "-q", "-m", f"commit {i}")
    git(path, "tag", "v1")
    if legacy:
        add_legacy_history(path)
    out = path.parent / f"{path.name}.bundle"
    run_git(["bundle", "create", "-q", str(out), "--all"], cwd=path)
    listing = git(path, "for-each-ref", "--format=%(objectname) %(refname)")
    refs = {name: sha for sha, name in (line.split(" ", 1) for line in listing.splitlines())}
    return Source(path, out.read_bytes(), refs)


@pytest.fixture(scope="module")
def src(tmp_path_factory) -> Source:
    return make_source(tmp_path_factory.mktemp("crafted") / "src")


# -- building zips by hand ----------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    name: str
    data: bytes
    mode: int | None = None  # unix mode for external_attr (S_IFLNK for a symlink)


def item_entries(
    item: dict[str, str],
    files: dict[str, bytes],
    *,
    git_state: dict[str, dict[str, object]] | None = None,
    sizes: dict[str, int] | None = None,
) -> list[Entry]:
    """The entries of one item, manifest last; the manifest lists ``files`` with their real
    sizes and hashes unless ``sizes`` says otherwise (a lying manifest)."""
    if item["kind"] == "repository":
        root = f"{item['full_name']}/"
    elif item["kind"] == "gist":
        root = f"{item['owner']}/@gists/{item['id']}/"
    else:
        root = f"{item['login']}/@account/"
    manifest = {
        "format": "ghbackup/1",
        "item": item,
        "files": [
            {
                "path": rel,
                "size": (sizes or {}).get(rel, len(data)),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
            for rel, data in files.items()
        ],
        "git": git_state or {},
        "complete": True,
    }
    entries = [Entry(root + rel, data) for rel, data in files.items()]
    return [*entries, Entry(root + "manifest.json", json.dumps(manifest).encode())]


def repo_item(
    name: str, src: Source, *, wiki: bool = False, files: dict[str, bytes] | None = None
) -> list[Entry]:
    """A repository item holding ``src`` as its bundle (and as its wiki), plus ``files``."""
    state = {"refs": src.refs, "head": "refs/heads/main", "bundle": "repository.bundle"}
    git_state: dict[str, dict[str, object]] = {"repository": state}
    content = {"repository.json": b'{"name": "x"}\n', "repository.bundle": src.bundle}
    if wiki:
        git_state["wiki"] = {**state, "bundle": "wiki.bundle"}
        content["wiki.bundle"] = src.bundle
    content.update(files or {})
    return item_entries({"kind": "repository", "full_name": name}, content, git_state=git_state)


def write_zip(path: Path, entries: list[Entry]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for entry in entries:
            info = zipfile.ZipInfo(entry.name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            if entry.mode is not None:
                info.external_attr = entry.mode << 16
                info.create_system = 3  # unix: the mode is meaningful
            zf.writestr(info, entry.data)
    return path


def set_header_size(path: Path, name: str, size: int) -> None:
    """Rewrite the central directory so the zip's own header claims ``size`` for ``name``."""
    raw = path.read_bytes()
    end = zipformat.find_end_record(raw, 0)
    entries = zipformat.parse_central_directory(
        raw[end.cd_offset : end.cd_offset + end.cd_size], end.entries
    )
    entries = [replace(e, uncompressed_size=size) if e.filename == name else e for e in entries]
    path.write_bytes(raw[: end.cd_offset] + zipformat.central_directory(entries, end.cd_offset))


# -- bundles that are whole on the outside and broken on the inside ---------------------------


def bundle_parts(bundle: bytes) -> tuple[bytes, bytes]:
    """(header up to and including its blank line, pack)."""
    split = bundle.index(b"\n\n") + 2
    return bundle[:split], bundle[split:]


def bundle_with_extra_ref(src: Source, ref: str, sha: str) -> bytes:
    header, pack = bundle_parts(src.bundle)
    return header[:-1] + f"{sha} {ref}\n\n".encode() + pack


def bundle_missing_a_blob(src: Source, work: Path) -> bytes:
    """A bundle of every ref whose pack lacks one blob that a tree names."""
    blob = git(src.path, "rev-parse", "HEAD:f0.txt").strip()
    listing = git(src.path, "rev-list", "--objects", "--all").splitlines()
    wanted = "".join(f"{line.split(' ')[0]}\n" for line in listing if not line.startswith(blob))
    pack = subprocess.run(
        ["git", "pack-objects", "--stdout", "-q"],
        cwd=src.path,
        input=wanted.encode(),
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    return bundle_parts(src.bundle)[0] + pack


def bundle_with_corrupt_pack(src: Source) -> bytes:
    """One byte of the pack changed, and the pack's own SHA-1 trailer made to match."""
    header, pack = bundle_parts(src.bundle)
    body = bytearray(pack[:-20])
    body[len(body) // 2] ^= 0x55
    return header + bytes(body) + hashlib.sha1(bytes(body)).digest()


# -- the cases ------------------------------------------------------------------------------


def ext_payload(marker: Path) -> bytes:
    """A git config that turns any fetch of a local path into a shell command."""
    return (
        "[core]\n\trepositoryformatversion = 0\n\tbare = true\n"
        '[protocol "ext"]\n\tallow = always\n'
        f'[url "ext::sh -c touch% {marker}% #"]\n\tinsteadOf = /\n'
    ).encode()


@dataclass(frozen=True)
class Case:
    """A crafted archive and the path its ArchiveCorrupt message must name."""

    build: Callable[[Path, Source, Path], list[Entry] | Path]
    names: str


def _git_suffix_item(src: Source, marker: Path, *, first: bool) -> list[Entry]:
    planted = item_entries(
        {"kind": "repository", "full_name": "acme/repo-001.git"},
        {
            "config": ext_payload(marker),
            "objects/info/alternates": b"/etc\n",
            "refs/heads/evil": (src.refs["refs/heads/main"] + "\n").encode(),
        },
    )
    good = repo_item("acme/repo-001", src)
    return [*planted, *good] if first else [*good, *planted]


def _planted(rel: str, data: Callable[[Path], bytes]) -> Callable[[Path, Source, Path], list]:
    def build(work: Path, src: Source, marker: Path) -> list[Entry]:
        return repo_item("acme/widget", src, files={rel: data(marker)})

    return build


def _lying_header(work: Path, src: Source, marker: Path) -> Path:
    path = write_zip(work / "lying-header.zip", repo_item("acme/widget", src))
    set_header_size(path, "acme/widget/repository.bundle", 1 << 30)
    return path


def _bundle_case(make: Callable[[Source, Path], bytes]) -> Callable[[Path, Source, Path], list]:
    def build(work: Path, src: Source, marker: Path) -> list[Entry]:
        bundle = make(src, work)
        refs = dict(src.refs)
        header = bundle_parts(bundle)[0].decode()
        for line in header.splitlines()[1:]:
            if line and not line.startswith("-"):
                sha, ref = line.split(" ", 1)
                if ref != "HEAD":
                    refs[ref] = sha
        state = {"refs": refs, "head": "refs/heads/main", "bundle": "repository.bundle"}
        return item_entries(
            {"kind": "repository", "full_name": "acme/widget"},
            {"repository.bundle": bundle},
            git_state={"repository": state},
        )

    return build


CASES: dict[str, Case] = {
    "path traversal in a manifest": Case(
        lambda w, s, m: item_entries(
            {"kind": "repository", "full_name": "acme/widget"}, {"../../evil.txt": b"x"}
        ),
        "acme/widget/../../evil.txt",
    ),
    "path traversal entry": Case(
        lambda w, s, m: [*repo_item("acme/widget", s), Entry("../../evil.txt", b"x")],
        "../../evil.txt",
    ),
    "absolute path entry": Case(
        lambda w, s, m: [*repo_item("acme/widget", s), Entry(f"{m}.abs", b"x")],
        ".abs",
    ),
    "symlink entry": Case(
        lambda w, s, m: [
            Entry(e.name, e.data, stat.S_IFLNK | 0o777 if e.name.endswith("notes.txt") else None)
            for e in repo_item("acme/widget", s, files={"notes.txt": b"/etc/passwd"})
        ],
        "acme/widget/notes.txt",
    ),
    "an item named like a mirror, before it": Case(
        lambda w, s, m: _git_suffix_item(s, m, first=True), "acme/repo-001.git/manifest.json"
    ),
    "an item named like a mirror, after it": Case(
        lambda w, s, m: _git_suffix_item(s, m, first=False), "acme/repo-001.git/manifest.json"
    ),
    "an item named like a mirror, upper case": Case(
        lambda w, s, m: [
            *repo_item("acme/REPO.GIT", s, files={"config": ext_payload(m)}),
            *repo_item("acme/repo", s),
        ],
        "acme/REPO.GIT/manifest.json",
    ),
    "an item whose mirror is another item's wiki": Case(
        lambda w, s, m: [*repo_item("acme/repo", s, wiki=True), *repo_item("acme/repo.wiki", s)],
        "acme/repo.wiki/manifest.json",
    ),
    "two items that differ in case only": Case(
        lambda w, s, m: [*repo_item("acme/widget", s), *repo_item("ACME/Widget", s)],
        "ACME/Widget/manifest.json",
    ),
    "two gists that differ in case only": Case(
        lambda w, s, m: [
            *item_entries({"kind": "gist", "id": "abc1", "owner": "acme"}, {"gist.json": b"{}"}),
            *item_entries({"kind": "gist", "id": "ABC1", "owner": "acme"}, {"gist.json": b"{}"}),
        ],
        "acme/@gists/ABC1/manifest.json",
    ),
    "an account login with a dot": Case(
        lambda w, s, m: item_entries({"kind": "account", "login": "ac.me"}, {"user.json": b"{}"}),
        "ac.me/@account/manifest.json",
    ),
    "a git config planted in an item folder": Case(
        _planted("config", ext_payload), "acme/widget/config"
    ),
    "a hook planted in an item folder": Case(
        _planted("hooks/post-update", lambda m: f"#!/bin/sh\ntouch {m}\n".encode()),
        "acme/widget/hooks/post-update",
    ),
    "alternates planted in an item folder": Case(
        _planted("objects/info/alternates", lambda m: b"/etc\n"),
        "acme/widget/objects/info/alternates",
    ),
    "a bare repository planted deeper in an item folder": Case(
        lambda w, s, m: repo_item(
            "acme/widget",
            s,
            files={
                "issues/x/HEAD": b"ref: refs/heads/main\n",
                "issues/x/config": ext_payload(m),
                "issues/x/objects/info/packs": b"\n",
                "issues/x/refs/heads/main": (s.refs["refs/heads/main"] + "\n").encode(),
            },
        ),
        "acme/widget/issues/x/HEAD",
    ),
    "a .git folder in an item folder": Case(
        _planted("releases/v1/.git/config", ext_payload), "acme/widget/releases/v1/.git/config"
    ),
    "a ref that is not in the manifest": Case(
        lambda w, s, m: item_entries(
            {"kind": "repository", "full_name": "acme/widget"},
            {
                "repository.bundle": bundle_with_extra_ref(
                    s, "refs/heads/evil", s.refs["refs/tags/v1"]
                )
            },
            git_state={"repository": {"refs": s.refs, "head": "refs/heads/main"}},
        ),
        "acme/widget/repository.bundle",
    ),
    "two repositories of an item sharing one bundle": Case(
        lambda w, s, m: item_entries(
            {"kind": "repository", "full_name": "acme/widget"},
            {"repository.bundle": s.bundle},
            git_state={
                key: {"refs": s.refs, "head": "refs/heads/main", "bundle": "repository.bundle"}
                for key in ("repository", "wiki")
            },
        ),
        "acme/widget/manifest.json",
    ),
    "a manifest that says a file is 1 GiB": Case(
        lambda w, s, m: item_entries(
            {"kind": "repository", "full_name": "acme/widget"},
            {"repository.json": b"{}"},
            sizes={"repository.json": 1 << 30},
        ),
        "acme/widget/repository.json",
    ),
    "a zip header that says a file is 1 GiB": Case(_lying_header, "acme/widget/repository.bundle"),
    "a ref naming a missing object": Case(
        _bundle_case(lambda s, w: bundle_with_extra_ref(s, "refs/heads/ghost", MISSING_OBJECT)),
        "acme/widget/repository.bundle",
    ),
    "a pack missing a blob": Case(
        _bundle_case(bundle_missing_a_blob), "acme/widget/repository.bundle"
    ),
    "a corrupt pack with consistent checksums": Case(
        _bundle_case(lambda s, w: bundle_with_corrupt_pack(s)), "acme/widget/repository.bundle"
    ),
}


def build_case(name: str, tmp_path: Path, src: Source) -> tuple[Path, Path]:
    """(the crafted zip, the marker a payload would create)."""
    work = tmp_path / "zips"
    work.mkdir()
    marker = tmp_path / "PWNED"
    built = CASES[name].build(work, src, marker)
    zip_path = built if isinstance(built, Path) else write_zip(work / "crafted.zip", built)
    return zip_path, marker


def snapshot(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("case", CASES)
def test_verify_rejects_a_crafted_archive_naming_the_path(case, tmp_path, src, capsys):
    zip_path, marker = build_case(case, tmp_path, src)
    code = main(["verify", str(zip_path)])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "ghbackup:" in line]
    assert code == ArchiveCorrupt.exit_code, err
    assert len(lines) == 1 and "ArchiveCorrupt" in lines[0], err
    assert CASES[case].names in lines[0]
    assert not marker.exists()


@pytest.mark.parametrize("case", CASES)
def test_restore_of_a_crafted_archive_touches_nothing_and_runs_nothing(case, tmp_path, src):
    zip_path, marker = build_case(case, tmp_path, src)
    parent = tmp_path / "parent"
    parent.mkdir()
    with pytest.raises(ArchiveCorrupt, match=r"\S"):
        restore_archive(zip_path, parent / "out")
    assert snapshot(parent) == []  # no target, no staging folder
    assert not marker.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parent", "zips"]


# -- verify passing means restore succeeds --------------------------------------------------


GOOD = ("a repository with a wiki", "history in legacy formats", "one owner's every kind")


def good_archives(tmp_path: Path, src: Source) -> dict[str, list[Entry]]:
    legacy = make_source(tmp_path / "legacy", legacy=True)
    gist_state = {"refs": src.refs, "head": "refs/heads/main", "bundle": "repository.bundle"}
    archives = {
        GOOD[0]: repo_item(
            "acme/widget",
            src,
            wiki=True,
            files={  # names capture writes that are close to git's own
                "hooks/hooks.json": b"[]",
                "branches/branches.json": b"[]",
                "releases/v1/HEAD": b"an asset",
                "releases/objects/asset.bin": b"an asset",
            },
        ),
        GOOD[1]: repo_item("acme/old", legacy),
        GOOD[2]: [
            *repo_item("acme/widget", src),
            *repo_item("acme/.github", src),
            *repo_item("acme/widget.js", src),
            *item_entries(
                {"kind": "gist", "id": "abc1", "owner": "acme"},
                {"gist.json": b"{}", "repository.bundle": src.bundle},
                git_state={"gist": gist_state},
            ),
            *item_entries({"kind": "account", "login": "acme"}, {"user.json": b"{}"}),
        ],
    }
    assert tuple(archives) == GOOD
    return archives


def test_every_archive_verify_passes_also_restores(tmp_path, src):
    """Over the whole crafted suite and some good archives: verify passing implies restore
    succeeding, and the good archives do pass (so the implication is not vacuous)."""
    archives: dict[str, Path] = {}
    for name in CASES:
        case_dir = tmp_path / f"case-{len(archives)}"
        case_dir.mkdir()
        archives[name] = build_case(name, case_dir, src)[0]
    for name, entries in good_archives(tmp_path, src).items():
        archives[name] = write_zip(tmp_path / f"good-{len(archives)}.zip", entries)
    verified = []
    for name, path in archives.items():
        try:
            verify_archive(path)
        except BackupError:
            continue
        verified.append(name)
        restore_archive(path, tmp_path / f"out-{len(verified)}")  # must not raise
    assert verified == list(GOOD)


# -- the git that restore runs --------------------------------------------------------------


def test_restored_mirror_holds_only_what_git_init_and_fetch_create(tmp_path, src):
    path = write_zip(tmp_path / "good.zip", repo_item("acme/widget", src, wiki=True))
    restore_archive(path, tmp_path / "out")
    for mirror in ("widget.git", "widget.wiki.git"):
        repo = tmp_path / "out" / "acme" / mirror
        assert {p.name for p in repo.iterdir()} <= {
            "HEAD",
            "config",
            "objects",
            "refs",
            "packed-refs",
        }
        assert not (repo / "objects" / "info" / "alternates").exists()
        keys = git(repo, "config", "--file", str(repo / "config"), "--list").split()
        assert sorted(k.split("=")[0] for k in keys) == [
            "core.bare", "core.filemode", "core.repositoryformatversion"
        ]  # fmt: skip


def test_confined_git_runs_no_command_from_repository_environment_or_hooks(
    tmp_path, src, monkeypatch
):
    """Even with a hostile config in the repository and in our own environment, and a
    hook in the repository, the fetch restore runs executes nothing but git."""
    from ghbackup.confined_git import git as _git
    from ghbackup.confined_git import init_repository as _init_repository

    marker = tmp_path / "PWNED"
    bundle = tmp_path / "src.bundle"
    bundle.write_bytes(src.bundle)

    def hostile_repository(path: Path) -> Path:
        _init_repository(path)
        (path / "config").write_bytes(ext_payload(marker))
        (path / "hooks").mkdir()
        hook = path / "hooks" / "reference-transaction"
        hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
        hook.chmod(0o755)
        return path

    fetch = ["fetch", "--quiet", "--no-write-fetch-head", str(bundle), "refs/*:refs/*"]
    # Unconfined, the payload runs: the test can fail.
    with pytest.raises(BackupError):
        run_git(fetch, cwd=hostile_repository(tmp_path / "plain.git"))
    assert marker.exists()
    marker.unlink()

    monkeypatch.setenv(
        "GIT_CONFIG_PARAMETERS",
        f"'protocol.ext.allow'='always' 'url.ext::sh -c touch% {marker}% #.insteadof'='/'",
    )
    monkeypatch.setenv("GIT_ALLOW_PROTOCOL", "ext:file")
    with pytest.raises(BackupError, match="transport 'ext' not allowed"):
        _git(hostile_repository(tmp_path / "confined.git"), fetch)
    assert not marker.exists()

    # Without the repository's config, the same fetch works and runs no hook.
    clean = tmp_path / "clean.git"
    _init_repository(clean)
    (clean / "hooks").mkdir()
    (clean / "hooks" / "reference-transaction").write_text(f"#!/bin/sh\ntouch {marker}\n")
    (clean / "hooks" / "reference-transaction").chmod(0o755)
    _git(clean, fetch)
    assert "refs/heads/main" in _git(clean, ["for-each-ref"])
    assert not marker.exists()


@pytest.mark.parametrize(
    "plant",
    [
        "objects/info/alternates",
        "objects/info/http-alternates",
        "hooks/post-update",
        "info/grafts",
        "shallow",
        "commondir",
        "objects/pack/evil.pack",
        "config",
    ],
)
def test_a_mirror_with_anything_git_did_not_write_is_refused(tmp_path, plant):
    from ghbackup.confined_git import init_repository as _init_repository
    from ghbackup.restore import _Checker

    work = tmp_path / "work"
    work.mkdir()
    zip_path = write_zip(tmp_path / "empty.zip", [Entry("x.txt", b"x")])
    with zipfile.ZipFile(zip_path) as zf:
        checker = _Checker(zf, work, None, 0, "Restoring")
        repo = work / "mirror.git"
        _init_repository(repo)
        checker._check_pristine("acme/widget/repository.bundle", repo)  # as git made it
        target = repo / plant
        target.parent.mkdir(parents=True, exist_ok=True)
        if plant == "config":
            with target.open("a") as fh:
                fh.write("[core]\n\tfsmonitor = touch /tmp/x\n")
        else:
            target.write_text("/etc\n")
        with pytest.raises(ArchiveCorrupt, match="^acme/widget/repository.bundle: the restored"):
            checker._check_pristine("acme/widget/repository.bundle", repo)


def test_a_size_lie_fails_before_the_entry_is_read(tmp_path, src):
    path = _lying_header(tmp_path, src, tmp_path / "PWNED")
    streamed: list[int] = []
    with pytest.raises(ArchiveCorrupt, match="the zip says 1073741824 bytes but the manifest"):
        verify_archive(path, progress=lambda what, advance, total: streamed.append(advance))
    assert sum(streamed) == len(b'{"name": "x"}\n')  # repository.json only, not the bundle


def test_a_manifest_larger_than_any_item_needs_is_refused_before_it_is_read(
    tmp_path, src, monkeypatch
):
    """A deflated manifest that would expand past the cap (a zip bomb) is never read whole:
    the cap is lowered here so that a small archive shows it."""
    from ghbackup import archive

    path = write_zip(tmp_path / "big-manifest.zip", repo_item("acme/widget", src))
    monkeypatch.setattr(archive, "MAX_MANIFEST_BYTES", 64)
    monkeypatch.setattr(
        zipfile.ZipFile, "read", lambda *args, **kwargs: pytest.fail("a manifest was read")
    )
    with pytest.raises(ArchiveCorrupt, match="acme/widget/manifest.json: .* bytes, more than"):
        verify_archive(path)
