"""GitHub's JSON for the generated account, shaped to validate against @octokit/openapi."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tests.standin.model import (
    Asset,
    Comment,
    Event,
    Gist,
    Issue,
    Label,
    Milestone,
    Release,
    Repo,
    Review,
    ReviewComment,
    User,
)

MIT = {
    "key": "mit",
    "name": "MIT License",
    "spdx_id": "MIT",
    "url": None,
    "node_id": "MDc6TGljZW5zZTEz",
}


def ts(epoch: int | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(kind: str, ident: int | str) -> str:
    return base64.b64encode(f"0{len(kind)}:{kind}{ident}".encode()).decode().rstrip("=")


@dataclass(frozen=True)
class Urls:
    api: str  # e.g. http://127.0.0.1:8080/api/v3
    web: str  # e.g. http://127.0.0.1:8080
    uploads: str | None = None  # the uploads host (GitHub's uploads.github.com), if served

    def __post_init__(self) -> None:
        object.__setattr__(self, "license", {**MIT, "url": f"{self.api}/licenses/mit"})

    # ---- people ---------------------------------------------------------------------------
    def simple_user(self, u: User) -> dict[str, Any]:
        a, w = self.api, self.web
        base = f"{a}/users/{u.login}"
        return {
            "login": u.login,
            "id": u.id,
            "node_id": node_id("User", u.id),
            "avatar_url": f"{w}/avatars/u/{u.id}",
            "gravatar_id": "",
            "url": base,
            "html_url": f"{w}/{u.login}",
            "followers_url": f"{base}/followers",
            "following_url": f"{base}/following{{/other_user}}",
            "gists_url": f"{base}/gists{{/gist_id}}",
            "starred_url": f"{base}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{base}/subscriptions",
            "organizations_url": f"{base}/orgs",
            "repos_url": f"{base}/repos",
            "events_url": f"{base}/events{{/privacy}}",
            "received_events_url": f"{base}/received_events",
            "type": u.type,
            "user_view_type": "public",
            "site_admin": False,
        }

    def public_user(
        self, u: User, public_repos: int, gists: int, followers: int, following: int
    ) -> dict[str, Any]:
        return {
            **self.simple_user(u),
            "name": u.name or u.login,
            "company": None,
            "blog": "",
            "location": None,
            "email": None,
            "hireable": None,
            "bio": None,
            "twitter_username": None,
            "public_repos": public_repos,
            "public_gists": gists,
            "followers": followers,
            "following": following,
            "created_at": "2019-06-01T00:00:00Z",
            "updated_at": "2020-01-01T00:00:00Z",
        }

    def private_user(
        self,
        u: User,
        public_repos: int,
        private_repos: int,
        gists: int,
        followers: int,
        following: int,
    ) -> dict[str, Any]:
        return {
            **self.public_user(u, public_repos, gists, followers, following),
            "user_view_type": "private",
            "private_gists": 0,
            "total_private_repos": private_repos,
            "owned_private_repos": private_repos,
            "disk_usage": 1024,
            "collaborators": 0,
            "two_factor_authentication": True,
            "plan": {"name": "pro", "space": 976562499, "private_repos": 9999, "collaborators": 0},
        }

    def organization(self, u: User, public_repos: int, private_repos: int) -> dict[str, Any]:
        a, w = self.api, self.web
        base = f"{a}/orgs/{u.login}"
        return {
            "login": u.login,
            "id": u.id,
            "node_id": node_id("Organization", u.id),
            "url": base,
            "repos_url": f"{base}/repos",
            "events_url": f"{base}/events",
            "hooks_url": f"{base}/hooks",
            "issues_url": f"{base}/issues",
            "members_url": f"{base}/members{{/member}}",
            "public_members_url": f"{base}/public_members{{/member}}",
            "avatar_url": f"{w}/avatars/u/{u.id}",
            "description": f"The {u.login} organization",
            "name": u.name,
            "blog": "",
            "twitter_username": None,
            "is_verified": False,
            "has_organization_projects": True,
            "has_repository_projects": True,
            "public_repos": public_repos,
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "html_url": f"{w}/{u.login}",
            "type": "Organization",
            "total_private_repos": private_repos,
            "owned_private_repos": private_repos,
            "created_at": "2019-06-01T00:00:00Z",
            "updated_at": "2020-01-01T00:00:00Z",
            "archived_at": None,
        }

    # ---- repositories ---------------------------------------------------------------------
    def repository(self, r: Repo, full: bool = False, admin: bool = True) -> dict[str, Any]:
        a, w = self.api, self.web
        base = f"{a}/repos/{r.full_name}"
        d: dict[str, Any] = {
            "id": r.id,
            "node_id": node_id("Repository", r.id),
            "name": r.name,
            "full_name": r.full_name,
            "private": r.private,
            "owner": self.simple_user(r.owner),
            "html_url": f"{w}/{r.full_name}",
            "description": r.description,
            "fork": r.fork,
            "url": base,
            "forks_url": f"{base}/forks",
            "keys_url": f"{base}/keys{{/key_id}}",
            "collaborators_url": f"{base}/collaborators{{/collaborator}}",
            "teams_url": f"{base}/teams",
            "hooks_url": f"{base}/hooks",
            "issue_events_url": f"{base}/issues/events{{/number}}",
            "events_url": f"{base}/events",
            "assignees_url": f"{base}/assignees{{/user}}",
            "branches_url": f"{base}/branches{{/branch}}",
            "tags_url": f"{base}/tags",
            "blobs_url": f"{base}/git/blobs{{/sha}}",
            "git_tags_url": f"{base}/git/tags{{/sha}}",
            "git_refs_url": f"{base}/git/refs{{/sha}}",
            "trees_url": f"{base}/git/trees{{/sha}}",
            "statuses_url": f"{base}/statuses/{{sha}}",
            "languages_url": f"{base}/languages",
            "stargazers_url": f"{base}/stargazers",
            "contributors_url": f"{base}/contributors",
            "subscribers_url": f"{base}/subscribers",
            "subscription_url": f"{base}/subscription",
            "commits_url": f"{base}/commits{{/sha}}",
            "git_commits_url": f"{base}/git/commits{{/sha}}",
            "comments_url": f"{base}/comments{{/number}}",
            "issue_comment_url": f"{base}/issues/comments{{/number}}",
            "contents_url": f"{base}/contents/{{+path}}",
            "compare_url": f"{base}/compare/{{base}}...{{head}}",
            "merges_url": f"{base}/merges",
            "archive_url": f"{base}/{{archive_format}}{{/ref}}",
            "downloads_url": f"{base}/downloads",
            "issues_url": f"{base}/issues{{/number}}",
            "pulls_url": f"{base}/pulls{{/number}}",
            "milestones_url": f"{base}/milestones{{/number}}",
            "notifications_url": f"{base}/notifications{{?since,all,participating}}",
            "labels_url": f"{base}/labels{{/name}}",
            "releases_url": f"{base}/releases{{/id}}",
            "deployments_url": f"{base}/deployments",
            "created_at": ts(r.created),
            "updated_at": ts(r.pushed + 60),
            "pushed_at": ts(r.pushed),
            "git_url": f"git://{w.split('://', 1)[1]}/{r.full_name}.git",
            "ssh_url": f"git@{w.split('://', 1)[1].split(':')[0]}:{r.full_name}.git",
            "clone_url": f"{w}/{r.full_name}.git",
            "svn_url": f"{w}/{r.full_name}",
            "homepage": r.homepage,
            "size": 0 if r.empty else r.template.size_kb,
            "stargazers_count": r.id % 13,
            "watchers_count": r.id % 13,
            "language": None if r.empty else "Python",
            "has_issues": r.has_issues,
            "has_projects": r.has_projects,
            "has_downloads": True,
            "has_wiki": r.has_wiki,
            "has_pages": False,
            "has_discussions": False,
            "has_pull_requests": r.has_pull_requests,
            "forks_count": 0,
            "mirror_url": None,
            "archived": r.archived,
            "disabled": False,
            "open_issues_count": sum(1 for i in r.issues if i.state == "open"),
            "license": None if r.empty else self.license,
            "allow_forking": True,
            "is_template": False,
            "web_commit_signoff_required": False,
            "topics": list(r.topics),
            "visibility": "private" if r.private else "public",
            "forks": 0,
            "open_issues": sum(1 for i in r.issues if i.state == "open"),
            "watchers": r.id % 13,
            "default_branch": r.default_branch,
            "permissions": {
                "admin": admin,
                "maintain": admin,
                "push": admin,
                "triage": True,
                "pull": True,
            },
        }
        if full:
            d["network_count"] = 0
            d["subscribers_count"] = 1
            d["temp_clone_token"] = None
            d["allow_squash_merge"] = True
            d["allow_merge_commit"] = True
            d["allow_rebase_merge"] = True
            d["delete_branch_on_merge"] = False
            if r.owner.type == "Organization":
                d["organization"] = self.simple_user(r.owner)
            if r.fork:
                upstream = Repo(
                    id=r.id + 7,
                    owner=User("upstream", 42),
                    name=r.name,
                    kind="upstream",
                    template=r.template,
                    private=False,
                    description="Upstream",
                    created=r.created - 86400,
                )
                d["parent"] = self.repository(upstream, admin=False)
                d["source"] = d["parent"]
        return d

    # ---- issues and pulls -----------------------------------------------------------------
    def label(self, r: Repo, lb: Label) -> dict[str, Any]:
        return {
            "id": lb.id,
            "node_id": node_id("Label", lb.id),
            "url": f"{self.api}/repos/{r.full_name}/labels/{lb.name}",
            "name": lb.name,
            "color": lb.color,
            "default": lb.default,
            "description": lb.description,
        }

    def milestone(self, r: Repo, m: Milestone) -> dict[str, Any]:
        base = f"{self.api}/repos/{r.full_name}/milestones/{m.number}"
        return {
            "url": base,
            "html_url": f"{self.web}/{r.full_name}/milestone/{m.number}",
            "labels_url": f"{base}/labels",
            "id": m.id,
            "node_id": node_id("Milestone", m.id),
            "number": m.number,
            "state": m.state,
            "title": m.title,
            "description": m.description,
            "creator": self.simple_user(m.creator),
            "open_issues": m.open_issues,
            "closed_issues": m.closed_issues,
            "created_at": ts(m.created),
            "updated_at": ts(m.created + 10),
            "closed_at": ts(m.created + 20) if m.state == "closed" else None,
            "due_on": ts(m.due_on),
        }

    def _reactions(self, url: str) -> dict[str, Any]:
        keys = ("+1", "-1", "laugh", "confused", "heart", "hooray", "eyes", "rocket")
        return {"url": f"{url}/reactions", "total_count": 0, **{k: 0 for k in keys}}

    def issue(self, r: Repo, i: Issue) -> dict[str, Any]:
        base = f"{self.api}/repos/{r.full_name}/issues/{i.number}"
        labels = [self.label(r, lb) for lb in r.labels if lb.name in i.labels]
        ms = next((m for m in r.milestones if m.number == i.milestone), None)
        d: dict[str, Any] = {
            "url": base,
            "repository_url": f"{self.api}/repos/{r.full_name}",
            "labels_url": f"{base}/labels{{/name}}",
            "comments_url": f"{base}/comments",
            "events_url": f"{base}/events",
            "html_url": f"{self.web}/{r.full_name}/{'pull' if i.pull else 'issues'}/{i.number}",
            "id": i.id,
            "node_id": node_id("Issue", i.id),
            "number": i.number,
            "title": i.title,
            "user": self.simple_user(i.user),
            "labels": labels,
            "state": i.state,
            "locked": False,
            "active_lock_reason": None,
            "assignee": self.simple_user(i.assignees[0]) if i.assignees else None,
            "assignees": [self.simple_user(a) for a in i.assignees],
            "milestone": self.milestone(r, ms) if ms else None,
            "comments": len(i.comments),
            "created_at": ts(i.created),
            "updated_at": ts(i.updated_at),
            "closed_at": ts(i.closed),
            "author_association": "MEMBER",
            "body": i.body,
            "closed_by": None,
            "reactions": self._reactions(base),
            "timeline_url": f"{base}/timeline",
            "performed_via_github_app": None,
        }
        if i.state == "closed" and not i.pull:
            d["state_reason"] = (
                i.state_reason or "completed"
            )  # omitted otherwise: the schema's enum has no null
        if i.pull:
            pbase = f"{self.api}/repos/{r.full_name}/pulls/{i.number}"
            d["draft"] = False
            d["pull_request"] = {
                "url": pbase,
                "html_url": f"{self.web}/{r.full_name}/pull/{i.number}",
                "diff_url": f"{self.web}/{r.full_name}/pull/{i.number}.diff",
                "patch_url": f"{self.web}/{r.full_name}/pull/{i.number}.patch",
                "merged_at": ts(i.closed) if i.pull.merged else None,
            }
        return d

    def issue_comment(self, r: Repo, i: Issue, c: Comment) -> dict[str, Any]:
        url = f"{self.api}/repos/{r.full_name}/issues/comments/{c.id}"
        return {
            "id": c.id,
            "node_id": node_id("IssueComment", c.id),
            "url": url,
            "html_url": f"{self.web}/{r.full_name}/issues/{i.number}#issuecomment-{c.id}",
            "body": c.body,
            "user": self.simple_user(c.user),
            "created_at": ts(c.created),
            "updated_at": ts(c.created),
            "issue_url": f"{self.api}/repos/{r.full_name}/issues/{i.number}",
            "author_association": "MEMBER",
            "performed_via_github_app": None,
            "reactions": self._reactions(url),
        }

    def issue_event(self, r: Repo, i: Issue, e: Event) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": e.id,
            "node_id": node_id("IssueEvent", e.id),
            "url": f"{self.api}/repos/{r.full_name}/issues/events/{e.id}",
            "actor": self.simple_user(e.actor),
            "event": e.event,
            "commit_id": None,
            "commit_url": None,
            "created_at": ts(e.created),
            "performed_via_github_app": None,
        }
        if e.label is not None:
            color = next((lb.color for lb in r.labels if lb.name == e.label), "ededed")
            d["label"] = {"name": e.label, "color": color}
        if e.milestone is not None:
            d["milestone"] = {"title": e.milestone}
        return d

    def pull_simple(self, r: Repo, i: Issue) -> dict[str, Any]:
        assert i.pull is not None
        p = i.pull
        base = f"{self.api}/repos/{r.full_name}/pulls/{i.number}"
        html = f"{self.web}/{r.full_name}/pull/{i.number}"
        repo_json = self.repository(r)
        ms = next((m for m in r.milestones if m.number == i.milestone), None)
        return {
            "url": base,
            "id": i.id + 1,
            "node_id": node_id("PullRequest", i.id),
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": f"{self.api}/repos/{r.full_name}/issues/{i.number}",
            "commits_url": f"{base}/commits",
            "review_comments_url": f"{base}/comments",
            "review_comment_url": f"{self.api}/repos/{r.full_name}/pulls/comments{{/number}}",
            "comments_url": f"{self.api}/repos/{r.full_name}/issues/{i.number}/comments",
            "statuses_url": f"{self.api}/repos/{r.full_name}/statuses/{p.head_sha}",
            "number": i.number,
            "state": i.state,
            "locked": False,
            "title": i.title,
            "user": self.simple_user(i.user),
            "body": i.body,
            "labels": [self.label(r, lb) for lb in r.labels if lb.name in i.labels],
            "milestone": self.milestone(r, ms) if ms else None,
            "active_lock_reason": None,
            "created_at": ts(i.created),
            "updated_at": ts(i.updated_at),
            "closed_at": ts(i.closed),
            "merged_at": ts(i.closed) if p.merged else None,
            "merge_commit_sha": p.head_sha if p.merged else None,
            "assignee": self.simple_user(i.assignees[0]) if i.assignees else None,
            "assignees": [self.simple_user(a) for a in i.assignees],
            "requested_reviewers": [],
            "requested_teams": [],
            "head": {
                "label": f"{r.owner.login}:{p.head_branch}",
                "ref": p.head_branch,
                "sha": p.head_sha,
                "user": self.simple_user(r.owner),
                "repo": repo_json,
            },
            "base": {
                "label": f"{r.owner.login}:{p.base_branch or r.default_branch}",
                "ref": p.base_branch or r.default_branch,
                "sha": p.base_sha,
                "user": self.simple_user(r.owner),
                "repo": repo_json,
            },
            "_links": {
                "self": {"href": base},
                "html": {"href": html},
                "issue": {"href": f"{self.api}/repos/{r.full_name}/issues/{i.number}"},
                "comments": {"href": f"{self.api}/repos/{r.full_name}/issues/{i.number}/comments"},
                "review_comments": {"href": f"{base}/comments"},
                "review_comment": {
                    "href": f"{self.api}/repos/{r.full_name}/pulls/comments{{/number}}"
                },
                "commits": {"href": f"{base}/commits"},
                "statuses": {"href": f"{self.api}/repos/{r.full_name}/statuses/{p.head_sha}"},
            },
            "author_association": "MEMBER",
            "auto_merge": None,
            "draft": False,
        }

    def review(self, r: Repo, i: Issue, v: Review) -> dict[str, Any]:
        html = f"{self.web}/{r.full_name}/pull/{i.number}#pullrequestreview-{v.id}"
        pr = f"{self.api}/repos/{r.full_name}/pulls/{i.number}"
        return {
            "id": v.id,
            "node_id": node_id("PullRequestReview", v.id),
            "user": self.simple_user(v.user),
            "body": v.body,
            "state": v.state,
            "html_url": html,
            "pull_request_url": pr,
            "_links": {"html": {"href": html}, "pull_request": {"href": pr}},
            "submitted_at": ts(v.submitted),
            "commit_id": v.commit,
            "author_association": "MEMBER",
        }

    def review_comment(self, r: Repo, i: Issue, c: ReviewComment) -> dict[str, Any]:
        url = f"{self.api}/repos/{r.full_name}/pulls/comments/{c.id}"
        html = f"{self.web}/{r.full_name}/pull/{i.number}#discussion_r{c.id}"
        pr = f"{self.api}/repos/{r.full_name}/pulls/{i.number}"
        return {
            "url": url,
            "pull_request_review_id": c.review_id,
            "id": c.id,
            "node_id": node_id("PullRequestReviewComment", c.id),
            "diff_hunk": "@@ -0,0 +1 @@\n+step 0",
            "path": c.path,
            "position": 1,
            "original_position": 1,
            "commit_id": c.commit,
            "original_commit_id": c.commit,
            "user": self.simple_user(c.user),
            "body": c.body,
            "created_at": ts(c.created),
            "updated_at": ts(c.created),
            "html_url": html,
            "pull_request_url": pr,
            "author_association": "MEMBER",
            "_links": {"self": {"href": url}, "html": {"href": html}, "pull_request": {"href": pr}},
            "reactions": self._reactions(url),
            "start_line": None,
            "original_start_line": None,
            "line": 1,
            "original_line": 1,
            "side": "RIGHT",
            "subject_type": "line",
        }

    def commit(self, r: Repo, sha: str) -> dict[str, Any]:
        c = r.extra_commits.get(sha) or r.template.commits[sha]
        base = f"{self.api}/repos/{r.full_name}"
        git_user = {"name": c.author, "email": c.email, "date": ts(c.timestamp)}
        return {
            "url": f"{base}/commits/{sha}",
            "sha": sha,
            "node_id": node_id("Commit", sha),
            "html_url": f"{self.web}/{r.full_name}/commit/{sha}",
            "comments_url": f"{base}/commits/{sha}/comments",
            "commit": {
                "url": f"{base}/git/commits/{sha}",
                "author": git_user,
                "committer": git_user,
                "message": c.message,
                "tree": {"sha": c.tree, "url": f"{base}/git/trees/{c.tree}"},
                "comment_count": 0,
                "verification": {
                    "verified": False,
                    "reason": "unsigned",
                    "signature": None,
                    "payload": None,
                    "verified_at": None,
                },
            },
            # Commit emails match no account here; the schema's form of "no user" is {}.
            "author": {},
            "committer": {},
            "parents": [
                {
                    "sha": p,
                    "url": f"{base}/commits/{p}",
                    "html_url": f"{self.web}/{r.full_name}/commit/{p}",
                }
                for p in c.parents
            ],
        }

    # ---- releases -------------------------------------------------------------------------
    def asset(self, r: Repo, a: Asset, uploader: User) -> dict[str, Any]:
        rel = next(x for x in r.releases if a in x.assets)
        return {
            "url": f"{self.api}/repos/{r.full_name}/releases/assets/{a.id}",
            "browser_download_url": f"{self.web}/{r.full_name}/releases/download/{rel.tag}/{a.name}",
            "id": a.id,
            "node_id": node_id("ReleaseAsset", a.id),
            "name": a.name,
            "label": a.label,
            "state": "uploaded",
            "content_type": a.content_type,
            "size": a.size,
            "digest": None,
            "download_count": 0,
            "created_at": ts(a.created),
            "updated_at": ts(a.created),
            "uploader": self.simple_user(uploader),
        }

    def release(self, r: Repo, rel: Release, author: User) -> dict[str, Any]:
        base = f"{self.api}/repos/{r.full_name}/releases/{rel.id}"
        return {
            "url": base,
            "html_url": f"{self.web}/{r.full_name}/releases/tag/{rel.tag}",
            "assets_url": f"{base}/assets",
            "upload_url": (self.uploads or f"{self.web}/api/uploads")
            + f"/repos/{r.full_name}/releases/{rel.id}/assets{{?name,label}}",
            "tarball_url": f"{self.api}/repos/{r.full_name}/tarball/{rel.tag}",
            "zipball_url": f"{self.api}/repos/{r.full_name}/zipball/{rel.tag}",
            "id": rel.id,
            "node_id": node_id("Release", rel.id),
            "tag_name": rel.tag,
            "target_commitish": r.default_branch,
            "name": rel.name,
            "body": rel.body if rel.body is not None else f"Notes for {rel.tag}",
            "draft": False,
            "prerelease": rel.prerelease,
            "immutable": False,
            "created_at": ts(rel.created),
            "published_at": ts(rel.created + 30),
            "updated_at": ts(rel.created + 30),
            "author": self.simple_user(author),
            "assets": [self.asset(r, a, author) for a in rel.assets],
        }

    # ---- misc -----------------------------------------------------------------------------
    def hook(self, r: Repo, h) -> dict[str, Any]:
        base = f"{self.api}/repos/{r.full_name}/hooks/{h.id}"
        return {
            "type": "Repository",
            "id": h.id,
            "name": "web",
            "active": True,
            "events": list(h.events),
            "config": {"content_type": "json", "insecure_ssl": "0", "url": h.url},
            "updated_at": ts(h.created),
            "created_at": ts(h.created),
            "url": base,
            "test_url": f"{base}/test",
            "ping_url": f"{base}/pings",
            "deliveries_url": f"{base}/deliveries",
            "last_response": {"code": None, "status": "unused", "message": None},
        }

    def branch(self, r: Repo, name: str, sha: str) -> dict[str, Any]:
        base = f"{self.api}/repos/{r.full_name}"
        return {
            "name": name,
            "commit": {"sha": sha, "url": f"{base}/commits/{sha}"},
            "protected": name in r.protected,
        }

    def protection(self, r: Repo, branch: str) -> dict[str, Any]:
        url = f"{self.api}/repos/{r.full_name}/branches/{branch}/protection"
        return {
            "url": url,
            "required_status_checks": {
                "url": f"{url}/required_status_checks",
                "strict": True,
                "contexts": ["ci/test"],
                "contexts_url": f"{url}/required_status_checks/contexts",
                "checks": [{"context": "ci/test", "app_id": None}],
            },
            "required_pull_request_reviews": {
                "url": f"{url}/required_pull_request_reviews",
                "dismiss_stale_reviews": True,
                "require_code_owner_reviews": False,
                "required_approving_review_count": 1,
                "require_last_push_approval": False,
            },
            "enforce_admins": {
                "url": f"{url}/enforce_admins",
                "enabled": r.protected.get(branch, False),
            },
            "required_linear_history": {"enabled": False},
            "allow_force_pushes": {"enabled": False},
            "allow_deletions": {"enabled": False},
            "block_creations": {"enabled": False},
            "required_conversation_resolution": {"enabled": False},
            "lock_branch": {"enabled": False},
            "allow_fork_syncing": {"enabled": False},
            "required_signatures": {"url": f"{url}/required_signatures", "enabled": False},
        }

    def gist(self, g: Gist, full: bool = False) -> dict[str, Any]:
        base = f"{self.api}/gists/{g.id}"
        files = {
            name: {
                "filename": name,
                "type": "application/x-python",
                "language": "Python",
                "raw_url": f"{self.web}/gist/{g.owner.login}/{g.id}/raw/{g.head}/{name}",
                "size": size,
            }
            for name, size in g.files.items()
        }
        d = {
            "url": base,
            "forks_url": f"{base}/forks",
            "commits_url": f"{base}/commits",
            "id": g.id,
            "node_id": node_id("Gist", g.id),
            "git_pull_url": f"{self.web}/gist/{g.id}.git",
            "git_push_url": f"{self.web}/gist/{g.id}.git",
            "html_url": f"{self.web}/gist/{g.id}",
            "files": files,
            "public": g.public,
            "created_at": ts(g.created),
            "updated_at": ts(g.created + 60),
            "description": g.description,
            "comments": 0,
            "comments_enabled": True,
            "user": None,
            "comments_url": f"{base}/comments",
            "owner": self.simple_user(g.owner),
            "truncated": False,
        }
        if full:
            d["forks"] = []
            d["history"] = []
        return d


def etag_for(body: bytes) -> str:
    return 'W/"' + hashlib.sha256(body).hexdigest()[:40] + '"'
