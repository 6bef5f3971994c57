"""The stand-in's responses validate strictly against GitHub's own OpenAPI description."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.integration

CACHE = Path(__file__).resolve().parent.parent / ".cache" / "octokit-openapi"
MEMBER = "package/generated/api.github.com.json"


def _fetch_description() -> Path:
    target = CACHE / "api.github.com.json"
    if target.exists():
        return target
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed: cannot fetch @octokit/openapi")
    CACHE.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["npm", "pack", "--silent", "@octokit/openapi"],
        cwd=CACHE,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        pytest.skip(f"npm registry unreachable: {proc.stderr.strip()[-200:]}")
    tgz = CACHE / proc.stdout.strip().splitlines()[-1]
    with tarfile.open(tgz) as tar:  # only the one member: the package unpacks to 385 MB
        src = tar.extractfile(MEMBER)
        assert src is not None
        target.write_bytes(src.read())
    tgz.unlink()
    return target


@pytest.fixture(scope="module")
def validator_for():
    from openapi_schema_validator import OAS30Validator

    spec = json.loads(_fetch_description().read_text())

    @functools.cache
    def make(name: str):
        schema = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
        return OAS30Validator(schema)

    return make


def check(validator_for, schema: str, obj) -> None:
    errors = sorted(validator_for(schema).iter_errors(obj), key=str)
    assert not errors, f"{schema}: " + "; ".join(
        f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors[:5]
    )


def test_every_main_object_type_validates_strictly(standin_50, validator_for):
    gh = standin_50
    s = requests.Session()
    s.headers["Authorization"] = f"token {gh.token}"

    def get(path):
        r = s.get(gh.api_url + path, timeout=10)
        assert r.status_code == 200, (path, r.status_code)
        return r.json()

    check(validator_for, "private-user", get("/user"))
    check(validator_for, "public-user", get(f"/users/{gh.login}"))
    check(validator_for, "organization-full", get(f"/orgs/{gh.owner}"))
    check(validator_for, "rate-limit-overview", get("/rate_limit"))
    for f in get(f"/users/{gh.login}/followers") + get(f"/users/{gh.login}/following"):
        check(validator_for, "simple-user", f)
    for g in get(f"/users/{gh.login}/gists"):
        check(validator_for, "base-gist", g)
        check(validator_for, "gist-simple", get(f"/gists/{g['id']}"))
    for r in get(f"/orgs/{gh.owner}/repos?per_page=100"):
        check(validator_for, "minimal-repository", r)
        check(validator_for, "repository", r)
    for r in get("/user/repos?per_page=100") + get(f"/users/{gh.login}/starred"):
        check(validator_for, "repository", r)
    counts: dict[str, int] = {}
    for name in gh.repository_names()[:20]:
        repo = gh.repository(name)
        base = f"/repos/{name}"
        check(validator_for, "full-repository", get(base))
        check(validator_for, "topic", get(f"{base}/topics"))
        for label in get(f"{base}/labels"):
            check(validator_for, "label", label)
        for ms in get(f"{base}/milestones?state=all"):
            check(validator_for, "milestone", ms)
        for b in get(f"{base}/branches"):
            check(validator_for, "short-branch", b)
            if b["protected"]:
                check(
                    validator_for,
                    "branch-protection",
                    get(f"{base}/branches/{b['name']}/protection"),
                )
        if repo.hooks_access == 200:
            for h in get(f"{base}/hooks"):
                check(validator_for, "hook", h)
                counts["hook"] = counts.get("hook", 0) + 1
        if not repo.empty:
            for c in get(f"{base}/commits?per_page=5"):
                check(validator_for, "commit", c)
        for rel in get(f"{base}/releases"):
            check(validator_for, "release", rel)
            for a in get(f"{base}/releases/{rel['id']}/assets"):
                check(validator_for, "release-asset", a)
                counts["asset"] = counts.get("asset", 0) + 1
        if repo.has_issues:
            for issue in get(f"{base}/issues?state=all"):
                check(validator_for, "issue", issue)
                n = issue["number"]
                for c in get(f"{base}/issues/{n}/comments"):
                    check(validator_for, "issue-comment", c)
                    counts["comment"] = counts.get("comment", 0) + 1
                for e in get(f"{base}/issues/{n}/events"):
                    check(validator_for, "issue-event", e)
                    check(validator_for, "issue-event-for-issue", e)
                    counts["event"] = counts.get("event", 0) + 1
        for pr in get(f"{base}/pulls?state=all"):
            check(validator_for, "pull-request-simple", pr)
            n = pr["number"]
            for c in get(f"{base}/pulls/{n}/comments"):
                check(validator_for, "pull-request-review-comment", c)
                check(validator_for, "review-comment", c)
                counts["review-comment"] = counts.get("review-comment", 0) + 1
            for v in get(f"{base}/pulls/{n}/reviews"):
                check(validator_for, "pull-request-review", v)
                counts["review"] = counts.get("review", 0) + 1
            for c in get(f"{base}/pulls/{n}/commits"):
                check(validator_for, "commit", c)
                counts["pr-commit"] = counts.get("pr-commit", 0) + 1
    # The check covered real instances of every type, not empty lists.
    for kind in ("hook", "asset", "comment", "event", "review-comment", "review", "pr-commit"):
        assert counts.get(kind, 0) > 0, kind
