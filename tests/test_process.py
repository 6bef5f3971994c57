"""Running git: a full disk is a StorageError, and git's environment comes from an allowlist."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ghbackup import process
from ghbackup.errors import GitCommandFailed, StorageError


def _git_answering(returncode: int, stderr: str, seen: list[dict] | None = None):
    def run(cmd, **kwargs):
        if seen is not None:
            seen.append(kwargs)
        return subprocess.CompletedProcess(cmd, returncode, stdout="", stderr=stderr)

    return run


@pytest.mark.parametrize(
    "stderr",
    [
        "error: unable to write file objects/pack/tmp_pack_x: No space left on device\n"
        "fatal: fetch-pack: invalid index-pack output",
        "Error downloading object: a.bin: write /scratch/lfs/tmp: Disk quota exceeded",
    ],
)
def test_git_running_out_of_disk_is_a_storage_error(monkeypatch, stderr):
    monkeypatch.setattr(process.subprocess, "run", _git_answering(128, stderr))
    with pytest.raises(StorageError, match="out of disk space while running git clone"):
        process.run_git(["clone", "--mirror", "--", "https://h/o/r", "/scratch/r"])


def test_other_git_failures_stay_git_failures(monkeypatch):
    monkeypatch.setattr(process.subprocess, "run", _git_answering(128, "fatal: early EOF"))
    with pytest.raises(GitCommandFailed, match="early EOF"):
        process.run_git(["fetch"], cwd=Path("."))
