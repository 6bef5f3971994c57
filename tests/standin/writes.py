"""The writes the stand-in accepts: what a restore to GitHub sends.

Each request body is validated against GitHub's OpenAPI description first (``openapi``), then
applied to the model under the state's lock. Answers follow GitHub's REST reference: 201 with
the created object, 200 for updates, 204 for deletions and replaced topics' lists, 422 with
GitHub's ``errors`` list for a name that exists or a pull request without commits.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tests.standin import gitrepos
from tests.standin.gitrepos import GIT_ENV, TemplateInfo
from tests.standin.model import (
    Asset,
    Comment,
    Issue,
    Label,
    Milestone,
    PullInfo,
    Release,
    Repo,
)

if TYPE_CHECKING:
    from tests.standin.server import Caller, Handler

DOCS = "https://docs.github.com/rest"
# What GitHub puts in every new repository (Settings > Repository > default labels).
DEFAULT_LABELS = (
    ("bug", "d73a4a", "Something isn't working"),
    ("documentation", "0075ca", "Improvements or additions to documentation"),
    ("duplicate", "cfd3d7", "This issue or pull request already exists"),
    ("enhancement", "a2eeef", "New feature or request"),
    ("good first issue", "7057ff", "Good for newcomers"),
    ("help wanted", "008672", "Extra attention is needed"),
    ("invalid", "e4e669", "This doesn't seem right"),
    ("question", "d876e3", "Further information is requested"),
    ("wontfix", "ffffff", "This will not be worked on"),
)


@dataclass
class Written:
    """A write's answer: status and JSON body (None: no body, as for 204)."""

    status: int
    body: Any = None


def _error(status: int, message: str, errors: list[dict[str, Any]] | None = None) -> Any:
    from tests.standin.server import HttpError

    exc = HttpError(status, message)
    if errors:
        exc.body["errors"] = errors
    return exc


def _invalid(resource: str, field: str, code: str = "invalid", **extra: Any) -> Any:
    return _error(
        422, "Validation Failed", [{"resource": resource, "field": field, "code": code, **extra}]
    )


def _epoch(value: Any) -> int | None:
    if not value:
        return None
    return int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp())


def dispatch(h: Handler, path: str, caller: Caller, body: Any) -> Any:
    """Apply one write (POST, PATCH, PUT, DELETE) or answer 404 as GitHub does."""
    st = h.state
    if st.request_validator is not None:
        errors = st.request_validator.errors(h.command, path, body)
        if errors is None:
            raise _error(404, "Not Found")
        if errors:
            raise _error(422, "Invalid request.\n\n" + "\n".join(errors))
    if caller.token is None:
        raise _error(401, "Requires authentication")
    with st.lock:
        return _apply(h, path, caller, body if isinstance(body, dict) else {})


def _apply(h: Handler, path: str, caller: Caller, body: dict[str, Any]) -> Any:
    st, acc = h.state, h.state.account
    method = h.command
    m = re.match(r"^/(?:user|orgs/([^/]+))/repos$", path)
    if m and method == "POST":
        if m.group(1) is not None:
            if m.group(1).lower() != acc.owner.login.lower() or acc.owner.type != "Organization":
                raise _error(404, "Not Found")
            if not caller.admin:
                raise _error(
                    403,
                    "You need admin access to the organization before adding a repository to it.",
                )
            owner = acc.owner
        else:
            owner = acc.users[caller.login.lower()]  # type: ignore[union-attr]
        return Written(201, st.urls.repository(create_repo(h, owner, body), full=True))
    m = re.match(r"^/repos/([^/]+)/([^/]+)(/.*)?$", path)
    if not m:
        raise _error(404, "Not Found")
    repo = acc.repo(f"{m.group(1)}/{m.group(2)}")
    if repo is None:
        raise _error(404, "Not Found")
    if not caller.admin:
        raise _error(403, "Must have admin rights to Repository.")
    return _repo_write(h, repo, m.group(3) or "", body)


def create_repo(h: Handler, owner: Any, body: dict[str, Any]) -> Repo:
    st, acc = h.state, h.state.account
    name = str(body.get("name", ""))
    if acc.repo(f"{owner.login}/{name}") is not None:
        raise _invalid(
            "Repository",
            "name",
            "custom",
            message="name already exists on this account",
        )
    dest = st.git_root / owner.login / f"{name}.git"
    dest.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["git", "init", "--quiet", "--bare", "--initial-branch=main", str(dest)],
        env=GIT_ENV,
        check=True,
        timeout=60,
    )
    now = int(st.clock())
    repo = Repo(
        id=st.new_id(),
        owner=owner,
        name=name,
        kind="created",
        template=TemplateInfo(name="created", path=dest, default_branch="main"),
        private=bool(body.get("private", False)),
        description=body.get("description") or None,
        created=now,
        has_issues=body.get("has_issues", True),
        has_projects=body.get("has_projects", True),
        has_wiki=body.get("has_wiki", True),
        homepage=body.get("homepage") or None,
        created_by_api=True,
    )
    repo.labels = [Label(st.new_id(), n, c, d, True) for n, c, d in DEFAULT_LABELS]
    acc.repos.append(repo)
    acc.index()
    return repo


def refresh_git(repo: Repo, wiki: bool) -> None:
    """After a push into a repository made by the API, read its refs and commits back."""
    if wiki:
        path = repo.template.path.with_name(f"{repo.name}.wiki.git")
        repo.wiki = gitrepos._read_info(path, "created-wiki", "master")
        return
    info = gitrepos._read_info(repo.template.path, "created", repo.template.default_branch)
    if repo.template.empty and info.branches and info.default_branch not in info.branches:
        # GitHub makes the first branch pushed the default of an empty repository.
        info.default_branch = sorted(info.branches)[0]
    repo.template = info
    repo.branches = dict(info.branches)
    repo.tags = dict(info.tags)


def _set_head(repo: Repo, branch: str) -> None:
    subprocess.run(
        ["git", "symbolic-ref", "HEAD", f"refs/heads/{branch}"],
        cwd=repo.template.path,
        env=GIT_ENV,
        check=True,
        timeout=60,
    )


def _repo_write(h: Handler, r: Repo, sub: str, body: dict[str, Any]) -> Any:
    st, acc, u = h.state, h.state.account, h.state.urls
    method = h.command
    if sub == "" and method == "PATCH":
        for key in ("description", "homepage"):
            if key in body:
                setattr(r, key, body[key] or None)
        for key in ("has_issues", "has_wiki", "has_projects", "private"):
            if key in body:
                setattr(r, key, bool(body[key]))
        if "default_branch" in body:
            branch = body["default_branch"]
            if branch not in r.branches:
                raise _invalid("Repository", "default_branch")
            r.template.default_branch = branch
            _set_head(r, branch)
        return Written(200, u.repository(r, full=True))
    if sub == "/topics" and method == "PUT":
        r.topics = [str(t).lower() for t in body.get("names", [])]
        return Written(200, {"names": list(r.topics)})
    if sub == "/labels" and method == "POST":
        if any(lb.name.lower() == str(body["name"]).lower() for lb in r.labels):
            raise _invalid("Label", "name", "already_exists")
        lb = Label(
            st.new_id(),
            body["name"],
            str(body.get("color", "ededed")).lstrip("#"),
            body.get("description") or None,
            False,
        )
        r.labels.append(lb)
        return Written(201, u.label(r, lb))
    m = re.match(r"^/labels/(.+)$", sub)
    if m and method in ("PATCH", "DELETE"):
        lb = next((x for x in r.labels if x.name.lower() == m.group(1).lower()), None)
        if lb is None:
            raise _error(404, "Not Found")
        if method == "DELETE":
            r.labels.remove(lb)
            for issue in r.issues:
                issue.labels = [n for n in issue.labels if n != lb.name]
            return Written(204)
        lb.name = body.get("new_name", lb.name)
        lb.color = str(body.get("color", lb.color)).lstrip("#")
        lb.description = body.get("description", lb.description) or None
        return Written(200, u.label(r, lb))
    if sub == "/milestones" and method == "POST":
        if any(ms.title == body["title"] for ms in r.milestones):
            raise _invalid("Milestone", "title", "already_exists")
        ms = Milestone(
            st.new_id(),
            max((x.number for x in r.milestones), default=0) + 1,
            body["title"],
            body.get("state", "open"),
            int(st.clock()),
            acc.viewer,
            description=body.get("description"),
            due_on=_epoch(body.get("due_on")),
        )
        r.milestones.append(ms)
        return Written(201, u.milestone(r, ms))
    if sub in ("/issues", "/pulls") and method == "POST":
        return Written(201, _create_issue(h, r, body, pull=sub == "/pulls"))
    m = re.match(r"^/(issues|pulls)/(\d+)(/comments)?$", sub)
    if m:
        issue = next((i for i in r.issues if i.number == int(m.group(2))), None)
        if issue is None or (m.group(1) == "pulls" and issue.pull is None):
            raise _error(404, "Not Found")
        if m.group(3) and method == "POST" and m.group(1) == "issues":
            c = Comment(st.new_id(), acc.viewer, body["body"], int(st.clock()))
            issue.comments.append(c)
            issue.updated = int(st.clock())
            return Written(201, u.issue_comment(r, issue, c))
        if not m.group(3) and method == "PATCH":
            _update_issue(h, r, issue, body)
            issue.updated = int(st.clock())
            if m.group(1) == "pulls":
                return Written(200, u.pull_simple(r, issue))
            return Written(200, u.issue(r, issue))
    if sub == "/releases" and method == "POST":
        tag = body["tag_name"]
        if tag not in r.tags and not body.get("draft"):
            raise _invalid("Release", "tag_name", "invalid")  # no tag creation here
        if any(x.tag == tag and not body.get("draft") for x in r.releases):
            raise _invalid("Release", "tag_name", "already_exists")
        now = int(st.clock())
        rel = Release(
            st.new_id(),
            tag,
            body.get("name") or tag,
            r.tags.get(tag, ""),
            now,
            bool(body.get("prerelease", False)),
            body=body.get("body") or "",
        )
        r.releases.append(rel)
        author = r.owner if r.owner.type == "User" else acc.viewer
        return Written(201, u.release(r, rel, author))
    m = re.match(r"^/branches/([^/]+)/protection$", sub)
    if m and method == "PUT":
        if m.group(1) not in r.branches:
            raise _error(404, "Branch not found")
        r.protected[m.group(1)] = bool(body.get("enforce_admins"))
        return Written(200, u.protection(r, m.group(1)))
    raise _error(404, "Not Found")


def _users(h: Handler, logins: list[Any]) -> list[Any]:
    acc = h.state.account
    found = []
    for login in logins:
        user = acc.users.get(str(login).lower())
        if user is None:
            raise _invalid("Issue", "assignees", "invalid", value=str(login))
        found.append(user)
    return found


def _labels(h: Handler, r: Repo, names: list[Any]) -> list[str]:
    """Label names for an issue; GitHub creates a label that does not exist yet."""
    out = []
    for item in names:
        name = str(item["name"] if isinstance(item, dict) else item)
        lb = next((x for x in r.labels if x.name.lower() == name.lower()), None)
        if lb is None:
            lb = Label(h.state.new_id(), name, "ededed", None, False)
            r.labels.append(lb)
        out.append(lb.name)
    return out


def _milestone(r: Repo, number: Any) -> int | None:
    if number is None:
        return None
    if not any(ms.number == int(number) for ms in r.milestones):
        raise _invalid("Issue", "milestone", "invalid", value=number)
    return int(number)


def _create_issue(h: Handler, r: Repo, body: dict[str, Any], pull: bool) -> dict[str, Any]:
    st, u = h.state, h.state.urls
    if not pull and not r.has_issues:
        raise _error(410, "Issues are disabled for this repo")
    info = None
    if pull:
        head, base = str(body["head"]).split(":")[-1], str(body["base"])
        if head not in r.branches or base not in r.branches:
            raise _invalid("PullRequest", "head" if head not in r.branches else "base")
        commits = _branch_only(r, base, head)
        if not commits:
            raise _error(
                422,
                "Validation Failed",
                [{"resource": "PullRequest", "code": "custom",
                  "message": f"No commits between {base} and {head}"}],
            )  # fmt: skip
        info = PullInfo(head, r.branches[head], r.branches[base], False, commits, base_branch=base)
    number = max((i.number for i in r.issues), default=0) + 1
    issue = Issue(
        number=number,
        id=st.new_id(),
        title=str(body["title"]),
        body=body.get("body") or "",
        user=st.account.viewer,
        state="open",
        created=int(st.clock()),
        closed=None,
        labels=[] if pull else _labels(h, r, body.get("labels", [])),
        milestone=None if pull else _milestone(r, body.get("milestone")),
        pull=info,
    )
    if not pull:
        issue.assignees = _users(h, body.get("assignees", []))
    r.issues.append(issue)
    _count_milestones(r)
    return u.pull_simple(r, issue) if pull else u.issue(r, issue)


def _update_issue(h: Handler, r: Repo, issue: Issue, body: dict[str, Any]) -> None:
    if "title" in body:
        issue.title = str(body["title"])
    if "body" in body:
        issue.body = body["body"] or ""
    if "labels" in body:
        issue.labels = _labels(h, r, body["labels"])
    if "milestone" in body:
        issue.milestone = _milestone(r, body["milestone"])
    if "assignees" in body:
        issue.assignees = _users(h, body["assignees"])
    if body.get("state") in ("open", "closed"):
        issue.state = body["state"]
        issue.closed = int(h.state.clock()) if issue.state == "closed" else None
        if issue.state == "closed" and issue.pull is None:
            issue.state_reason = body.get("state_reason") or "completed"
        else:
            issue.state_reason = None
    _count_milestones(r)


def _count_milestones(r: Repo) -> None:
    for ms in r.milestones:
        mine = [i for i in r.issues if i.milestone == ms.number]
        ms.open_issues = sum(i.state == "open" for i in mine)
        ms.closed_issues = len(mine) - ms.open_issues


def _branch_only(r: Repo, base: str, head: str) -> list[str]:
    out = subprocess.run(
        ["git", "rev-list", "--reverse", f"{r.branches[base]}..{r.branches[head]}"],
        cwd=r.template.path,
        env=GIT_ENV,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return out.stdout.split()


def upload_asset(h: Handler, path: str, query: dict[str, str], caller: Caller, data: bytes) -> Any:
    """POST /repos/{o}/{r}/releases/{id}/assets?name=&label= on the uploads host."""
    st = h.state
    m = re.match(r"^/repos/([^/]+)/([^/]+)/releases/(\d+)/assets$", path)
    if not m or h.command != "POST":
        raise _error(404, "Not Found")
    if caller.token is None:
        raise _error(401, "Requires authentication")
    with st.lock:
        repo = st.account.repo(f"{m.group(1)}/{m.group(2)}")
        rel = next((x for x in repo.releases if x.id == int(m.group(3))), None) if repo else None
        if repo is None or rel is None:
            raise _error(404, "Not Found")
        if not caller.admin:
            raise _error(403, "Must have admin rights to Repository.")
        name = query.get("name", "")
        if not name:
            raise _invalid("ReleaseAsset", "name", "missing_field")
        if any(a.name == name for a in rel.assets):
            raise _invalid("ReleaseAsset", "name", "already_exists")
        asset = Asset(
            st.new_id(),
            name,
            len(data),
            h.headers.get("Content-Type") or "application/octet-stream",
            b"",
            int(time.time()),
            content=data,
            label=query.get("label") or None,
        )
        rel.assets.append(asset)
        st.account.index()
        author = repo.owner if repo.owner.type == "User" else st.account.viewer
        return Written(201, st.urls.asset(repo, asset, author))
