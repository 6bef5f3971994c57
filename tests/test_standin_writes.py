"""The stand-in accepts the writes a restore to GitHub sends, as GitHub answers them."""

from __future__ import annotations

import subprocess

import pytest
import requests

from ghbackup.credentials import TokenCredentials
from ghbackup.git_credential import GitCredential
from ghbackup.process import run_git
from tests.test_standin_schema import validator_for  # noqa: F401 - a fixture

pytestmark = pytest.mark.integration


@pytest.fixture
def gh(standin):
    from tests.test_standin_schema import _fetch_description

    _fetch_description()  # the request validator needs GitHub's OpenAPI description
    from tests.standin import openapi

    standin.state.request_validator = openapi.load()
    assert standin.validates_requests
    return standin


def session(token: str) -> requests.Session:
    s = requests.Session()
    s.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"})
    return s


def test_created_repository_takes_labels_issues_pulls_releases_and_a_push(gh, tmp_path):
    s = session(gh.token)
    api = gh.api_url
    r = s.post(f"{api}/orgs/{gh.owner}/repos", json={"name": "copy", "private": True}, timeout=10)
    assert r.status_code == 201 and r.json()["full_name"] == f"{gh.owner}/copy"
    assert {lb["name"] for lb in s.get(f"{api}/repos/{gh.owner}/copy/labels").json()} >= {"bug"}
    again = s.post(f"{api}/orgs/{gh.owner}/repos", json={"name": "copy"}, timeout=10)
    assert again.status_code == 422

    # git push (all branches and tags) and LFS, as a restore does it
    source = gh.bare_repo_path(f"{gh.owner}/repo-001")  # the LFS repository
    url = f"{gh.web_url}/{gh.owner}/copy.git"
    credential = GitCredential(TokenCredentials(gh.token), url)
    mirror = tmp_path / "m.git"
    subprocess.run(["git", "clone", "--quiet", "--mirror", str(source), str(mirror)], check=True)
    lfs_dir = mirror / "lfs" / "objects"
    for oid in gh.lfs_object_ids(f"{gh.owner}/repo-001"):
        dest = lfs_dir / oid[:2] / oid[2:4] / oid
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes((gh.lfs_root / gh.owner / "repo-001" / oid).read_bytes())
    push = ["push", "--quiet", url, "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]
    run_git(push, cwd=mirror, credential=credential, timeout=60)
    run_git(["lfs", "push", "--all", url], cwd=mirror, credential=credential, timeout=60)
    assert gh.lfs_object_ids(f"{gh.owner}/copy") == gh.lfs_object_ids(f"{gh.owner}/repo-001")
    branches = {b["name"] for b in s.get(f"{api}/repos/{gh.owner}/copy/branches").json()}
    assert branches == {"main", "feature-0"}

    base = f"{api}/repos/{gh.owner}/copy"
    assert s.post(f"{base}/labels", json={"name": "area-1", "color": "0e8a16"}).status_code == 201
    ms = s.post(f"{base}/milestones", json={"title": "M1", "due_on": "2021-01-01T00:00:00Z"})
    assert ms.status_code == 201 and ms.json()["number"] == 1
    issue = s.post(
        f"{base}/issues",
        json={"title": "T", "body": "B", "labels": ["area-1"], "milestone": 1,
              "assignees": [gh.login]},
    )  # fmt: skip
    assert issue.status_code == 201 and issue.json()["number"] == 1
    assert issue.json()["assignees"][0]["login"] == gh.login
    closed = s.patch(f"{base}/issues/1", json={"state": "closed", "state_reason": "not_planned"})
    assert closed.json()["state_reason"] == "not_planned"
    assert s.post(f"{base}/issues/1/comments", json={"body": "hi"}).status_code == 201
    pull = s.post(f"{base}/pulls", json={"title": "P", "head": "feature-0", "base": "main"})
    assert pull.status_code == 201 and pull.json()["number"] == 2
    nothing = s.post(f"{base}/pulls", json={"title": "P", "head": "main", "base": "main"})
    assert nothing.status_code == 422
    assert s.patch(f"{base}/pulls/2", json={"state": "closed"}).json()["state"] == "closed"
    rel = s.post(f"{base}/releases", json={"tag_name": "v0.0.0", "name": "R", "body": "notes"})
    assert rel.status_code == 201
    upload = rel.json()["upload_url"].split("{")[0]
    assert upload.startswith(gh.uploads_url)
    up = s.post(
        upload,
        params={"name": "a.bin"},
        data=b"\x00\x01" * 100,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert up.status_code == 201 and up.json()["size"] == 200
    asset = s.get(up.json()["url"], headers={"Accept": "application/octet-stream"})
    assert asset.content == b"\x00\x01" * 100
    assert s.put(f"{base}/topics", json={"names": ["backup"]}).json() == {"names": ["backup"]}
    assert s.get(f"{base}/assignees/{gh.login}").status_code == 204
    assert s.get(f"{base}/assignees/nobody-here").status_code == 404


def test_a_body_github_would_refuse_is_answered_422(gh):
    s = session(gh.token)
    base = f"{gh.api_url}/repos/{gh.owner}/repo-000"
    r = s.post(f"{base}/milestones", json={"title": "x", "description": None})
    assert r.status_code == 422 and "description" in r.json()["message"]
    assert s.post(f"{base}/issues", json={"body": "no title"}).status_code == 422
    assert s.post(f"{base}/no-such-thing", json={}).status_code == 404


def test_a_read_only_token_cannot_create_a_repository_or_write(gh):
    s = session(gh.reader_token)
    r = s.post(f"{gh.api_url}/orgs/{gh.owner}/repos", json={"name": "nope"})
    assert r.status_code == 403
    r = s.post(f"{gh.api_url}/repos/{gh.owner}/repo-000/labels", json={"name": "x"})
    assert r.status_code == 403


def test_content_creation_beyond_the_limit_is_refused_with_retry_after(gh):
    now = [1000.0]
    gh.state.clock = lambda: now[0]
    gh.state.content_limits.per_minute = 3
    gh.state.content_limits.per_hour = 5
    s = session(gh.token)
    base = f"{gh.api_url}/repos/{gh.owner}/repo-000"

    def comment():
        return s.post(f"{base}/issues/1/comments", json={"body": "x"})

    assert [comment().status_code for _ in range(3)] == [201] * 3
    refused = comment()
    assert refused.status_code == 403
    assert "secondary rate limit" in refused.json()["message"]
    assert int(refused.headers["Retry-After"]) == 60
    now[0] += 61
    assert [comment().status_code for _ in range(2)] == [201, 201]
    hourly = comment()
    assert hourly.status_code == 403
    assert int(hourly.headers["Retry-After"]) == 3600 - 61


def test_write_answers_validate_against_githubs_response_schemas(gh, validator_for):  # noqa: F811
    from tests.test_standin_schema import check

    s = session(gh.token)
    repo = s.post(f"{gh.api_url}/orgs/{gh.owner}/repos", json={"name": "schema"}).json()
    check(validator_for, "full-repository", repo)
    base = f"{gh.api_url}/repos/{gh.owner}/repo-000"
    check(validator_for, "label", s.post(f"{base}/labels", json={"name": "new"}).json())
    check(validator_for, "milestone", s.post(f"{base}/milestones", json={"title": "M9"}).json())
    issue = s.post(f"{base}/issues", json={"title": "T", "labels": ["new"]}).json()
    check(validator_for, "issue", issue)
    check(validator_for, "issue", s.patch(f"{base}/issues/{issue['number']}",
                                          json={"state": "closed"}).json())  # fmt: skip
    comment = s.post(f"{base}/issues/{issue['number']}/comments", json={"body": "x"}).json()
    check(validator_for, "issue-comment", comment)
    release = s.post(f"{base}/releases", json={"tag_name": "v0.0.0"}).json()
    check(validator_for, "release", release)
    asset = s.post(release["upload_url"].split("{")[0], params={"name": "a.txt"}, data=b"a",
                   headers={"Content-Type": "text/plain"}).json()  # fmt: skip
    check(validator_for, "release-asset", asset)
