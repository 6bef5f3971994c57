"""git, wikis, gists and LFS through the stand-in, authenticated the way GitHub answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.standin import AccountSpec, GitHubStandIn

pytestmark = pytest.mark.integration

ASKPASS = Path(__file__).resolve().parent / "standin" / "askpass.py"


@pytest.fixture
def git_env(tmp_path, standin):
    script = tmp_path / "askpass.sh"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{ASKPASS}" "$@"\n')
    script.chmod(0o755)
    return {
        **os.environ,
        "GIT_ASKPASS": str(script),
        "STANDIN_TOKEN": standin.token,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_LFS_SKIP_SMUDGE": "1",
    }


def git(*args, cwd=None, env=None, check=True):
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def refs(path: Path) -> str:
    return git("for-each-ref", cwd=path).stdout


def test_mirror_clone_of_private_repository_with_askpass_matches_server_refs(
    standin, git_env, tmp_path
):
    name = "acme/repo-001"  # private, LFS
    assert standin.repository(name).private
    dest = tmp_path / "m.git"
    git(
        "-c",
        "protocol.version=2",
        "clone",
        "--mirror",
        f"{standin.web_url}/{name}.git",
        str(dest),
        env=git_env,
    )
    assert refs(dest) == refs(standin.bare_repo_path(name))
    assert standin.token not in (dest / "config").read_text()
    git("lfs", "fetch", "--all", cwd=dest, env=git_env)
    fetched = {p.name for p in (dest / "lfs" / "objects").rglob("*") if p.is_file()}
    assert fetched == standin.lfs_object_ids(name) and fetched


def test_wiki_and_gist_clone(standin, git_env, tmp_path):
    wiki = tmp_path / "w.git"
    git("clone", "--mirror", f"{standin.web_url}/acme/repo-000.wiki.git", str(wiki), env=git_env)
    assert refs(wiki) == refs(standin.bare_repo_path("acme/repo-000", wiki=True))
    gist = standin.account.gists[0]
    pull_url = requests.get(
        f"{standin.api_url}/gists/{gist.id}",
        timeout=10,
        headers={"Authorization": f"token {standin.token}"},
    ).json()["git_pull_url"]
    g = tmp_path / "g.git"
    git("clone", "--mirror", pull_url, str(g), env=git_env)
    assert refs(g) == refs(standin.gist_repo_path(gist.id))


def test_incremental_fetch_after_server_side_change(standin, git_env, tmp_path):
    name = "acme/repo-000"
    dest = tmp_path / "m.git"
    git("clone", "--mirror", f"{standin.web_url}/{name}.git", str(dest), env=git_env)
    server = standin.bare_repo_path(name)
    git("update-ref", "refs/heads/extra", "refs/heads/feature-0", cwd=server)
    git("remote", "update", "--prune", cwd=dest, env=git_env)
    assert refs(dest) == refs(server)


def test_private_repository_challenges_with_basic_realm_github(standin):
    url = f"{standin.web_url}/acme/repo-001.git/info/refs?service=git-upload-pack"
    resp = requests.get(url, timeout=10)
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == 'Basic realm="GitHub"'
    ok = requests.get(url, auth=("x-access-token", standin.token), timeout=10)
    assert ok.status_code == 200
    assert requests.get(url, auth=("x-access-token", "wrong"), timeout=10).status_code == 401


def test_cut_clone_fails_once_then_clones(standin, git_env, tmp_path):
    standin.faults.cut_clone("acme/repo-000")
    url = f"{standin.web_url}/acme/repo-000.git"
    failed = git("clone", "--mirror", url, str(tmp_path / "a.git"), env=git_env, check=False)
    assert failed.returncode != 0
    git("clone", "--mirror", url, str(tmp_path / "b.git"), env=git_env)


def test_tls_and_api_v3_prefix_for_enterprise_clients(tmp_path):
    with GitHubStandIn(root=tmp_path / "s", account=AccountSpec(repositories=2), tls=True) as gh:
        assert gh.api_url.startswith("https://") and gh.api_url.endswith("/api/v3")
        resp = requests.get(
            f"{gh.api_url}/user",
            verify=str(gh.ca_bundle_path),
            timeout=10,
            headers={"Authorization": f"token {gh.token}"},
        )
        assert resp.json()["login"] == gh.login
        env = {**os.environ, "GIT_SSL_CAINFO": str(gh.ca_bundle_path), "GIT_TERMINAL_PROMPT": "0"}
        out = git("ls-remote", f"{gh.web_url}/acme/repo-000.git", env=env).stdout
        assert "refs/heads/main" in out


def test_serve_command_prints_one_ready_line(tmp_path):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.standin",
            "serve",
            "--repositories",
            "3",
            "--root",
            str(tmp_path / "s"),
        ],
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        ready = json.loads(proc.stdout.readline())
        assert set(ready) == {"api_url", "login", "owner", "ca_bundle"}  # no token by default
        assert requests.get(f"{ready['api_url']}/repos/acme/repo-000", timeout=10).ok
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0


def test_a_generated_account_has_distinct_repositories_with_distinct_histories(tmp_path):
    # Generation speed is a benchmark concern (bench/ generates 200 repositories each run);
    # what a test can hold is that repositories copied from one template are distinct.
    gh = GitHubStandIn(root=tmp_path / "k", account=AccountSpec(repositories=200, seed=3))
    names = gh.repository_names()
    assert len(names) == 200 and len(set(names)) == 200
    with_history = [n for n in names[:40] if not gh.repository(n).empty]
    heads = {refs(gh.bare_repo_path(n)) for n in with_history}
    assert with_history and len(heads) == len(with_history)


def test_lfs_keeps_working_when_another_stand_in_starts_and_goes(tmp_path):
    """giftless keeps its storage adapters in a module global; a second stand-in in the same
    process must not redirect the first one's LFS requests to its own (deleted) storage."""
    import shutil

    with GitHubStandIn(
        root=tmp_path / "first", account=AccountSpec(repositories=5, seed=1)
    ) as first:
        with GitHubStandIn(root=tmp_path / "second", account=AccountSpec(repositories=5, seed=2)):
            pass
        shutil.rmtree(tmp_path / "second")
        name = next(n for n in first.repository_names() if first.repository(n).lfs)
        env = {**os.environ, "GITHUB_TOKEN": first.token, "GITHUB_API_URL": first.api_url, "RUN_ID": "r",
               "BACKUP_OUTPUT_DIR": str(tmp_path / "out"), "LOG_LEVEL": "ERROR",
               "BACKUP_ITEM": json.dumps({"kind": "repository", "full_name": name})}  # fmt: skip
        proc = subprocess.run(
            [sys.executable, "-m", "container.entrypoint"],
            env=env,
            cwd=Path(__file__).resolve().parents[1],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
