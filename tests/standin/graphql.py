"""GitHub's GraphQL endpoint, for exactly the queries ghbackup sends (the census).

``POST /graphql`` (and ``/api/graphql``, where GitHub Enterprise Server serves it) parses the
query with graphql-core, validates it against the subset of GitHub's schema below (every type
and field here has the same name, arguments and type as in GitHub's published schema, which
tests/test_census.py checks when it can fetch it) and executes it over the stand-in's
account. Points are charged by GitHub's documented formula (``cost``), from their own hourly
budget, and ``rateLimit { cost remaining }`` answers them.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from tests.standin.model import Repo
from tests.standin.render import ts

SCHEMA_SDL = (Path(__file__).with_name("graphql_schema.graphql")).read_text()
GRAPHQL_LIMIT = 5000  # points an hour for a token (GitHub's documented default)


@functools.cache
def schema() -> Any:
    from graphql import build_schema

    return build_schema(SCHEMA_SDL)


class GraphQLError(Exception):
    """A query GitHub would refuse outright (HTTP 200 with only ``errors``)."""


def parse_and_validate(query: str) -> Any:
    """The query's document, or GraphQLError with GitHub-like messages."""
    from graphql import parse, validate
    from graphql.error import GraphQLSyntaxError

    try:
        document = parse(query)
    except GraphQLSyntaxError as exc:
        raise GraphQLError(str(exc).splitlines()[0]) from None
    errors = validate(schema(), document)
    if errors:
        raise GraphQLError("; ".join(e.message for e in errors[:5]))
    return document


def cost(document: Any) -> tuple[int, int]:
    """(requests, points) by GitHub's documented formula: every connection (a field with
    ``first`` or ``last``) needs as many requests as its enclosing connections could hold
    items; the points are their sum divided by 100, rounded, at least 1."""
    from graphql.language import FieldNode, FragmentSpreadNode, InlineFragmentNode, IntValueNode

    fragments = {d.name.value: d for d in document.definitions if d.kind == "fragment_definition"}
    operation = next(d for d in document.definitions if d.kind == "operation_definition")

    def walk(selection_set: Any, multiplier: int) -> int:
        total = 0
        for node in selection_set.selections if selection_set else ():
            if isinstance(node, FragmentSpreadNode):
                total += walk(fragments[node.name.value].selection_set, multiplier)
            elif isinstance(node, InlineFragmentNode):
                total += walk(node.selection_set, multiplier)
            elif isinstance(node, FieldNode):
                size = None
                for argument in node.arguments or ():
                    if argument.name.value in ("first", "last") and isinstance(
                        argument.value, IntValueNode
                    ):
                        size = int(argument.value.value)
                if size is None:
                    total += walk(node.selection_set, multiplier)
                else:
                    total += multiplier + walk(node.selection_set, multiplier * max(size, 1))
        return total

    requests = walk(operation.selection_set, 1)
    return requests, max(1, round(requests / 100))


def execute(document: Any, account: Any, charged: int, remaining: int) -> dict[str, Any]:
    """Run a validated query over ``account``; ``rateLimit`` reports ``charged`` points."""
    from graphql import execute as run

    root = {
        "rateLimit": lambda info, **_: {
            "cost": charged,
            "remaining": remaining,
            "limit": GRAPHQL_LIMIT,
        },
        "repository": lambda info, owner, name, **_: _repository(account.repo(f"{owner}/{name}")),
    }
    result = run(schema(), document, root_value=root)
    answer: dict[str, Any] = {"data": result.data}
    if result.errors:
        answer["errors"] = [
            {"type": "NOT_FOUND", "path": e.path, "message": e.message} for e in result.errors
        ]
    return answer


def _connection(items: list[dict[str, Any]]) -> Any:
    def resolve(info: Any, first: int | None = None, last: int | None = None, **_: Any) -> Any:
        chosen = items[:first] if first is not None else items[-(last or 0) :]
        return {"totalCount": len(items), "nodes": chosen}

    return resolve


def _repository(repo: Repo | None) -> dict[str, Any] | None:
    if repo is None:
        raise LookupError("Could not resolve to a Repository with that name.")
    issues = sorted(repo.issues, key=lambda i: -i.updated_at)
    return {
        "nameWithOwner": repo.full_name,
        "pushedAt": ts(repo.pushed),
        "updatedAt": ts(repo.pushed + 60),
        "isEmpty": repo.empty,
        "isArchived": repo.archived,
        "isFork": repo.fork,
        "visibility": "PRIVATE" if repo.private else "PUBLIC",
        "description": repo.description,
        "homepageUrl": repo.homepage,
        "hasWikiEnabled": repo.has_wiki,
        "hasIssuesEnabled": repo.has_issues,
        "hasDiscussionsEnabled": False,
        "defaultBranchRef": None if repo.empty else {"name": repo.default_branch},
        "issues": _connection([{"updatedAt": ts(i.updated_at)} for i in issues if i.pull is None]),
        "pullRequests": _connection(
            [{"updatedAt": ts(i.updated_at)} for i in issues if i.pull is not None]
        ),
        "discussions": _connection([]),
        "releases": _connection(
            [
                {
                    "tagName": r.tag,
                    "updatedAt": ts(r.created + 30),
                    "releaseAssets": _connection([{"name": a.name} for a in r.assets]),
                }
                for r in sorted(repo.releases, key=lambda r: -r.created)
            ]
        ),
        "labels": _connection(
            [{"name": x.name, "color": x.color, "description": x.description} for x in repo.labels]
        ),
        "milestones": _connection(
            [
                {"number": m.number, "state": m.state.upper(), "updatedAt": ts(m.created + 10)}
                for m in repo.milestones
            ]
        ),
        "repositoryTopics": _connection([{"topic": {"name": t}} for t in repo.topics]),
    }
