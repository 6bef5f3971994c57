"""The engine against the stand-in: round trips, faults, bad input, and the token's secrecy.

Each capture runs the container's entrypoint as a process, exactly as ECS would, with the
environment ECS passes (docs/design.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ghbackup.credentials import TokenCredentials
from ghbackup.records import BackupItem, ItemResult, item_result_key, item_zip_key
from ghbackup.restore import restore_archive
from tests.roundtrip import (
    add_legacy_history,
    assert_repository_round_trips,
    refs_of,
    restored_mirror,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]


def run_entrypoint(
    gh,
    item: dict,
    out: Path,
    *,
    timeout: float = 300,
    extra_env: dict | None = None,
    token: str | None = None,
):
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(out),
        "BACKUP_ITEM": json.dumps(item),
        "RUN_ID": "run-test",
        "BACKUP_OUTPUT_DIR": str(out),
        "GITHUB_API_URL": gh.api_url,
        "GITHUB_TOKEN": gh.token if token is None else token,
        "GHBACKUP_RETRY_ATTEMPTS": "3",
        "GHBACKUP_MAX_RATE_LIMIT_WAIT": "30",
        **(extra_env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "container.entrypoint"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def result_of(out: Path, item: dict) -> ItemResult:
    key = item_result_key("", BackupItem.from_json(item))
    return ItemResult.from_json(json.loads((out / key).read_text()))


def zip_of(out: Path, item: dict) -> Path:
    return out / item_zip_key("", BackupItem.from_json(item))


def repo_item(name: str) -> dict:
    return {"kind": "repository", "full_name": name}


def test_fifty_mixed_repositories_round_trip(standin_50, tmp_path):
    gh = standin_50
    out = tmp_path / "out"
    names = gh.repository_names()
    assert len(names) == 50

    def capture(name: str):
        return name, run_entrypoint(gh, repo_item(name), out)

    with ThreadPoolExecutor(max_workers=8) as pool:
        runs = list(pool.map(capture, names))
    failures = {
        name: proc.stderr.strip().splitlines()[-1:] for name, proc in runs if proc.returncode
    }
    assert not failures

    for name in names:
        result = result_of(out, repo_item(name))
        assert result.status == "succeeded" and result.zip_key
        restored = tmp_path / "restored" / name.replace("/", "__")
        restore_archive(zip_of(out, repo_item(name)), restored, repo=name)
        assert_repository_round_trips(gh, restored, name)


def test_gist_and_account_items_are_captured(standin, tmp_path):
    gh = standin
    gists = [g for g in _served(gh, f"users/{gh.login}/gists")]
    assert gists, "the stand-in account should have gists"
    gist = {"kind": "gist", "id": gists[0]["id"], "owner": gh.login}
    account = {"kind": "account", "login": gh.login}
    for item in (gist, account):
        proc = run_entrypoint(gh, item, tmp_path)
        assert proc.returncode == 0, proc.stderr
        with zipfile.ZipFile(zip_of(tmp_path, item)) as zf:
            names = zf.namelist()
        root = BackupItem.from_json(item).archive_root
        assert f"{root}manifest.json" in names
    with zipfile.ZipFile(zip_of(tmp_path, gist)) as zf:
        assert f"{gh.login}/@gists/{gists[0]['id']}/repository.bundle" in zf.namelist()
    with zipfile.ZipFile(zip_of(tmp_path, account)) as zf:
        starred = json.loads(zf.read(f"{gh.login}/@account/starred.json"))
    assert starred == _served(gh, f"users/{gh.login}/starred")


def _served(gh, path):
    from tests.roundtrip import served

    return served(gh, path)


# -- the token --------------------------------------------------------------------------


def test_token_never_appears_in_outputs_logs_or_the_process_list(standin, tmp_path):
    gh = standin
    name = gh.repository_names()[0]
    seen_commands: list[str] = []
    git_environments: list[bytes] = []
    stop = threading.Event()
    aws_secret = "aws-secret-in-the-parent-0123456789"

    def sample_processes():
        while not stop.is_set():
            out = subprocess.run(
                ["ps", "-eo", "pid=,args="], capture_output=True, text=True, timeout=10
            ).stdout
            for line in out.splitlines():
                pid, _, args = line.strip().partition(" ")
                seen_commands.append(args)
                if args.startswith(("git ", "git-lfs ", "/usr/lib/git-core/")):
                    try:  # the process may have ended since ps saw it
                        environ = Path(f"/proc/{pid}/environ").read_bytes()
                    except OSError:
                        continue
                    # Ours, not another test's on this machine: its helper is for our host.
                    if f"credential.{gh.web_url}.helper".encode() in environ:
                        git_environments.append(environ)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample_processes, daemon=True)
    sampler.start()
    try:
        proc = run_entrypoint(
            gh,
            repo_item(name),
            tmp_path / "out",
            extra_env={"LOG_LEVEL": "DEBUG", "AWS_SECRET_ACCESS_KEY": aws_secret},
        )
    finally:
        stop.set()
        sampler.join()
    assert proc.returncode == 0, proc.stderr
    assert any("git" in c and "clone" in c for c in seen_commands), (
        "the sampler should have seen git run"
    )

    token = gh.token.encode()
    assert token not in proc.stdout.encode() and token not in proc.stderr.encode()
    assert all(gh.token not in c for c in seen_commands)
    # git's environment is an allowlist: neither the parent's token nor its AWS keys, and
    # the credential helper reads the token from a descriptor, not from any variable.
    assert git_environments, "the sampler should have read a git process's environment"
    for environ in git_environments:
        variables = dict(v.partition(b"=")[::2] for v in environ.split(b"\0") if v)
        assert b"GITHUB_TOKEN" not in variables and b"AWS_SECRET_ACCESS_KEY" not in variables
        assert aws_secret.encode() not in environ
        assert token not in environ
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            assert token not in path.read_bytes(), f"token in {path}"
    # Inside the zip, compressed entries would hide it from a byte search: read each entry.
    with zipfile.ZipFile(zip_of(tmp_path / "out", repo_item(name))) as zf:
        for entry in zf.namelist():
            assert token not in zf.read(entry), f"token in {entry}"
    # No credentials file and no config left in the scratch home.
    assert not list(tmp_path.rglob(".git-credentials"))


# -- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "item,expected",
    [
        ("{not json", "InvalidItem"),
        ({"kind": "wiki", "full_name": "a/b"}, "InvalidItem"),
        ({"kind": "repository", "full_name": "acme/does-not-exist"}, "NotFound"),
    ],
)
def test_bad_items_fail_with_one_line_and_store_nothing(standin, tmp_path, item, expected):
    gh = standin
    env_item = item if isinstance(item, str) else None
    if env_item is not None:
        proc = run_entrypoint(gh, {}, tmp_path, extra_env={"BACKUP_ITEM": env_item})
    else:
        proc = run_entrypoint(gh, item, tmp_path)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0]
    assert not list(tmp_path.rglob("*.zip"))


def test_revoked_token_fails_the_item_and_names_the_cause(standin, tmp_path):
    gh = standin
    gh.faults.revoke_token()
    try:
        proc = run_entrypoint(gh, repo_item(gh.repository_names()[0]), tmp_path)
    finally:
        gh.faults.clear()
    assert proc.returncode != 0
    assert "AuthenticationFailed" in proc.stderr
    assert (
        result_of(tmp_path, repo_item(gh.repository_names()[0])).error_type
        == "AuthenticationFailed"
    )
    assert not list(tmp_path.rglob("*.zip"))


def test_unreachable_api_fails_quickly_with_a_clear_error(standin, tmp_path):
    gh = standin

    class Gone:
        api_url = "http://127.0.0.1:9"
        token = gh.token

    proc = run_entrypoint(
        Gone, repo_item("acme/x"), tmp_path, extra_env={"GHBACKUP_RETRY_ATTEMPTS": "2"}
    )
    assert proc.returncode != 0 and "GitHubUnavailable" in proc.stderr
    assert not list(tmp_path.rglob("*.zip"))


# -- faults -------------------------------------------------------------------------------


def _capture_under_fault(gh, tmp_path, name):
    out = tmp_path / "out"
    proc = run_entrypoint(gh, repo_item(name), out)
    result = result_of(out, repo_item(name))
    if proc.returncode == 0:
        assert result.status == "succeeded"
        restored = tmp_path / "restored"
        restore_archive(zip_of(out, repo_item(name)), restored, repo=name)
        assert_repository_round_trips(gh, restored, name)
    else:
        assert result.status == "failed" and result.error_type and result.error
        assert not zip_of(out, repo_item(name)).exists()
    return proc, result


# A fault switch, the kind the stand-in counts when it serves it, and how often it must.
FAULTS = {
    "server_errors": (lambda f: f.server_errors(2), "server_error", 2),
    "too_many_requests": (lambda f: f.too_many_requests(2, retry_after=1), "too_many", 2),
    "secondary_rate_limit": (lambda f: f.secondary_rate_limit(2, retry_after=1), "secondary", 2),
    "slow_responses": (lambda f: f.slow(200), "slow", 1),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_transient_faults_are_retried_and_the_item_round_trips(standin, tmp_path, fault):
    gh = standin
    switch, kind, times = FAULTS[fault]
    switch(gh.faults)
    try:
        proc, result = _capture_under_fault(gh, tmp_path, gh.repository_names()[1])
    finally:
        gh.faults.clear()
    assert gh.faults.fired[kind] >= times
    assert proc.returncode == 0, proc.stderr


def test_primary_limit_exhausted_waits_for_the_reset(standin, tmp_path):
    gh = standin
    gh.faults.exhaust_rate_limit(reset_in=2)
    try:
        proc, _ = _capture_under_fault(gh, tmp_path, gh.repository_names()[1])
    finally:
        gh.faults.clear()
    assert gh.faults.fired["primary"] >= 1
    assert proc.returncode == 0, proc.stderr
    assert "rate limit" in proc.stdout


def test_clone_cut_midway_is_retried_and_the_item_round_trips(standin, tmp_path):
    gh = standin
    name = next(n for n in gh.repository_names() if not gh.repository(n).empty)
    gh.faults.cut_clone(name)
    try:
        proc, result = _capture_under_fault(gh, tmp_path, name)
    finally:
        gh.faults.clear()
    assert gh.faults.fired["cut_clone"] == 1
    assert proc.returncode == 0, proc.stderr
    assert result.status == "succeeded"


def test_download_cut_midway_is_retried(standin, tmp_path):
    gh = standin
    with_assets = [
        n for n in gh.repository_names() if any(rel.assets for rel in gh.repository(n).releases)
    ]
    assert with_assets, "the stand-in account should have release assets"
    gh.faults.cut_download(with_assets[0])
    try:
        proc, _ = _capture_under_fault(gh, tmp_path, with_assets[0])
    finally:
        gh.faults.clear()
    assert gh.faults.fired["cut_download"] == 1
    assert proc.returncode == 0, proc.stderr


def test_a_repository_failing_permanently_exits_non_zero_with_a_record(standin, tmp_path):
    gh = standin
    name = gh.repository_names()[2]
    gh.fail_permanently(name)
    try:
        proc, result = _capture_under_fault(gh, tmp_path, name)
    finally:
        gh.faults.clear()
    assert gh.faults.fired["server_error"] >= 2  # it was tried more than once
    assert proc.returncode != 0
    assert result.error_type == "GitHubUnavailable"


# -- history as old tools wrote it ------------------------------------------------------------


def test_history_in_legacy_formats_is_captured_and_restored_as_it_was(standin, tmp_path):
    """Commits and tags written by old git versions (which today's fsck flags) are backed up
    and restored byte for byte: a backup must not refuse the history GitHub serves."""
    gh = standin
    name = next(n for n in gh.repository_names() if refs_of(gh.bare_repo_path(n)))
    legacy = add_legacy_history(gh.bare_repo_path(name))
    proc = run_entrypoint(gh, repo_item(name), tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    restored = tmp_path / "restored"
    restore_archive(zip_of(tmp_path / "out", repo_item(name)), restored, repo=name)
    mirror = restored_mirror(restored, name)
    assert refs_of(mirror) == refs_of(gh.bare_repo_path(name))
    for ref, sha in legacy.items():
        assert refs_of(mirror)[ref] == sha
        show = ["git", "cat-file", "-p", sha]
        assert (
            subprocess.run(show, cwd=mirror, capture_output=True, check=True).stdout
            == (
                subprocess.run(show, cwd=gh.bare_repo_path(name), capture_output=True, check=True)
            ).stdout
        )


def test_an_lfs_object_missing_on_github_is_skipped_and_the_rest_kept(standin, tmp_path):
    """Old repositories carry LFS pointers whose objects never reached GitHub: git-lfs
    cannot fetch them, no retry will, and the repository must still be backed up."""
    gh = standin
    name = next(n for n in gh.repository_names() if gh.repository(n).lfs)
    oids = sorted(gh.lfs_object_ids(name))
    assert len(oids) >= 2
    (gh.lfs_root / name / oids[0]).unlink()
    proc = run_entrypoint(gh, repo_item(name), tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    result = result_of(tmp_path / "out", repo_item(name))
    assert result.status == "succeeded"
    assert result.skipped["lfs"] == f"1 LFS object(s) not on GitHub: {oids[0][:12]}"
    restored = tmp_path / "restored"
    restore_archive(zip_of(tmp_path / "out", repo_item(name)), restored, repo=name)
    mirror = restored_mirror(restored, name)
    assert refs_of(mirror) == refs_of(gh.bare_repo_path(name))
    kept = {p.name for p in (mirror / "lfs" / "objects").rglob("*") if p.is_file()}
    assert kept == set(oids[1:])
    # --push carries what there is to a new remote instead of failing on the missing object
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True, timeout=60)
    restore_archive(zip_of(tmp_path / "out", repo_item(name)), tmp_path / "again", repo=name,
                    push_url=str(remote))  # fmt: skip
    assert refs_of(remote) == {
        r: sha for r, sha in refs_of(gh.bare_repo_path(name)).items()
        if not r.startswith("refs/pull/")
    }  # fmt: skip
    pushed = {p.name for p in (remote / "lfs" / "objects").rglob("*") if p.is_file()}
    assert pushed == set(oids[1:])


def test_restore_pushes_over_https_with_the_token_from_the_environment(
    standin, tmp_path, monkeypatch
):
    """``ghbackup restore --push`` to an http(s) remote: the token reaches git through the
    credential helper (never the URL or a command line) and the refs come back."""
    gh = standin
    name = next(
        n for n in gh.repository_names()
        if refs_of(gh.bare_repo_path(n)) and not gh.repository(n).lfs
    )  # fmt: skip
    bare = gh.bare_repo_path(name)
    proc = run_entrypoint(gh, repo_item(name), tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    before = refs_of(bare)
    lost = sorted(r for r in before if r.startswith(("refs/heads/", "refs/tags/")))[:2]
    for ref in lost:  # what the restore must bring back
        subprocess.run(["git", "update-ref", "-d", ref], cwd=bare, check=True, timeout=60)
    push_url = f"{gh.web_url}/{name}.git"
    report = restore_archive(
        zip_of(tmp_path / "out", repo_item(name)), tmp_path / "restored", repo=name,
        push_url=push_url, push_credentials=TokenCredentials(gh.token),
    )  # fmt: skip
    assert report.pushed_to == push_url
    assert refs_of(bare) == before
