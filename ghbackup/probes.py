"""What an incremental run asks GitHub to tell whether an item changed: a dozen cheap API
probes sent with the validators of the last capture (a 304 costs no primary rate limit), and
the refs of the item's git remotes from git's ref advertisement (``info/refs``, no API rate
limit at all: a wiki edit or a new ``refs/pull/*`` shows only there).

See /work/shared/notes/change-detection.md for the signals and their caveats.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

from ghbackup.errors import GitHubError, GitHubUnavailable, NotFound
from ghbackup.github import ConditionalAnswer, GitHubClient
from ghbackup.github_http import new_session
from ghbackup.records import BackupItem, ItemState, ProbeAnswer

# The census answer's name among an item's probes (ghbackup/census.py).
CENSUS_PROBE = "graphql:census"
# Probes asked at once by the list step (GitHub allows a token 100 concurrent requests).
PROBE_WORKERS = 16
# A list probe follows at most this many pages; a longer list is captured, not probed.
MAX_PROBE_PAGES = 20
GIT_TIMEOUT = (10.0, 60.0)

_LATEST = {"per_page": 1}
_SORTED = {"sort": "updated", "direction": "desc", "per_page": 1}
_WHOLE = {"per_page": 100}
# Answers meaning "not available to this token here" (forbidden, not found, disabled).
_NOT_HERE = (403, 404, 410)


def repository_probes(full_name: str) -> list[tuple[str, dict[str, Any]]]:
    """The questions whose answers change when anything a repository capture stores does:
    the object itself (its topics included), the newest-updated issue, comment and pull (an
    edit, a new comment or a label bumps ``updated_at``), the newest event, and the whole of
    the short lists. The object and the whole lists are the capture's own first requests,
    so a capture right after its probes gets them for a 304 each."""
    base = f"repos/{full_name}"
    return [
        (base, {}),
        (f"{base}/issues", {"state": "all", **_SORTED}),
        (f"{base}/issues/comments", _SORTED),
        (f"{base}/issues/events", _LATEST),
        (f"{base}/pulls", {"state": "all", **_SORTED}),
        (f"{base}/pulls/comments", _SORTED),
        (f"{base}/releases", _WHOLE),
        (f"{base}/labels", _WHOLE),
        (f"{base}/milestones", {"state": "all", **_WHOLE}),
        (f"{base}/hooks", _WHOLE),
        (f"{base}/branches", _WHOLE),
    ]


def probe_key(path: str, params: dict[str, Any]) -> str:
    """A probe's name in the state: its path and sorted query."""
    return f"{path}?{urlencode(sorted(params.items()))}" if params else path


# -- git refs, without the API ---------------------------------------------------------


def remote_refs(url: str, client: GitHubClient) -> dict[str, str] | None:
    """Every ref of a git remote from its smart-HTTP advertisement (``info/refs``, what
    ``git ls-remote`` reads; it costs no API rate limit). None when the remote does not
    exist (a wiki without pages). The token goes to the remote's own host only, as git's
    credential helper does, and redirects are not followed."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http"):
        raise GitHubError(f"cannot read refs of {parts.scheme or 'a local'} remote")
    auth = ("x-access-token", client.credentials.token())
    try:
        resp = _git_session().get(
            url.rstrip("/") + "/info/refs",
            params={"service": "git-upload-pack"},
            auth=auth,
            headers={"User-Agent": "git/2.43.0 (ghbackup)"},
            timeout=GIT_TIMEOUT,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        raise GitHubUnavailable(f"refs of {parts.path}: {type(exc).__name__}") from None
    with resp:
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise GitHubError(f"refs of {parts.path}: HTTP {resp.status_code}", resp.status_code)
        return parse_advertisement(resp.content)


@cache
def _git_session() -> requests.Session:
    """One pool of connections to the git hosts for every probe thread (and, in Lambda, every
    warm invocation): a TLS handshake per ref advertisement would cost more than the
    advertisement. Credentials go with each request, never on the session."""
    return new_session(pool_size=PROBE_WORKERS * 2)


def parse_advertisement(data: bytes) -> dict[str, str]:
    """``{ref: object id}`` from a v0 ref advertisement in pkt-lines; HEAD and peeled tags
    (``^{}``) left out, as ``for-each-ref`` of a mirror lists them."""
    refs: dict[str, str] = {}
    pos = 0
    while pos + 4 <= len(data):
        try:
            length = int(data[pos : pos + 4], 16)
        except ValueError:
            raise GitHubError("refs advertisement is not in pkt-line form") from None
        if length == 0:
            pos += 4
            continue
        if length < 4 or pos + length > len(data):
            raise GitHubError("refs advertisement is cut short")
        line = data[pos + 4 : pos + length].split(b"\0", 1)[0].decode("utf-8", "replace")
        pos += length
        sha, _, name = line.rstrip("\n").partition(" ")
        if line.startswith("#") or not name or name == "HEAD" or name.endswith("^{}"):
            continue
        if name == "capabilities^{}":  # an empty repository
            continue
        refs[name] = sha
    if pos != len(data):
        raise GitHubError("refs advertisement is cut short")
    return refs


# -- observing an item -----------------------------------------------------------------


@dataclass
class Observation:
    """What the probes answered, and which of them differ from the stored state."""

    probes: dict[str, ProbeAnswer] = field(default_factory=dict)
    refs: dict[str, dict[str, str] | None] = field(default_factory=dict)
    remotes: dict[str, str] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)
    requests: int = 0


def observe(
    client: GitHubClient, item: BackupItem, state: ItemState | None, *, remember: bool = False
) -> Observation:
    """Ask GitHub every probe of ``item`` with ``state``'s validators (none: unconditional).
    Raises a BackupError when a probe fails: the caller then captures. ``remember``: the
    client keeps the answers, for a capture that asks the same questions next."""
    seen = Observation()
    old = state.probes if state else {}
    if item.kind == "repository":
        probes = repository_probes(item.full_name or "")
    else:
        probes = [(f"gists/{item.id}", {})]
    object_unchanged = False
    for index, (path, params) in enumerate(probes):
        stored = old.get(probe_key(path, params))
        if object_unchanged and stored is not None and stored.status in _NOT_HERE:
            # Forbidden or disabled for this token last time, and the object (with its
            # permissions and has_* flags) is the same: so is the answer, and asking again
            # would cost a request that a 304 cannot save.
            seen.probes[probe_key(path, params)] = stored
            continue
        answer = _probe(client, seen, path, params, old, remember=remember)
        if index == 0 and answer is not None and answer.status not in (200, 304):
            # The object itself is gone or refused: nothing else to ask, the capture will
            # say what happened.
            raise NotFound(f"{path}: HTTP {answer.status}", answer.status)
        if index == 0 and answer is not None:
            seen.remotes = _remotes(item, answer, state)
            object_unchanged = not seen.changed
    for name, url in seen.remotes.items():
        seen.refs[name] = remote_refs(url, client)
        if state is None or state.refs.get(name, {}) != seen.refs[name]:
            seen.changed.append(f"{name} refs")
    if state is not None and set(state.refs) != set(seen.refs):
        seen.changed.append("git remotes")
    return seen


def observe_census(
    client: GitHubClient, item: BackupItem, state: ItemState, signature: str
) -> Observation:
    """An item whose state holds a census signature, observed without the REST probes: the
    census answer (``signature``, from one GraphQL query for up to 100 repositories) and the
    git refs from ``info/refs`` (no API rate limit). Raises a BackupError when the refs
    cannot be read: the caller then captures."""
    seen = Observation()
    seen.probes[CENSUS_PROBE] = ProbeAnswer(status=200, body_sha256=signature)
    stored = state.probes.get(CENSUS_PROBE)
    if stored is None or stored.body_sha256 != signature:
        seen.changed.append("census")
    seen.remotes = dict(state.remotes)
    for name, url in seen.remotes.items():
        seen.refs[name] = remote_refs(url, client)
        if state.refs.get(name, {}) != seen.refs[name]:
            seen.changed.append(f"{name} refs")
    return seen


def _probe(
    client: GitHubClient,
    seen: Observation,
    path: str,
    params: dict[str, Any],
    old: dict[str, ProbeAnswer],
    *,
    remember: bool = False,
) -> ConditionalAnswer | None:
    """One probe and, for a whole list (``per_page=100``), each further page it links to.
    Returns the first page's answer."""
    first: ConditionalAnswer | None = None
    url: str | None = path
    query: dict[str, Any] | None = params
    for _ in range(MAX_PROBE_PAGES):
        key = probe_key(url or "", query) if query is not None else _relative(client, url)
        before = old.get(key)
        seen.requests += 1  # this item's own count: the client is shared by threads
        answer = client.conditional_get(
            url or "", query,
            etag=before.etag if before else None,
            last_modified=before.last_modified if before else None,
            remember=remember,
        )  # fmt: skip
        first = first or answer
        if answer.status == 304 and before is not None:
            now = before  # unchanged, links included
        else:
            next_url = _relative(client, answer.next_url) if answer.next_url else None
            now = ProbeAnswer(status=answer.status, etag=answer.etag, next=next_url,
                              last_modified=answer.last_modified, body_sha256=answer.body_sha256)  # fmt: skip
            if before is None or (now.status, now.body_sha256, now.next) != (
                before.status, before.body_sha256, before.next,
            ):  # fmt: skip
                seen.changed.append(key)
        seen.probes[key] = now
        if not now.next or params.get("per_page") != _WHOLE["per_page"]:
            return first
        url, query = now.next, None
    raise GitHubError(f"{path}: more than {MAX_PROBE_PAGES} pages to probe")


def _relative(client: GitHubClient, url: str | None) -> str:
    """A next-page URL as a probe's name: relative to the API when it is on it."""
    text = url or ""
    return text[len(client.api_url) + 1 :] if text.startswith(client.api_url + "/") else text


def _remotes(
    item: BackupItem, answer: ConditionalAnswer, state: ItemState | None
) -> dict[str, str]:
    """The git remotes to compare: from the object when it was sent, else as stored."""
    if answer.status == 304:
        return dict(state.remotes) if state else {}
    if answer.status != 200:
        return {}
    try:
        obj = json.loads(answer.body)
    except ValueError:
        raise GitHubError(f"{item.key}: the object is not JSON") from None
    if not isinstance(obj, dict):
        return {}
    if item.kind == "gist":
        url = obj.get("git_pull_url")
        return {"repository": str(url)} if url else {}
    clone = str(obj.get("clone_url") or "")
    remotes = {"repository": clone} if clone else {}
    if clone and obj.get("has_wiki"):
        remotes["wiki"] = clone.removesuffix(".git") + ".wiki.git"
    return remotes
