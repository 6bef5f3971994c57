"""The generated account: what exists on the fake GitHub, deterministic from a seed.

Everything here is plain data; ``render`` turns it into GitHub's JSON and ``standin`` creates
the git repositories it describes.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Literal

from tests.standin.gitrepos import BASE_TS, CommitInfo, TemplateInfo

OwnerType = Literal["Organization", "User"]


@dataclass(frozen=True)
class AccountSpec:
    """What to generate. The first repositories always cover the special kinds (see KINDS)."""

    owner: str = "acme"
    owner_type: OwnerType = "Organization"
    repositories: int = 5
    seed: int = 1
    gists: int = 2
    lfs: bool = True
    wikis: bool = True
    releases: bool = True
    followers: int = 3
    following: int = 2
    starred: int = 3
    watched: int = 3


# The first repositories of every account, in order, so small accounts still exercise every case.
KINDS = ("full", "lfs", "empty", "disabled", "archived-fork")


@dataclass
class User:
    login: str
    id: int
    type: str = "User"  # "User" | "Organization"
    name: str = ""


@dataclass
class Comment:
    id: int
    user: User
    body: str
    created: int


@dataclass
class Event:
    id: int
    event: str  # labeled | milestoned | closed | reopened
    actor: User
    created: int
    label: str | None = None
    milestone: str | None = None


@dataclass
class Issue:
    number: int
    id: int
    title: str
    body: str
    user: User
    state: str
    created: int
    closed: int | None
    labels: list[str]
    milestone: int | None
    comments: list[Comment] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    # Pull requests only:
    pull: PullInfo | None = None
    assignees: list[User] = field(default_factory=list)
    state_reason: str | None = None  # set by a write; a generated closed issue is "completed"
    # When a write last touched it (an edit, a comment, a label, a review), as GitHub moves
    # updated_at; None: as generated.
    updated: int | None = None

    @property
    def updated_at(self) -> int:
        return self.updated or (self.closed or self.created + 60)


@dataclass
class Review:
    id: int
    user: User
    state: str
    body: str
    commit: str
    submitted: int


@dataclass
class ReviewComment:
    id: int
    review_id: int
    user: User
    body: str
    path: str
    commit: str
    created: int


@dataclass
class PullInfo:
    head_branch: str
    head_sha: str
    base_sha: str
    merged: bool
    commits: list[str]
    reviews: list[Review] = field(default_factory=list)
    review_comments: list[ReviewComment] = field(default_factory=list)
    base_branch: str | None = None  # None: the repository's default branch


@dataclass
class Asset:
    id: int
    name: str
    size: int
    content_type: str
    seed: bytes  # content is generated from this, never stored whole
    created: int
    content: bytes | None = None  # an uploaded asset's bytes (generated ones use seed)
    label: str | None = None


@dataclass
class Release:
    id: int
    tag: str
    name: str
    target: str
    created: int
    prerelease: bool
    assets: list[Asset] = field(default_factory=list)
    body: str | None = None  # None: the generated "Notes for <tag>"


@dataclass
class Label:
    id: int
    name: str
    color: str
    description: str | None
    default: bool


@dataclass
class Milestone:
    id: int
    number: int
    title: str
    state: str
    created: int
    creator: User
    open_issues: int = 0
    closed_issues: int = 0
    description: str | None = None
    due_on: int | None = None


@dataclass
class Hook:
    id: int
    events: list[str]
    url: str
    created: int


@dataclass
class Repo:
    id: int
    owner: User
    name: str
    kind: str
    template: TemplateInfo
    private: bool
    description: str | None
    created: int
    has_issues: bool = True
    has_projects: bool = True
    has_wiki: bool = True
    has_pull_requests: bool = True
    wiki: TemplateInfo | None = None  # a wiki repository exists
    archived: bool = False
    fork: bool = False
    topics: list[str] = field(default_factory=list)
    protected: dict[str, bool] = field(default_factory=dict)  # branch -> enforce_admins
    hooks_access: int = 200  # 200, or 403/404 for a non-admin token as GitHub answers
    hooks: list[Hook] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    milestones: list[Milestone] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    releases: list[Release] = field(default_factory=list)
    branches: dict[str, str] = field(default_factory=dict)  # final heads (after variation)
    tags: dict[str, str] = field(default_factory=dict)
    extra_commits: dict[str, CommitInfo] = field(default_factory=dict)
    lfs: bool = False
    homepage: str | None = None
    created_by_api: bool = False  # made by POST .../repos: its git content comes from pushes

    @property
    def full_name(self) -> str:
        return f"{self.owner.login}/{self.name}"

    @property
    def default_branch(self) -> str:
        return self.template.default_branch

    @property
    def empty(self) -> bool:
        return self.template.empty

    @property
    def pushed(self) -> int:
        return self.created + 86400 * 30


@dataclass
class Gist:
    id: str
    owner: User
    description: str
    public: bool
    created: int
    files: dict[str, int]  # name -> size
    head: str = ""


@dataclass
class Account:
    spec: AccountSpec
    owner: User
    viewer: User  # the token's user; owner (User) or admin member (Organization)
    repos: list[Repo]
    gists: list[Gist]
    followers: list[User]
    following: list[User]
    starred: list[Repo]
    watched: list[Repo]
    users: dict[str, User]

    def repo(self, full_name: str) -> Repo | None:
        return self._by_name.get(full_name.lower())

    def repo_by_id(self, repo_id: int) -> Repo | None:
        return self._by_id.get(repo_id)

    def index(self) -> None:
        self._by_name = {r.full_name.lower(): r for r in self.repos}
        self._by_id = {r.id: r for r in self.repos}
        self._assets = {a.id: (r, a) for r in self.repos for rel in r.releases for a in rel.assets}
        self._gists = {g.id: g for g in self.gists}

    def asset(self, asset_id: int) -> tuple[Repo, Asset] | None:
        return self._assets.get(asset_id)

    def gist(self, gist_id: str) -> Gist | None:
        return self._gists.get(gist_id)


def asset_chunks(asset: Asset, start: int = 0, chunk: int = 1 << 16):
    """An asset's bytes, generated on the fly (a 1 GB asset is never held in memory)."""
    if asset.content is not None:
        for pos in range(start, len(asset.content), chunk):
            yield asset.content[pos : pos + chunk]
        return
    block = hashlib.sha512(asset.seed).digest() * 1024  # 64 KiB pattern
    pos = start
    while pos < asset.size:
        off = pos % len(block)
        n = min(chunk, asset.size - pos, len(block) - off)
        yield block[off : off + n]
        pos += n


def generate(spec: AccountSpec, tmpl: dict[str, TemplateInfo]) -> Account:
    """Build the account's data; git repositories are made from it afterwards."""
    rng = random.Random(f"standin:{spec.seed}:{spec.owner}")
    ids = iter(range(1_000_000 + spec.seed * 100_000_000, 10**12))

    def nid() -> int:
        return next(ids)

    is_org = spec.owner_type == "Organization"
    owner = User(spec.owner, nid(), "Organization" if is_org else "User", spec.owner.title())
    viewer = User(f"{spec.owner}-admin", nid(), name="Admin") if is_org else owner
    others = [User(f"{spec.owner}-user-{i:02d}", nid()) for i in range(8)]
    people = [viewer, *others]
    users = {u.login.lower(): u for u in [owner, viewer, *others]}

    width = max(3, len(str(spec.repositories - 1)))
    repos: list[Repo] = []
    for i in range(spec.repositories):
        kind = KINDS[i] if i < len(KINDS) else "random"
        if kind == "lfs" and not spec.lfs:
            kind = "full"
        if kind == "random":
            roll = rng.random()
            template = (
                "empty"
                if roll < 0.03
                else "lfs"
                if spec.lfs and roll < 0.10
                else "large"
                if roll < 0.18
                else "medium"
                if roll < 0.55
                else "small"
            )
        else:
            template = {"full": "medium", "lfs": "lfs", "empty": "empty"}.get(kind, "small")
        repo = Repo(
            id=nid(),
            owner=owner,
            name=f"repo-{i:0{width}d}",
            kind=kind,
            template=tmpl[template],
            private=(i % 3 == 1),
            description=None if i % 7 == 3 else f"Generated repository {i}",
            created=BASE_TS + i * 3600,
            lfs=template == "lfs",
        )
        if kind == "disabled":
            repo.has_issues = repo.has_wiki = repo.has_projects = False
            repo.has_pull_requests = False
        elif kind == "archived-fork":
            repo.archived = repo.fork = True
        elif kind == "random":
            repo.has_issues = rng.random() > 0.1
            repo.has_wiki = rng.random() > 0.2
            repo.archived = rng.random() < 0.05
            repo.fork = rng.random() < 0.08
        if spec.wikis and repo.has_wiki and (kind == "full" or rng.random() < 0.4):
            repo.wiki = tmpl["wiki"]
        _fill_repo(repo, rng, nid, people, spec)
        repos.append(repo)

    gists = []
    for g in range(spec.gists):
        gid = hashlib.sha1(f"{spec.seed}:{spec.owner}:gist:{g}".encode()).hexdigest()[:20]  # noqa: S324
        gists.append(
            Gist(
                gid,
                viewer if is_org else owner,
                f"Gist {g}",
                g % 2 == 0,
                BASE_TS + g * 7200,
                {"hello.py": 21},
            )
        )
    account = Account(
        spec=spec,
        owner=owner,
        viewer=viewer,
        repos=repos,
        gists=gists,
        followers=others[: spec.followers],
        following=others[-spec.following :] if spec.following else [],
        starred=[r for r in repos if not r.private][: spec.starred],
        watched=repos[: spec.watched],
        users=users,
    )
    account.index()
    return account


def _fill_repo(repo: Repo, rng: random.Random, nid, people: list[User], spec: AccountSpec) -> None:
    t = repo.template
    repo.topics = rng.sample(["backup", "python", "aws", "git", "cli", "demo"], rng.randint(0, 3))
    repo.hooks_access = 200 if repo.kind in ("full", "lfs") or rng.random() < 0.7 else 404
    if repo.hooks_access == 200 and rng.random() < 0.6:
        repo.hooks = [
            Hook(nid(), ["push", "pull_request"], "https://ci.example.com/hook", repo.created + 100)
        ]
    repo.labels = [
        Label(nid(), name, color, desc, default)
        for name, color, desc, default in [
            ("bug", "d73a4a", "Something isn't working", True),
            ("enhancement", "a2eeef", "New feature or request", True),
            ("question", "d876e3", None, True),
            (f"area-{rng.randint(1, 9)}", "0e8a16", "Component", False),
        ]
    ]
    repo.milestones = [
        Milestone(
            nid(),
            n,
            f"Milestone {n}",
            "closed" if n == 1 else "open",
            repo.created + n * 500,
            people[0],
            description=f"Goals for Milestone {n}",
        )
        for n in range(1, 1 + (2 if repo.kind == "full" else rng.randint(0, 2)))
    ]
    if t.empty:
        return
    if t.branches and repo.kind != "disabled" and (repo.kind == "full" or rng.random() < 0.5):
        repo.protected[t.default_branch] = rng.random() < 0.5

    number = 0
    clock = repo.created + 1000
    if repo.has_issues:
        n_issues = 4 if repo.kind == "full" else rng.randint(0, 6)
        for _ in range(n_issues):
            number += 1
            clock += 3600
            closed = rng.random() < 0.4
            issue = Issue(
                number=number,
                id=nid(),
                title=f"Issue {number} in {repo.name}",
                body=f"Steps to reproduce {number}.",
                user=rng.choice(people),
                state="closed" if closed else "open",
                created=clock,
                closed=clock + 7200 if closed else None,
                labels=rng.sample([lb.name for lb in repo.labels], rng.randint(0, 2)),
                milestone=rng.choice(repo.milestones).number
                if repo.milestones and rng.random() < 0.5
                else None,
            )
            _conversation(issue, rng, nid, people)
            repo.issues.append(issue)

    feature_branches = [b for b in t.branches if b != t.default_branch]
    if repo.has_pull_requests and feature_branches:
        n_pulls = min(len(feature_branches), 3 if repo.kind == "full" else rng.randint(0, 3))
        for k in range(n_pulls):
            number += 1
            clock += 3600
            branch = feature_branches[k]
            state = ("open", "merged", "closed")[k % 3]
            closed = state != "open"
            commits = t.branch_only_commits(branch)
            base_sha = t.commits[commits[0]].parents[0] if commits else t.branches[t.default_branch]
            pull = PullInfo(branch, t.branches[branch], base_sha, state == "merged", commits)
            issue = Issue(
                number=number,
                id=nid(),
                title=f"Pull request {number}: {branch}",
                body=f"Implements {branch}.",
                user=rng.choice(people),
                state="closed" if closed else "open",
                created=clock,
                closed=clock + 5000 if closed else None,
                labels=[],
                milestone=None,
                pull=pull,
            )
            _conversation(issue, rng, nid, people)
            for r in range(rng.randint(1, 2)):
                review = Review(
                    nid(),
                    rng.choice(people),
                    ("APPROVED", "COMMENTED", "CHANGES_REQUESTED")[r % 3],
                    f"Review {r}",
                    pull.head_sha,
                    clock + 600 + r,
                )
                pull.reviews.append(review)
                for c in range(rng.randint(0, 2)):
                    pull.review_comments.append(
                        ReviewComment(
                            nid(),
                            review.id,
                            review.user,
                            f"Nit {c}",
                            f"features/{branch.replace('feature-', 'f')}.txt",
                            pull.head_sha,
                            clock + 700 + c,
                        )
                    )
            repo.issues.append(issue)

    for m in repo.milestones:
        for issue in repo.issues:
            if issue.milestone == m.number:
                if issue.state == "open":
                    m.open_issues += 1
                else:
                    m.closed_issues += 1

    if spec.releases and t.tags and (repo.kind == "full" or rng.random() < 0.6):
        for k, (tag, sha) in enumerate(sorted(t.tags.items())[-2:]):
            rel = Release(
                nid(), tag, f"Release {tag}", sha, clock + 9000 + k, k == 1 and rng.random() < 0.3
            )
            for a in range(1 if repo.kind != "full" else 2):
                rel.assets.append(
                    Asset(
                        nid(),
                        f"{repo.name}-{tag}-{a}.bin",
                        rng.randint(1000, 50_000),
                        "application/octet-stream",
                        f"{repo.full_name}:{tag}:{a}".encode(),
                        clock + 9100,
                    )
                )
            repo.releases.append(rel)


def _conversation(issue: Issue, rng: random.Random, nid, people: list[User]) -> None:
    for c in range(rng.randint(0, 3)):
        issue.comments.append(
            Comment(
                nid(),
                rng.choice(people),
                f"Comment {c} on #{issue.number}",
                issue.created + 60 * (c + 1),
            )
        )
    if issue.labels:
        issue.events.append(
            Event(nid(), "labeled", issue.user, issue.created + 5, label=issue.labels[0])
        )
    if issue.milestone is not None:
        issue.events.append(
            Event(
                nid(),
                "milestoned",
                issue.user,
                issue.created + 6,
                milestone=f"Milestone {issue.milestone}",
            )
        )
    if issue.state == "closed":
        issue.events.append(Event(nid(), "closed", rng.choice(people), issue.closed or 0))
