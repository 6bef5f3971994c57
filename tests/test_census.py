"""The GraphQL census (ghbackup/census.py) against the stand-in's GraphQL endpoint."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from ghbackup.census import (
    BATCH,
    REQUESTS_PER_REPOSITORY,
    census_query,
    expected_points,
    graphql_url,
    take_census,
)
from ghbackup.credentials import TokenCredentials
from ghbackup.github import GitHubClient
from tests.standin import graphql as standin_graphql

CACHE = Path(__file__).resolve().parent.parent / ".cache" / "octokit-graphql-schema"


def _client(standin) -> GitHubClient:
    return GitHubClient(standin.api_url, TokenCredentials(standin.token))


def test_the_endpoint_is_beside_the_rest_api_on_github_and_on_enterprise_server():
    assert graphql_url("https://api.github.com") == "https://api.github.com/graphql"
    assert graphql_url("https://ghe.example.com/api/v3/") == "https://ghe.example.com/api/graphql"


def test_a_query_of_100_repositories_costs_what_githubs_formula_says():
    document = standin_graphql.parse_and_validate(census_query([f"o/r{i}" for i in range(BATCH)]))
    requests, points = standin_graphql.cost(document)
    assert requests == BATCH * REQUESTS_PER_REPOSITORY
    assert points == expected_points(BATCH) == REQUESTS_PER_REPOSITORY
    assert expected_points(10_000) == 1300  # the issue's target: at most 1,500


def test_the_census_describes_every_repository_with_counts_and_a_stable_signature(standin):
    names = standin.repository_names()
    first = take_census(_client(standin), names)
    second = take_census(_client(standin), names)
    assert set(first.entries) == {n.lower() for n in names}
    assert first.points == expected_points(len(names)) and first.queries == 1
    assert {k: v.signature for k, v in first.entries.items()} == {
        k: v.signature for k, v in second.entries.items()
    }
    empty = next(e for e in first.entries.values() if e.full_name.endswith("-002"))
    assert empty.is_empty and not any(empty.counts[k] for k in ("issues", "pulls", "releases"))
    full = first.get(names[0])
    assert full is not None and full.counts["issues"] > 0 and not full.is_empty


def test_a_repository_the_census_cannot_describe_is_left_to_the_rest_probes(standin):
    names = [*standin.repository_names()[:2], f"{standin.owner}/no-such-repository"]
    census = take_census(_client(standin), names)
    assert census.get(names[0]) is not None
    assert census.get(names[2]) is None


def test_a_new_comment_changes_the_signature(standin):
    import requests

    name = standin.repository_names()[0]
    before = take_census(_client(standin), [name]).get(name)
    headers = {"Authorization": f"Bearer {standin.token}"}
    issues = requests.get(f"{standin.api_url}/repos/{name}/issues", headers=headers,
                          params={"state": "all", "direction": "asc"}, timeout=30).json()  # fmt: skip
    number = next(i["number"] for i in issues if "pull_request" not in i)
    requests.post(f"{standin.api_url}/repos/{name}/issues/{number}/comments", headers=headers,
                  json={"body": "news"}, timeout=30).raise_for_status()  # fmt: skip
    after = take_census(_client(standin), [name]).get(name)
    assert before is not None and after is not None and before.signature != after.signature


def _published_schema() -> Path:
    target = CACHE / "schema.graphql"
    if target.exists():
        return target
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed: cannot fetch @octokit/graphql-schema")
    CACHE.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["npm", "pack", "--silent", "@octokit/graphql-schema"], cwd=CACHE,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    if proc.returncode != 0:
        pytest.skip(f"npm registry unreachable: {proc.stderr.strip()[-200:]}")
    tgz = CACHE / proc.stdout.strip().splitlines()[-1]
    with tarfile.open(tgz) as tar:
        src = tar.extractfile("package/schema.graphql")
        assert src is not None
        target.write_bytes(src.read())
    tgz.unlink()
    return target


@pytest.mark.integration
def test_the_census_query_is_valid_against_githubs_published_schema():
    from graphql import build_schema, parse, validate

    # GitHub's published SDL defines two fields twice: build it as GitHub serves it.
    published = build_schema(_published_schema().read_text(), assume_valid_sdl=True)
    # It also breaks two of graphql-core's type-system rules (deprecated Node.id overrides);
    # GitHub serves it regardless, so validate queries against it as it is.
    published._validation_errors = []
    errors = validate(published, parse(census_query(["octo/one", "octo/two"])))
    assert errors == []
    # The stand-in's subset says what GitHub says of every field it serves.
    for name, served in standin_graphql.schema().type_map.items():
        if name.startswith("__") or not hasattr(served, "fields"):
            continue
        for field_name, field in served.fields.items():
            theirs = published.type_map[name].fields[field_name]  # type: ignore[union-attr]
            assert str(field.type) == str(theirs.type), f"{name}.{field_name}"
            for arg in getattr(field, "args", {}):
                assert str(field.args[arg].type) == str(theirs.args[arg].type), (
                    f"{name}.{field_name}({arg})"
                )
