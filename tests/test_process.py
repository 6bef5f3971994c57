"""Running git: a full disk is a StorageError, and git's environment comes from an allowlist."""

from __future__ import annotations

import os
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


SECRETS = {
    "GITHUB_TOKEN": "ghp_parent_token_0123456789",
    "GITHUB_APP_PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY-----xyz",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-0123456789",
    "AWS_SESSION_TOKEN": "aws-session-0123456789",
    "GHBACKUP_UNRELATED": "kept-out",
}


def test_git_gets_an_allowlisted_environment_without_the_parents_secrets(monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HOME", "/home/operator")
    monkeypatch.setenv("https_proxy", "http://proxy.internal:3128")
    monkeypatch.setenv("SSL_CERT_FILE", "/etc/ssl/certs/corp.pem")
    seen: list[dict] = []
    monkeypatch.setattr(process.subprocess, "run", _git_answering(0, "", seen))
    process.run_git(["ls-remote", "https://h/o/r"], env={"GIT_TRACE": "0"})
    env = seen[0]["env"]
    assert not set(SECRETS) & set(env)
    assert not [name for name in env if name.startswith("AWS_")]
    assert env["GIT_TRACE"] == "0"  # the explicit extra
    assert env["PATH"] and env["https_proxy"] == "http://proxy.internal:3128"
    assert env["SSL_CERT_FILE"] == "/etc/ssl/certs/corp.pem"
    assert env["GIT_TERMINAL_PROMPT"] == "0" and env["GIT_CONFIG_NOSYSTEM"] == "1"
    assert env["HOME"] != "/home/operator" and Path(env["HOME"]).is_dir()
    assert not list(Path(env["HOME"]).iterdir())


def test_a_git_process_with_a_credential_gets_only_its_descriptor_and_no_token(monkeypatch):
    from ghbackup.credentials import TokenCredentials
    from ghbackup.git_credential import GitCredential

    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    token = "ghp_run_git_token_0123456789"
    seen: list[dict] = []
    answers: list[str] = []

    def run(cmd, **kwargs):
        seen.append(kwargs)
        (fd,) = kwargs["pass_fds"]
        answers.append(Path(f"/proc/self/fd/{fd}").read_text())  # open while git runs
        return subprocess.CompletedProcess(cmd, 0, stdout="", stderr="")

    monkeypatch.setattr(process.subprocess, "run", run)
    credential = GitCredential(TokenCredentials(token), "https://git.example.test/o/r")
    process.run_git(["ls-remote", "https://git.example.test/o/r"], credential=credential)
    env = seen[0]["env"]
    assert not [name for name, value in env.items() if token in value or token in name]
    assert env["GIT_CONFIG_KEY_1"] == "credential.https://git.example.test.helper"
    assert answers == [f"{token}\n"]
    (fd,) = seen[0]["pass_fds"]
    with pytest.raises(OSError):
        os.fstat(fd)  # closed once git ended


@pytest.mark.parametrize(
    ("stderr", "level"),
    [
        # A wiki enabled without pages has no git repository: an answer, not a warning.
        ("remote: Repository not found.\nfatal: repository 'https://h/o/r.wiki.git/' not found",
         "INFO"),
        ("fatal: unable to access 'https://h/o/r.git/': Connection reset by peer", "WARNING"),
    ],
)  # fmt: skip
def test_a_remote_that_is_not_there_is_not_logged_as_a_warning(monkeypatch, caplog, stderr, level):
    monkeypatch.setattr(process.subprocess, "run", _git_answering(128, stderr))
    with caplog.at_level("DEBUG", logger="ghbackup.process"), pytest.raises(GitCommandFailed):
        process.run_git(["clone", "--mirror", "https://h/o/r.wiki.git", "/tmp/x"])
    assert [record.levelname for record in caplog.records] == [level]
