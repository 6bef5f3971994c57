"""The GraphQL census: one query describes up to 100 repositories (issue 23, item 1).

For each repository it asks what a change to anything a capture stores moves: the object's
own fields, the newest-updated issue, pull request and discussion (an edit, a comment, a
label or a review bumps ``updatedAt``), every release, label and milestone (releases sort only
by creation, so an edited release needs the list; a renamed label moves nothing else) and the
topics, and the asset count of the five newest releases. The answer of each repository is reduced to a signature (a SHA-256 of its canonical
JSON) that the list step stores with the item's state, next to the git refs from ``info/refs``
(``ghbackup.probes.remote_refs``, no API rate limit): equal signature and equal refs mean
unchanged, with no REST request at all.

GitHub's documented cost: every connection counts as if its ``first`` were full, the sum of
the requests they would need, divided by 100. Eight connections per repository and the assets
of its five newest releases, 100 repositories per query: 13 points per query, 1,300 for
10,000 repositories (/work/shared/notes/change-detection.md). Each query also asks ``rateLimit { cost remaining }``
so the cost is measured, not assumed.

What the census cannot see (deletions, cross-references, webhooks) the periodic full capture
(``full_capture_after_days``) bounds. A repository the census did not answer for (an error
on its alias, a GitHub Enterprise Server without a field, the endpoint missing) is decided
by the REST probes as before.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ghbackup.errors import BackupError
from ghbackup.github import GitHubClient

log = logging.getLogger(__name__)

# Repositories described by one query (GitHub's documented maximum for ``first`` is 100, and
# the cost formula's division by 100 makes 100 the cheapest batch).
BATCH = 100
# Whose assets the census counts: an asset added to a release may not move the release's
# updatedAt, and each release's asset connection costs a request of its own.
RECENT_RELEASES = 5
# Eight connections per repository and one asset connection per recent release, each
# counted as one request (see the module docstring).
REQUESTS_PER_REPOSITORY = 8 + RECENT_RELEASES

_NEWEST = "first: 1, orderBy: {field: UPDATED_AT, direction: DESC}"
FRAGMENT = f"""fragment Census on Repository {{
  nameWithOwner
  pushedAt
  updatedAt
  isEmpty
  isArchived
  isFork
  visibility
  description
  homepageUrl
  hasWikiEnabled
  hasIssuesEnabled
  hasDiscussionsEnabled
  defaultBranchRef {{ name }}
  issues({_NEWEST}) {{ totalCount nodes {{ updatedAt }} }}
  pullRequests({_NEWEST}) {{ totalCount nodes {{ updatedAt }} }}
  discussions({_NEWEST}) {{ totalCount nodes {{ updatedAt }} }}
  releases(first: 100, orderBy: {{field: CREATED_AT, direction: DESC}}) {{
    totalCount nodes {{ tagName updatedAt }}
  }}
  recentReleases: releases(first: {RECENT_RELEASES}, orderBy: {{field: CREATED_AT, direction: DESC}}) {{
    nodes {{ tagName releaseAssets(first: 1) {{ totalCount }} }}
  }}
  labels(first: 100) {{ totalCount nodes {{ name color description }} }}
  milestones(first: 100, states: [OPEN, CLOSED]) {{
    totalCount nodes {{ number state updatedAt }}
  }}
  repositoryTopics(first: 100) {{ totalCount nodes {{ topic {{ name }} }} }}
}}"""


@dataclass(frozen=True)
class CensusEntry:
    """What the census says of one repository: its signature and the counts a first capture
    uses to skip requests for empty lists."""

    full_name: str
    signature: str
    is_empty: bool
    has_wiki: bool
    counts: dict[str, int]


@dataclass
class Census:
    """The census of a run's repositories: ``entries`` by lower-cased full name (missing:
    not answered, decided by the REST probes), the points GitHub charged, the queries sent."""

    entries: dict[str, CensusEntry] = field(default_factory=dict)
    points: int = 0
    queries: int = 0
    remaining: int | None = None

    def get(self, full_name: str | None) -> CensusEntry | None:
        """The entry of a repository, or None when the census did not answer for it."""
        return self.entries.get((full_name or "").lower())


def graphql_url(api_url: str) -> str:
    """GitHub's GraphQL endpoint beside a REST API URL: ``https://api.github.com/graphql``, or
    ``https://HOST/api/graphql`` for GitHub Enterprise Server's ``https://HOST/api/v3``."""
    base = api_url.rstrip("/")
    if base.endswith("/api/v3"):
        return base[: -len("/v3")] + "/graphql"
    return base + "/graphql"


def census_query(full_names: Sequence[str]) -> str:
    """The query describing ``full_names`` (at most BATCH), one alias each (``r0``, ``r1``...)."""
    if len(full_names) > BATCH:
        raise ValueError(f"a census query describes at most {BATCH} repositories")
    lines = ["query Census {", "  rateLimit { cost remaining }"]
    for index, full_name in enumerate(full_names):
        owner, _, name = full_name.partition("/")
        lines.append(
            f"  r{index}: repository(owner: {json.dumps(owner)}, name: {json.dumps(name)}) {{ ...Census }}"
        )
    lines.append("}")
    return "\n".join(lines) + "\n" + FRAGMENT


def expected_points(repositories: int) -> int:
    """What GitHub's documented formula charges for a census of ``repositories``."""
    full, rest = divmod(repositories, BATCH)
    per_query = [BATCH] * full + ([rest] if rest else [])
    return sum(max(1, round(count * REQUESTS_PER_REPOSITORY / 100)) for count in per_query)


def take_census(client: GitHubClient, full_names: Sequence[str]) -> Census:
    """Describe every repository of ``full_names`` in queries of BATCH. Never raises: a query
    that fails leaves its repositories out (the REST probes decide them)."""
    census = Census()
    url = graphql_url(client.api_url)
    for start in range(0, len(full_names), BATCH):
        batch = list(full_names[start : start + BATCH])
        try:
            answer = client.graphql(url, census_query(batch))
        except BackupError as exc:
            log.warning("census of %d repositories failed: %s", len(batch), exc)
            if start == 0:
                return census  # no GraphQL here (an old GitHub Enterprise Server): REST only
            continue
        census.queries += 1
        data = answer.get("data") or {}
        limit = data.get("rateLimit") or {}
        census.points += int(limit.get("cost") or 0)
        if limit.get("remaining") is not None:
            census.remaining = int(limit["remaining"])
        failed = _failed_aliases(answer)
        for index, full_name in enumerate(batch):
            node = data.get(f"r{index}")
            if f"r{index}" in failed or not isinstance(node, dict):
                continue
            entry = entry_of(full_name, node)
            if entry is not None:
                census.entries[full_name.lower()] = entry
    return census


def _failed_aliases(answer: dict[str, Any]) -> set[str]:
    """Aliases a GraphQL error names (a partial answer): their data is not trusted."""
    failed = set()
    for error in answer.get("errors") or []:
        path = error.get("path") if isinstance(error, dict) else None
        if isinstance(path, list) and path:
            failed.add(str(path[0]))
    return failed


def entry_of(full_name: str, node: dict[str, Any]) -> CensusEntry | None:
    """A repository's census entry, or None when the answer lacks a part (a connection cut
    short by GitHub, a field this server does not have)."""
    try:
        counts = {
            name: int(node[field_name]["totalCount"])
            for name, field_name in (
                ("issues", "issues"),
                ("pulls", "pullRequests"),
                ("discussions", "discussions"),
                ("releases", "releases"),
                ("labels", "labels"),
                ("milestones", "milestones"),
            )
        }
        for name in ("releases", "labels", "milestones"):
            if counts[name] > len(node[_FIELD[name]]["nodes"]):
                return None  # more than one page: the signature would not cover them all
        is_empty, has_wiki = bool(node["isEmpty"]), bool(node["hasWikiEnabled"])
    except (KeyError, TypeError, ValueError):
        return None
    canonical = json.dumps(node, sort_keys=True, separators=(",", ":")).encode()
    return CensusEntry(
        full_name=full_name,
        signature=hashlib.sha256(canonical).hexdigest(),
        is_empty=is_empty,
        has_wiki=has_wiki,
        counts=counts,
    )


_FIELD = {"releases": "releases", "labels": "labels", "milestones": "milestones"}
