"""Server-side bare repositories for the stand-in: a few templates built once, then copied.

Building a repository with git for each of 2,000 generated repositories would take minutes, so a
handful of templates are made with ``git fast-import`` (fixed dates, so the same object ids every
time) and each generated repository is a copy of one of them plus one commit of its own, written
straight into the object store as a loose object. That keeps every repository's refs distinct
(a backup that mixed two repositories up would be caught) at the cost of a file copy.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path

GIT_ENV = {
    **os.environ,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_TERMINAL_PROMPT": "0",
    "LC_ALL": "C",
}

BASE_TS = 1577836800  # 2020-01-01T00:00:00Z: fixed so object ids never change

# Bump when templates change so a stale process-wide cache is not reused.
TEMPLATE_VERSION = "3"


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    tree: str
    parents: tuple[str, ...]
    author: str
    email: str
    timestamp: int
    message: str


@dataclass
class TemplateInfo:
    """What the API needs to know about a template's git content."""

    name: str
    path: Path
    default_branch: str
    branches: dict[str, str] = field(default_factory=dict)  # name -> head sha
    tags: dict[str, str] = field(default_factory=dict)  # name -> commit sha (peeled)
    commits: dict[str, CommitInfo] = field(default_factory=dict)
    lfs_objects: dict[str, bytes] = field(default_factory=dict)  # oid -> content
    size_kb: int = 0

    @property
    def empty(self) -> bool:
        return not self.branches

    def ancestors(self, sha: str) -> list[str]:
        """Commits reachable from ``sha``, newest first (first-parent order is enough here)."""
        seen: list[str] = []
        stack = [sha]
        visited: set[str] = set()
        while stack:
            cur = stack.pop()
            if cur in visited or cur not in self.commits:
                continue
            visited.add(cur)
            seen.append(cur)
            stack.extend(reversed(self.commits[cur].parents))
        return seen

    def branch_only_commits(self, branch: str) -> list[str]:
        """``git rev-list default..branch``, oldest first (the order GitHub lists PR commits)."""
        base = set(self.ancestors(self.branches[self.default_branch]))
        own = [c for c in self.ancestors(self.branches[branch]) if c not in base]
        return list(reversed(own))


def _git(args: list[str], cwd: Path, stdin: bytes | None = None) -> str:
    out = subprocess.run(
        ["git", *args], cwd=cwd, input=stdin, env=GIT_ENV, capture_output=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"git {args[0]} failed: {out.stderr.decode(errors='replace')}")
    return out.stdout.decode()


def _lfs_pointer(content: bytes) -> tuple[str, bytes]:
    oid = hashlib.sha256(content).hexdigest()
    pointer = (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {len(content)}\n"
    ).encode()
    return oid, pointer


class _Stream:
    """Writes a git fast-import stream."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.mark = 0
        self.clock = BASE_TS

    def _data(self, payload: bytes) -> None:
        self.parts.append(b"data %d\n" % len(payload) + payload + b"\n")

    def commit(
        self, ref: str, message: str, files: dict[str, bytes], parent: int | None = None
    ) -> int:
        self.mark += 1
        self.clock += 3607
        who = b"Mona Lisa <mona@example.com> %d +0000\n" % self.clock
        self.parts.append(f"commit {ref}\nmark :{self.mark}\n".encode())
        self.parts.append(b"author " + who + b"committer " + who)
        self._data(message.encode() + b"\n")
        if parent is not None:
            self.parts.append(f"from :{parent}\n".encode())
        for path, content in files.items():
            self.parts.append(f"M 100644 inline {path}\n".encode())
            self._data(content)
        return self.mark

    def tag(self, name: str, target: int, annotated: bool) -> None:
        if annotated:
            self.clock += 60
            self.parts.append(f"tag {name}\nfrom :{target}\n".encode())
            self.parts.append(b"tagger Mona Lisa <mona@example.com> %d +0000\n" % self.clock)
            self._data(f"Release {name}\n".encode())
        else:
            self.parts.append(f"reset refs/tags/{name}\nfrom :{target}\n\n".encode())

    def bytes(self) -> bytes:
        return b"".join(self.parts) + b"done\n"


def _history(
    stream: _Stream,
    main: str,
    n_main: int,
    branches: int,
    per_branch: int,
    tags: int,
    payload: int = 0,
) -> None:
    marks = []
    parent = None
    for i in range(n_main):
        files = {
            "README.md": f"# Project\n\nRevision {i}\n".encode(),
            f"src/module_{i % 17}.py": f"VALUE = {i}\n".encode() * (1 + i % 5),
        }
        if payload and i % 10 == 0:
            files[f"data/blob_{i}.dat"] = hashlib.sha256(str(i).encode()).digest() * payload
        parent = stream.commit(f"refs/heads/{main}", f"Change {i} on {main}", files, parent)
        marks.append(parent)
    for b in range(branches):
        base = marks[(b * 7) % len(marks)]
        p = base
        for j in range(per_branch):
            p = stream.commit(
                f"refs/heads/feature-{b}",
                f"Feature {b} step {j}",
                {f"features/f{b}.txt": f"step {j}\n".encode()},
                p,
            )
    for t in range(tags):
        stream.tag(
            f"v0.{t}.0",
            marks[min(len(marks) - 1, (t + 1) * len(marks) // (tags + 1))],
            annotated=t % 2 == 0,
        )


def _build(path: Path, name: str, stream: _Stream, default_branch: str) -> TemplateInfo:
    _git(
        ["init", "--quiet", "--bare", f"--initial-branch={default_branch}", str(path)], path.parent
    )
    if stream.parts:
        _git(["fast-import", "--quiet"], path, stdin=stream.bytes())
        _git(["pack-refs", "--all"], path)
    return _read_info(path, name, default_branch)


def _read_info(path: Path, name: str, default_branch: str) -> TemplateInfo:
    info = TemplateInfo(name=name, path=path, default_branch=default_branch)
    refs = _git(
        ["for-each-ref", "--format=%(refname)%00%(objectname)%00%(*objectname)"], path
    ).splitlines()
    for line in refs:
        ref, obj, peeled = line.split("\0")
        if ref.startswith("refs/heads/"):
            info.branches[ref[len("refs/heads/") :]] = obj
        elif ref.startswith("refs/tags/"):
            info.tags[ref[len("refs/tags/") :]] = peeled or obj
    if info.branches:
        log = _git(["log", "--all", "--format=%H%x00%T%x00%P%x00%an%x00%ae%x00%at%x00%s"], path)
        for line in log.splitlines():
            sha, tree, parents, an, ae, at, subject = line.split("\0")
            info.commits[sha] = CommitInfo(
                sha, tree, tuple(parents.split()), an, ae, int(at), subject
            )
    info.size_kb = max(1, sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) // 1024)
    return info


def build_templates(dest: Path) -> dict[str, TemplateInfo]:
    """Make every template under ``dest`` (a few seconds) and describe them."""
    dest.mkdir(parents=True, exist_ok=True)
    out: dict[str, TemplateInfo] = {}

    s = _Stream()
    _history(s, "main", 3, 1, 1, 1)
    out["small"] = _build(dest / "small.git", "small", s, "main")

    s = _Stream()
    _history(s, "main", 30, 3, 3, 3)
    out["medium"] = _build(dest / "medium.git", "medium", s, "main")

    s = _Stream()
    _history(s, "main", 300, 6, 5, 6, payload=64)
    out["large"] = _build(dest / "large.git", "large", s, "main")

    s = _Stream()
    lfs_objects: dict[str, bytes] = {}
    parent = None
    for i in range(3):
        content = hashlib.sha512(f"lfs object {i}".encode()).digest() * (200 * (i + 1))
        oid, pointer = _lfs_pointer(content)
        lfs_objects[oid] = content
        files = {f"assets/model_{i}.bin": pointer, "README.md": f"LFS demo {i}\n".encode()}
        if i == 0:
            files[".gitattributes"] = b"*.bin filter=lfs diff=lfs merge=lfs -text\n"
        parent = s.commit("refs/heads/main", f"Add model {i}", files, parent)
    s.commit("refs/heads/feature-0", "Tweak readme", {"README.md": b"LFS demo tweak\n"}, parent)
    s.tag("v0.0.0", parent, annotated=True)
    out["lfs"] = _build(dest / "lfs.git", "lfs", s, "main")
    out["lfs"].lfs_objects = lfs_objects

    s = _Stream()
    p = s.commit("refs/heads/master", "Initial Home", {"Home.md": b"# Welcome\n"})
    s.commit("refs/heads/master", "Add Usage page", {"Usage.md": b"# Usage\n\nRun it.\n"}, p)
    out["wiki"] = _build(dest / "wiki.git", "wiki", s, "master")

    s = _Stream()
    p = s.commit("refs/heads/main", "", {"hello.py": b"print('hello')\n"})
    s.commit("refs/heads/main", "", {"hello.py": b"print('hello, world')\n"}, p)
    out["gist"] = _build(dest / "gist.git", "gist", s, "main")

    out["empty"] = _build(dest / "empty.git", "empty", _Stream(), "main")
    return out


_CACHE_LOCK = threading.Lock()
_CACHE: dict[str, TemplateInfo] | None = None


def templates() -> dict[str, TemplateInfo]:
    """Templates built once per process (tests start many stand-ins)."""
    global _CACHE
    with _CACHE_LOCK:
        if _CACHE is None:
            where = Path(tempfile.mkdtemp(prefix=f"standin-templates-v{TEMPLATE_VERSION}-"))
            _CACHE = build_templates(where)
        return _CACHE


def write_commit(repo: Path, tree: str, parent: str, message: str, timestamp: int) -> str:
    """Write one commit as a loose object (no git process) and return its id."""
    who = f"Stand In <standin@example.com> {timestamp} +0000"
    body = f"tree {tree}\nparent {parent}\nauthor {who}\ncommitter {who}\n\n{message}\n".encode()
    raw = b"commit %d\0" % len(body) + body
    sha = hashlib.sha1(raw).hexdigest()  # noqa: S324 - git's object id
    obj = repo / "objects" / sha[:2] / sha[2:]
    obj.parent.mkdir(exist_ok=True)
    obj.write_bytes(zlib.compress(raw))
    return sha


def set_ref(repo: Path, ref: str, sha: str) -> None:
    """Write a loose ref (it takes precedence over packed-refs)."""
    path = repo / ref
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sha + "\n")


def copy_template(template: TemplateInfo, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(template.path, dest, symlinks=True)
