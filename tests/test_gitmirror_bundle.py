"""Bundles written from a fresh mirror's pack, and the fallback to ``git bundle create``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ghbackup.gitmirror import bundle_from_pack, create_bundle, parse_refs, read_state


def _git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A repository with two branches, a lightweight and an annotated tag, HEAD on the
    second branch."""
    repo = tmp_path / "source"
    _git("init", "-q", "-b", "main", str(repo))
    (repo / "a.txt").write_text("one\n")
    _git("add", "a.txt", cwd=repo)
    _git("commit", "-q", "-m", "first", cwd=repo)
    _git("tag", "v1", cwd=repo)
    _git("checkout", "-q", "-b", "feature", cwd=repo)
    (repo / "a.txt").write_text("two\n")
    _git("commit", "-q", "-am", "second", cwd=repo)
    _git("tag", "-a", "-m", "annotated", "v2", cwd=repo)
    return repo


def _mirror(source: Path, dest: Path) -> Path:
    # file:// goes through the transport as a remote clone does: one pack, no loose objects.
    _git("clone", "-q", "--mirror", f"file://{source}", str(dest))
    return dest


def _refs(repo: Path) -> dict[str, str]:
    return parse_refs(_git("for-each-ref", "--format=%(objectname) %(refname)", cwd=repo))


def test_a_bundle_from_the_pack_restores_every_ref_of_the_source(
    source: Path, tmp_path: Path
) -> None:
    mirror = _mirror(source, tmp_path / "m.git")
    bundle = tmp_path / "pack.bundle"

    assert bundle_from_pack(mirror, bundle, read_state(mirror)) is True

    _git("bundle", "verify", "-q", str(bundle), cwd=mirror)
    restored = tmp_path / "restored.git"
    _git("clone", "-q", "--mirror", str(bundle), str(restored))
    assert _refs(restored) == _refs(source)
    _git("fsck", "--full", "--no-dangling", cwd=restored)


def test_a_bundle_from_the_pack_lists_the_heads_git_bundle_create_lists(
    source: Path, tmp_path: Path
) -> None:
    mirror = _mirror(source, tmp_path / "m.git")
    ours, gits = tmp_path / "ours.bundle", tmp_path / "git.bundle"

    assert bundle_from_pack(mirror, ours, read_state(mirror)) is True
    _git("bundle", "create", "-q", str(gits), "--all", cwd=mirror)

    assert _git("bundle", "list-heads", str(ours), cwd=mirror) == _git(
        "bundle", "list-heads", str(gits), cwd=mirror
    )
    assert "HEAD" in _git("bundle", "list-heads", str(ours), cwd=mirror)


def test_a_mirror_with_loose_objects_falls_back_to_git_bundle_create(
    source: Path, tmp_path: Path
) -> None:
    mirror = _mirror(source, tmp_path / "m.git")
    blob = _git("hash-object", "-w", "--stdin", cwd=mirror).strip()  # one loose object
    assert (mirror / "objects" / blob[:2] / blob[2:]).is_file()
    bundle = tmp_path / "b.bundle"

    assert bundle_from_pack(mirror, bundle, read_state(mirror)) is False
    assert not bundle.exists()
    create_bundle(mirror, bundle, state=read_state(mirror))

    _git("bundle", "verify", "-q", str(bundle), cwd=mirror)
    assert parse_refs(_git("bundle", "list-heads", str(bundle), cwd=mirror)).keys() >= set(
        _refs(source)
    )


def test_a_mirror_with_two_packs_falls_back_to_git_bundle_create(
    source: Path, tmp_path: Path
) -> None:
    mirror = _mirror(source, tmp_path / "m.git")
    (source / "b.txt").write_text("three\n")
    _git("add", "b.txt", cwd=source)
    _git("commit", "-q", "-m", "third", cwd=source)
    _git("-c", "fetch.unpackLimit=1", "fetch", "-q", "origin", cwd=mirror)
    assert len(list((mirror / "objects" / "pack").glob("*.pack"))) == 2
    bundle = tmp_path / "b.bundle"

    assert bundle_from_pack(mirror, bundle, read_state(mirror)) is False
    create_bundle(mirror, bundle, state=read_state(mirror))

    restored = tmp_path / "restored.git"
    _git("clone", "-q", "--mirror", str(bundle), str(restored))
    assert _refs(restored) == _refs(source)


def test_a_detached_head_falls_back_to_git_bundle_create(source: Path, tmp_path: Path) -> None:
    mirror = _mirror(source, tmp_path / "m.git")
    _git("update-ref", "--no-deref", "HEAD", _refs(mirror)["refs/heads/main"], cwd=mirror)
    state = read_state(mirror)
    assert state.head is None

    assert bundle_from_pack(mirror, tmp_path / "b.bundle", state) is False
