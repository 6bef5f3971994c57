"""The HTTP side of the stand-in: REST API, git smart HTTP (git-http-backend as CGI), LFS
(giftless mounted as WSGI) and the release-asset download host, on one threaded server.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import io
import json
import math
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from tests.standin import graphql, openapi, render, writes
from tests.standin.faults import PRIMARY_DOCS, SECONDARY_DOCS, SECONDARY_MESSAGE, Faults
from tests.standin.model import Account, Repo, asset_chunks

GIT_HTTP_BACKEND = "/usr/lib/git-core/git-http-backend"
DOCS = "https://docs.github.com/rest"
CORE_LIMIT = 5000
ANON_LIMIT = 60


class HttpError(Exception):
    def __init__(
        self, status: int, message: str, docs: str = DOCS, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"message": message, "documentation_url": docs, "status": str(status)}
        self.headers = headers or {}


@dataclass
class Page:
    """A list answer, paginated by the dispatcher; ``link_path`` is what rel links point at."""

    items: list[Any]
    render: Callable[[Any], Any]
    link_path: str | None = None


@dataclass
class Budget:
    limit: int
    used: int = 0
    reset: int = field(default_factory=lambda: int(time.time()) + 3600)


@dataclass
class ContentLimits:
    """GitHub's secondary limits on content-creating requests (POST, PATCH, PUT, DELETE):
    "no more than 80 content-generating requests per minute and no more than 500 content-
    generating requests per hour". Tests set them lower."""

    per_minute: int = 80
    per_hour: int = 500


@dataclass
class Caller:
    token: str | None
    login: str | None
    admin: bool


class StandInState:
    """Shared, lock-protected server state (budgets, log) plus the account."""

    def __init__(
        self,
        account: Account,
        tokens: dict[str, Caller],
        git_root: Path,
        faults: Faults,
    ) -> None:
        self.account = account
        self.tokens = tokens
        self.git_root = git_root
        self.faults = faults
        self.lock = threading.Lock()
        self.budgets: dict[str, Budget] = {}
        self.request_log: list[tuple[str, str, int]] = []
        self.git_log: list[tuple[str, str, int]] = []
        self.urls: render.Urls | None = None
        self.signing_key = os.urandom(16)
        self.lfs_app: Any = None
        # Writes: ids for created objects, the content-creation windows (on ``clock``, which
        # a test may replace with a fake one) and the request-body validator.
        self.clock: Callable[[], float] = time.time
        self.content_limits = ContentLimits()
        self._content_times: dict[str, deque[float]] = {}
        self._next_id = 5 * 10**11
        self.request_validator: openapi.RequestValidator | None = None
        self.writes_refused = 0
        self.graphql_points = 0  # every GraphQL point charged (benchmarks read it)

    def new_id(self) -> int:
        """An id for a created object (callers hold ``lock``)."""
        self._next_id += 1
        return self._next_id

    def content_wait(self, key: str) -> int | None:
        """Seconds to wait before ``key`` may create content, or None (then it is counted)."""
        with self.lock:
            now = self.clock()
            times = self._content_times.setdefault(key, deque())
            while times and times[0] <= now - 3600:
                times.popleft()
            recent = [t for t in times if t > now - 60]
            if len(recent) >= self.content_limits.per_minute:
                return max(1, math.ceil(recent[0] + 60 - now))
            if len(times) >= self.content_limits.per_hour:
                return max(1, math.ceil(times[0] + 3600 - now))
            times.append(now)
            return None

    def budget(self, key: str, limit: int) -> Budget:
        with self.lock:
            b = self.budgets.get(key)
            now = time.time()
            if b is None or now >= b.reset:
                b = self.budgets[key] = Budget(limit)
            return b

    def spend(self, key: str, limit: int) -> Budget:
        b = self.budget(key, limit)
        with self.lock:
            b.used += 1
        return b

    def log(self, entry: tuple[str, str, int], git: bool = False) -> None:
        with self.lock:
            (self.git_log if git else self.request_log).append(entry)

    def sign(self, text: str) -> str:
        return hmac.new(self.signing_key, text.encode(), hashlib.sha256).hexdigest()[:32]


# giftless keeps its transfer adapters (and with them the storage path) in one module-global
# registry that every init_app overwrites: with a second stand-in in the process, the first
# one's batch requests looked in the second one's storage ("Cannot find any of the requested
# objects"). Each stand-in's app therefore runs with its own adapters swapped in, one
# request at a time (LFS requests are few and small here).
_giftless_lock = threading.Lock()


def make_lfs_app(storage: Path) -> Callable[..., Any]:
    """giftless as a WSGI app storing under ``storage/<org>/<repo>/<oid>``."""
    from giftless import transfer

    with _giftless_lock:
        app = _init_giftless(storage)
        adapters = dict(transfer._registered_adapters)

    def isolated(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with _giftless_lock:
            transfer._registered_adapters.clear()
            transfer._registered_adapters.update(adapters)
            result = app(environ, start_response)
            try:
                return [b"".join(result)]
            finally:
                close = getattr(result, "close", None)
                if close:
                    close()

    return isolated


def _init_giftless(storage: Path) -> Any:
    from giftless.app import init_app

    return init_app(
        additional_config={
            "LEGACY_ENDPOINTS": False,
            # The stand-in checks GitHub credentials and write access itself (serve_lfs).
            "AUTH_PROVIDERS": ["giftless.auth.allow_anon:read_write"],
            "TRANSFER_ADAPTERS": {
                "basic": {
                    "factory": "giftless.transfer.basic_streaming:factory",
                    "options": {
                        "storage_class": "giftless.storage.local_storage:LocalStorage",
                        "storage_options": {"path": str(storage)},
                    },
                }
            },
            "PRE_AUTHORIZED_ACTION_PROVIDER": {
                "factory": "giftless.auth.jwt:factory",
                "options": {"algorithm": "HS256", "private_key": uuid.uuid4().hex},
            },
        }
    )


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(
        self,
        addr: tuple[str, int],
        state: StandInState,
        tls: ssl.SSLContext | None = None,
        uploads: bool = False,
    ) -> None:
        self.state = state
        self.tls = tls
        self.uploads = uploads  # the release-asset upload host (GitHub's uploads.github.com)
        super().__init__(addr, Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs in the request's own thread, not in the accept loop.
        if self.tls is not None:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | ssl.SSLError | TimeoutError):
            return
        super().handle_error(request, client_address)


_GIT_PATH = re.compile(r"^/(?P<repo>(?:gist/[^/]+|[^/]+/[^/]+?)\.git)(?P<rest>/.*)?$")
_REPO_SUB = re.compile(
    r"^/(?:repos/(?P<o>[^/]+)/(?P<n>[^/]+)|repositories/(?P<id>\d+))(?P<sub>/.*)?$"
)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm on, the body waits
    # for the client's delayed ACK (~40 ms) on every keep-alive request. GitHub has no such
    # stall, so neither may its stand-in.
    disable_nagle_algorithm = True
    server: Server
    server_version = "GitHub.com"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    @property
    def state(self) -> StandInState:
        return self.server.state

    # ---- plumbing -------------------------------------------------------------------------
    def do_GET(self) -> None:
        self.route()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_response(self, code: int, message: str | None = None) -> None:
        # Log before the response leaves, so a client that reads the log afterwards sees it.
        pending = getattr(self, "_pending_log", None)
        if pending is not None:
            self.state.log((self.command, self.path, code), git=pending == "git")
            self._pending_log = None
        super().send_response(code, message)

    def send(
        self,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json; charset=utf-8",
    ) -> None:
        self.send_response(status)
        hdrs = {"Content-Type": content_type, **(headers or {})}
        for k, v in hdrs.items():
            self.send_header(k, v)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and status != 304:
            self.wfile.write(body)

    def cut(self) -> None:
        """Drop the connection as a network failure would."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def credentials(self) -> tuple[str | None, bool]:
        """(token, present): the token from ``token X``, ``Bearer X`` or Basic user:token."""
        h = self.headers.get("Authorization")
        if not h:
            return None, False
        scheme, _, value = h.partition(" ")
        scheme = scheme.lower()
        if scheme in ("token", "bearer"):
            return value.strip(), True
        if scheme == "basic":
            try:
                user, _, password = base64.b64decode(value.strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None, True
            # GitHub accepts the token as the password (x-access-token:TOKEN) or, in the
            # OAuth form python-github-backup uses, as the user with "x-oauth-basic".
            if password in ("", "x-oauth-basic"):
                return user, True
            return password, True
        return None, True

    def route(self) -> None:
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        prefix = ""
        if path == "/api/v3" or path.startswith("/api/v3/"):
            prefix, path = "/api/v3", path[len("/api/v3") :] or "/"
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            if self.server.uploads:
                return self.serve_upload(path, query)
            if path.startswith("/_objects/release-assets/"):
                return self.serve_download(path, query)
            m = _GIT_PATH.match(path)
            if m and not prefix:
                if "/info/lfs/" in (m.group("rest") or ""):
                    return self.serve_lfs(m.group("repo"), path, parts.query)
                return self.serve_git(m.group("repo"), m.group("rest") or "/", parts.query)
            m = re.match(r"^/([^/]+)/([^/]+)/releases/download/([^/]+)/([^/]+)$", path)
            if m and not prefix:
                return self.serve_browser_download(*m.groups())
            if path in ("/graphql", "/api/graphql") and not prefix:
                return self.serve_graphql()
            return self.serve_api(prefix, path, query)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # ---- REST API -------------------------------------------------------------------------
    def caller(self) -> Caller:
        token, present = self.credentials()
        if not present:
            return Caller(None, None, False)
        if token is None or self.state.faults.is_revoked(token) or token not in self.state.tokens:
            raise HttpError(401, "Bad credentials")
        return self.state.tokens[token]

    def logical_path(self, path: str) -> str:
        m = re.match(r"^/repositories/(\d+)(/.*)?$", path)
        if m:
            repo = self.state.account.repo_by_id(int(m.group(1)))
            if repo is not None:
                return f"/repos/{repo.full_name}{m.group(2) or ''}"
        return path

    def rate_headers(self, b: Budget) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(b.limit),
            "X-RateLimit-Remaining": str(max(0, b.limit - b.used)),
            "X-RateLimit-Used": str(min(b.used, b.limit)),
            "X-RateLimit-Reset": str(b.reset),
            "X-RateLimit-Resource": "core",
        }

    def serve_api(self, prefix: str, path: str, query: dict[str, str]) -> None:
        self._body = self.read_body()
        self._pending_log = "api"
        self._serve_api(prefix, path, query)

    def serve_graphql(self) -> None:
        """GitHub's GraphQL endpoint (tests/standin/graphql.py): points by the documented
        formula from a budget of their own; a query GitHub would refuse costs nothing."""
        self._body = self.read_body()
        self._pending_log = "api"
        if self.command != "POST":
            self.send_json(404, {"message": "Not Found"}, {})
            return
        try:
            caller = self.caller()
        except HttpError as e:
            self.send_json(e.status, e.body, {})
            return
        if caller.token is None:
            self.send_json(401, {"message": "This endpoint requires you to be authenticated."}, {})
            return
        try:
            document = graphql.parse_and_validate(
                json.loads(self._body or b"{}").get("query") or ""
            )
        except (graphql.GraphQLError, ValueError, AttributeError) as exc:
            self.send_json(200, {"errors": [{"message": str(exc)}]}, {})
            return
        _, points = graphql.cost(document)
        key = f"graphql:{caller.token}"
        budget = self.state.budget(key, graphql.GRAPHQL_LIMIT)
        with self.state.lock:
            if budget.used + points > budget.limit:
                refused = True
            else:
                refused, budget.used = False, budget.used + points
                self.state.graphql_points += points
        headers = {
            "X-RateLimit-Limit": str(budget.limit),
            "X-RateLimit-Remaining": str(max(0, budget.limit - budget.used)),
            "X-RateLimit-Reset": str(budget.reset),
            "X-RateLimit-Resource": "graphql",
        }
        if refused:
            body = {"errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded"}]}
            self.send_json(200, body, headers)
            return
        remaining = max(0, budget.limit - budget.used)
        self.send_json(
            200, graphql.execute(document, self.state.account, points, remaining), headers
        )

    def serve_upload(self, path: str, query: dict[str, str]) -> None:
        """The uploads host: only release-asset uploads, with the API's auth and limits."""
        self._body = self.read_body()
        self._pending_log = "api"
        self._serve_api("", path, query)

    def _serve_api(self, prefix: str, path: str, query: dict[str, str]) -> int:
        st = self.state
        logical = self.logical_path(path)
        request_id = uuid.uuid4().hex[:8].upper() + ":" + uuid.uuid4().hex[:6].upper()
        common = {"X-GitHub-Request-Id": request_id, "X-GitHub-Api-Version-Selected": "2022-11-28"}
        delay = st.faults.delay_ms("api", logical)
        if delay:
            time.sleep(delay / 1000)
        try:
            caller = self.caller()
        except HttpError as e:
            b = st.budget(f"ip:{self.client_address[0]}", ANON_LIMIT)
            return self.send_json(e.status, e.body, {**common, **self.rate_headers(b)})
        key = f"token:{caller.token}" if caller.token else f"ip:{self.client_address[0]}"
        limit = CORE_LIMIT if caller.token else ANON_LIMIT
        budget = st.budget(key, limit)

        fault = st.faults.take(("server_error",), "api", logical)
        if fault:
            body = (
                {"message": "Server Error"}
                if fault.status == 500
                else {"message": "Service Unavailable" if fault.status == 503 else "Bad Gateway"}
            )
            return self.send_json(fault.status, body, {**common, **self.rate_headers(budget)})
        fault = st.faults.take(("too_many", "secondary"), "api", logical)
        if fault:
            hdrs = {**common, **self.rate_headers(budget)}
            if fault.retry_after is not None:
                hdrs["Retry-After"] = str(fault.retry_after)
            body = {
                "message": SECONDARY_MESSAGE.format(request_id=request_id),
                "documentation_url": SECONDARY_DOCS,
            }
            return self.send_json(fault.status, body, hdrs)
        reset = st.faults.primary_exhausted()
        if reset is not None or budget.used >= budget.limit:
            hdrs = {**common, **self.rate_headers(budget)}
            hdrs["X-RateLimit-Remaining"] = "0"
            hdrs["X-RateLimit-Used"] = str(budget.limit)
            if reset is not None:
                hdrs["X-RateLimit-Reset"] = str(int(reset) + 1)
            who = (
                f"user ID {st.account.users[caller.login.lower()].id}"
                if caller.login
                else self.client_address[0]
            )
            body = {
                "message": f"API rate limit exceeded for {who}.",
                "documentation_url": PRIMARY_DOCS,
            }
            return self.send_json(403, body, hdrs)

        if self.command in ("POST", "PATCH", "PUT", "DELETE"):
            wait = st.content_wait(key)
            if wait is not None:
                with st.lock:
                    st.writes_refused += 1
                body = {
                    "message": SECONDARY_MESSAGE.format(request_id=request_id),
                    "documentation_url": SECONDARY_DOCS,
                }
                hdrs = {**common, **self.rate_headers(budget), "Retry-After": str(wait)}
                return self.send_json(403, body, hdrs)

        try:
            if self.server.uploads:
                result = writes.upload_asset(self, path, query, caller, self._body)
            else:
                result = self.dispatch(path, query, caller)
        except HttpError as e:
            b = st.spend(key, limit)
            return self.send_json(e.status, e.body, {**common, **self.rate_headers(b), **e.headers})

        if isinstance(result, writes.Written):
            b = st.spend(key, limit)
            hdrs = {**common, **self.rate_headers(b)}
            if result.body is None:
                self.send(result.status, b"", hdrs)
            else:
                self.send(result.status, json.dumps(result.body).encode(), hdrs)
            return result.status

        if isinstance(result, tuple) and result and result[0] == "redirect":
            b = st.spend(key, limit)
            hdrs = {**common, **self.rate_headers(b), "Location": result[1]}
            self.send(302, b"", hdrs, content_type="text/html;charset=utf-8")
            return 302

        headers: dict[str, str] = {}
        if isinstance(result, Page):
            body_obj, link = self.paginate(prefix, path, query, result)
            if link:
                headers["Link"] = link
        else:
            body_obj = result
        body = json.dumps(body_obj, separators=(",", ":")).encode()
        etag = render.etag_for(body)
        headers["ETag"] = etag
        headers["Cache-Control"] = "private, max-age=60, s-maxage=60"
        headers["Vary"] = "Accept, Authorization, Cookie, X-GitHub-OTP"
        inm = self.headers.get("If-None-Match")
        if inm and etag in [t.strip() for t in inm.split(",")] or inm == "*":
            # A 304 is free: GitHub does not count it against the rate limit.
            b = st.budget(key, limit)
            self.send(304, b"", {**common, **self.rate_headers(b), **headers})
            return 304
        b = budget if path == "/rate_limit" else st.spend(key, limit)
        self.send(200, body, {**common, **self.rate_headers(b), **headers})
        return 200

    def send_json(self, status: int, obj: Any, headers: dict[str, str]) -> int:
        self.send(status, json.dumps(obj).encode(), headers)
        return status

    def paginate(
        self, prefix: str, path: str, query: dict[str, str], page: Page
    ) -> tuple[list[Any], str | None]:
        try:
            per_page = int(query.get("per_page", 30))
        except ValueError:
            per_page = 30
        per_page = min(100, per_page) if per_page > 0 else 30
        try:
            n = max(1, int(query.get("page", 1)))
        except ValueError:
            n = 1
        total = len(page.items)
        last = max(1, -(-total // per_page))
        chunk = page.items[(n - 1) * per_page : n * per_page]
        base = self.state.urls.api if prefix else self.state.urls.web  # type: ignore[union-attr]
        link_path = page.link_path or path

        def url(p: int) -> str:
            q = {k: v for k, v in query.items() if k != "page"}
            q["page"] = str(p)
            return f"{base}{quote(link_path)}?{urlencode(q)}"

        rels = []
        if n > 1:
            rels.append(f'<{url(min(n - 1, last))}>; rel="prev"')
        if n < last:
            rels.append(f'<{url(n + 1)}>; rel="next"')
            rels.append(f'<{url(last)}>; rel="last"')
        if n > 1:
            rels.append(f'<{url(1)}>; rel="first"')
        return [page.render(x) for x in chunk], (", ".join(rels) or None)

    # ---- routing table --------------------------------------------------------------------
    def dispatch(self, path: str, q: dict[str, str], caller: Caller) -> Any:
        acc = self.state.account
        u = self.state.urls
        assert u is not None
        path = path.rstrip("/") or "/"
        if self.command not in ("GET", "HEAD"):
            try:
                body = json.loads(self._body) if self._body else None
            except ValueError:
                raise HttpError(400, "Problems parsing JSON") from None
            return writes.dispatch(self, path, caller, body)
        if path == "/rate_limit":
            b = self.state.budget(
                f"token:{caller.token}" if caller.token else f"ip:{self.client_address[0]}",
                CORE_LIMIT if caller.token else ANON_LIMIT,
            )
            core = {
                "limit": b.limit,
                "remaining": max(0, b.limit - b.used),
                "reset": b.reset,
                "used": b.used,
                "resource": "core",
            }

            def other(limit: int, resource: str) -> dict[str, Any]:
                return {
                    "limit": limit,
                    "remaining": limit,
                    "reset": b.reset,
                    "used": 0,
                    "resource": resource,
                }

            return {
                "resources": {
                    "core": core,
                    "search": other(30, "search"),
                    "graphql": other(5000, "graphql"),
                    "integration_manifest": other(5000, "integration_manifest"),
                    "code_search": other(10, "code_search"),
                },
                "rate": core,
            }
        m = _REPO_SUB.match(path)
        if m:
            if m.group("id"):
                repo = acc.repo_by_id(int(m.group("id")))
            else:
                repo = acc.repo(f"{m.group('o')}/{m.group('n')}")
            if repo is None or (repo.private and caller.token is None):
                raise HttpError(404, "Not Found")
            return self.repo_resource(repo, m.group("sub") or "", q, caller)
        if path == "/user":
            if caller.token is None:
                raise HttpError(401, "Requires authentication")
            v = acc.users[caller.login.lower()]  # type: ignore[union-attr]
            pub = [r for r in acc.repos if not r.private]
            return u.private_user(
                v,
                len(pub) if v is acc.owner else 0,
                len(acc.repos) - len(pub) if v is acc.owner else 0,
                len(acc.gists),
                len(self.followers(v.login)),
                len(self.following(v.login)),
            )
        m = re.match(
            r"^/(?:users/(?P<login>[^/]+)|user/(?P<uid>\d+)|user)(?P<sub>/[a-z_]+)?$", path
        )
        if m and (m.group("sub") or m.group("login")):
            if m.group("login"):
                who = acc.users.get(m.group("login").lower())
            elif m.group("uid"):
                who = next((x for x in acc.users.values() if x.id == int(m.group("uid"))), None)
            else:
                if caller.token is None:
                    raise HttpError(401, "Requires authentication")
                who = acc.users[caller.login.lower()]  # type: ignore[union-attr]
            if who is None:
                raise HttpError(404, "Not Found")
            own = m.group("login") is None and m.group("uid") is None
            return self.user_resource(who, m.group("sub") or "", q, caller, own)
        m = re.match(
            r"^/(?:orgs/(?P<login>[^/]+)|organizations/(?P<oid>\d+))(?P<sub>/repos)?$", path
        )
        if m:
            org = acc.owner
            if (
                org.type != "Organization"
                or (m.group("login") and m.group("login").lower() != org.login.lower())
                or (m.group("oid") and int(m.group("oid")) != org.id)
            ):
                raise HttpError(404, "Not Found")
            if not m.group("sub"):
                pub = [r for r in acc.repos if not r.private]
                return u.organization(org, len(pub), len(acc.repos) - len(pub))
            visible = [r for r in acc.repos if caller.token or not r.private]
            kind = q.get("type", "all")
            if kind == "public":
                visible = [r for r in visible if not r.private]
            elif kind == "private":
                visible = [r for r in visible if r.private]
            elif kind == "forks":
                visible = [r for r in visible if r.fork]
            elif kind == "sources":
                visible = [r for r in visible if not r.fork]
            return Page(
                visible,
                lambda r: u.repository(r, admin=caller.admin),
                f"/organizations/{org.id}/repos",
            )
        if path == "/gists":
            if caller.token is None:
                raise HttpError(401, "Requires authentication")
            return Page(acc.gists, u.gist)
        m = re.match(r"^/gists/([0-9a-f]+)$", path)
        if m:
            g = acc.gist(m.group(1))
            if g is None or (not g.public and caller.token is None):
                raise HttpError(404, "Not Found")
            return u.gist(g, full=True)
        raise HttpError(404, "Not Found")

    def followers(self, login: str) -> list[Any]:
        acc = self.state.account
        return acc.followers if login.lower() == acc.viewer.login.lower() else []

    def following(self, login: str) -> list[Any]:
        acc = self.state.account
        return acc.following if login.lower() == acc.viewer.login.lower() else []

    def user_resource(
        self, who: Any, sub: str, q: dict[str, str], caller: Caller, own: bool
    ) -> Any:
        acc = self.state.account
        u = self.state.urls
        assert u is not None
        link = f"/user/{who.id}{sub}"
        viewer_is = who.login.lower() == acc.viewer.login.lower()
        if sub == "":
            pub = [r for r in acc.repos if not r.private]
            n_pub = len(pub) if who is acc.owner else 0
            return u.public_user(
                who,
                n_pub,
                sum(g.public for g in acc.gists) if viewer_is else 0,
                len(self.followers(who.login)),
                len(self.following(who.login)),
            )
        if sub == "/repos":
            if own:
                visible = list(acc.repos) if caller.token else []
                vis = q.get("visibility", "all")
                if vis == "public":
                    visible = [r for r in visible if not r.private]
                elif vis == "private":
                    visible = [r for r in visible if r.private]
                return Page(visible, u.repository, None)
            owned = [r for r in acc.repos if r.owner is who and not r.private]
            return Page(owned, lambda r: u.repository(r, admin=caller.admin), link)
        if sub == "/gists":
            gists = [g for g in acc.gists if g.owner is who and (g.public or own)]
            return Page(gists, u.gist, None if own else link)
        if sub in ("/starred", "/subscriptions"):
            items = acc.starred if sub == "/starred" else acc.watched
            items = items if viewer_is else []
            items = [r for r in items if caller.token or not r.private]
            return Page(items, u.repository, None if own else link)
        if sub in ("/followers", "/following"):
            people = self.followers(who.login) if sub == "/followers" else self.following(who.login)
            return Page(people, u.simple_user, None if own else link)
        raise HttpError(404, "Not Found")

    def repo_resource(self, r: Repo, sub: str, q: dict[str, str], caller: Caller) -> Any:
        u = self.state.urls
        assert u is not None
        link_base = f"/repositories/{r.id}"
        if sub == "":
            return u.repository(r, full=True, admin=caller.admin)

        def page(items: list[Any], fn: Callable[[Any], Any]) -> Page:
            return Page(items, fn, link_base + sub)

        def disabled_issues() -> None:
            if not r.has_issues:
                raise HttpError(
                    410, "Issues are disabled for this repo", "https://docs.github.com/v3/issues/"
                )

        def find_issue(n: str, pull: bool | None = None) -> Any:
            issue = next((i for i in r.issues if str(i.number) == n), None)
            if issue is None or (pull is True and issue.pull is None):
                raise HttpError(404, "Not Found")
            return issue

        def by_sort(items: list[Any]) -> list[Any]:
            """GitHub's ``sort`` (created, updated) and ``direction`` (default desc)."""
            key = (
                (lambda i: (i.updated_at, i.number))
                if q.get("sort") == "updated"
                else (lambda i: i.number)
            )
            return sorted(items, key=key, reverse=q.get("direction", "desc") == "desc")

        def state_filter(items: list[Any]) -> list[Any]:
            state = q.get("state", "open")
            return items if state == "all" else [i for i in items if i.state == state]

        # Repository-wide listings (GitHub: "List issue comments / issue events / review
        # comments for a repository"): every issue's (and pull's) items in one paginated list.
        if sub in ("/issues/comments", "/pulls/comments"):
            if sub == "/issues/comments":
                disabled_issues()
                pairs = [(i, c) for i in r.issues for c in i.comments]
                render_one = u.issue_comment
            else:
                pairs = [(i, c) for i in r.issues if i.pull for c in i.pull.review_comments]
                render_one = u.review_comment
            pairs.sort(key=lambda ic: ic[1].id, reverse=q.get("direction") == "desc")
            return page(pairs, lambda ic: render_one(r, ic[0], ic[1]))
        if sub == "/issues/events":
            disabled_issues()
            pairs = sorted(((i, e) for i in r.issues for e in i.events), key=lambda ie: -ie[1].id)

            def event_with_issue(ie: Any) -> Any:
                event = u.issue_event(r, ie[0], ie[1])
                event["issue"] = u.issue(r, ie[0])
                return event

            return page(pairs, event_with_issue)
        m = re.match(r"^/issues(?:/(\d+)(/comments|/events)?)?$", sub)
        if m:
            disabled_issues()
            if m.group(1) is None:
                items = state_filter(by_sort(r.issues))
                if q.get("since"):
                    since = q["since"]
                    items = [i for i in items if render.ts(i.updated_at) >= since]
                return page(items, lambda i: u.issue(r, i))
            issue = find_issue(m.group(1))
            if m.group(2) == "/comments":
                return page(issue.comments, lambda c: u.issue_comment(r, issue, c))
            if m.group(2) == "/events":
                return page(issue.events, lambda e: u.issue_event(r, issue, e))
            return u.issue(r, issue)
        m = re.match(r"^/pulls(?:/(\d+)(/comments|/reviews|/commits)?)?$", sub)
        if m:
            pulls = [i for i in r.issues if i.pull]
            if m.group(1) is None:
                items = state_filter(by_sort(pulls))
                return page(items, lambda i: u.pull_simple(r, i))
            pr = find_issue(m.group(1), pull=True)
            if m.group(2) == "/comments":
                return page(pr.pull.review_comments, lambda c: u.review_comment(r, pr, c))
            if m.group(2) == "/reviews":
                return page(pr.pull.reviews, lambda v: u.review(r, pr, v))
            if m.group(2) == "/commits":
                return page(pr.pull.commits, lambda sha: u.commit(r, sha))
            return u.pull_simple(r, pr)
        m = re.match(r"^/releases(?:/(\d+)(/assets)?|/assets/(\d+)|/tags/([^/]+))?$", sub)
        if m:
            author = r.owner if r.owner.type == "User" else self.state.account.viewer
            if m.group(3):
                found = self.state.account.asset(int(m.group(3)))
                if found is None or found[0] is not r:
                    raise HttpError(404, "Not Found")
                asset = found[1]
                if "application/octet-stream" in self.headers.get("Accept", ""):
                    return ("redirect", self.download_url(asset.id))
                return u.asset(r, asset, author)
            if m.group(1) or m.group(4):
                rel = next(
                    (x for x in r.releases if str(x.id) == m.group(1) or x.tag == m.group(4)), None
                )
                if rel is None:
                    raise HttpError(404, "Not Found")
                if m.group(2):
                    return page(rel.assets, lambda a: u.asset(r, a, author))
                return u.release(r, rel, author)
            items = sorted(r.releases, key=lambda x: -x.created)
            return page(items, lambda x: u.release(r, x, author))
        if sub == "/labels":
            return page(r.labels, lambda lb: u.label(r, lb))
        if sub == "/milestones":
            return page(state_filter(r.milestones), lambda ms: u.milestone(r, ms))
        if sub == "/hooks":
            if not caller.admin or r.hooks_access != 200:
                status = r.hooks_access if r.hooks_access != 200 else 404
                raise HttpError(
                    status,
                    "Not Found" if status == 404 else "Must have admin rights to Repository.",
                )
            return page(r.hooks, lambda h: u.hook(r, h))
        if sub == "/topics":
            return {"names": list(r.topics)}
        m = re.match(r"^/assignees/([^/]+)$", sub)
        if m:  # "Check if a user can be assigned": 204, or 404 when they cannot
            if m.group(1).lower() not in self.state.account.users:
                raise HttpError(404, "Not Found")
            return writes.Written(204)
        if sub == "/tags":
            return page(
                sorted(r.tags.items(), reverse=True),
                lambda t: {
                    "name": t[0],
                    "commit": {"sha": t[1], "url": f"{u.api}/repos/{r.full_name}/commits/{t[1]}"},
                    "zipball_url": f"{u.api}/repos/{r.full_name}/zipball/refs/tags/{t[0]}",
                    "tarball_url": f"{u.api}/repos/{r.full_name}/tarball/refs/tags/{t[0]}",
                    "node_id": render.node_id("Ref", t[0]),
                },
            )
        m = re.match(r"^/branches(?:/(.+?)(/protection)?)?$", sub)
        if m:
            if m.group(1) is None:
                items = sorted(r.branches.items())
                if q.get("protected") == "true":
                    items = [b for b in items if b[0] in r.protected]
                return page(items, lambda b: u.branch(r, *b))
            name = m.group(1)
            if name not in r.branches:
                raise HttpError(404, "Branch not found")
            if m.group(2):
                if not caller.admin:
                    raise HttpError(403, "Must have admin rights to Repository.")
                if name not in r.protected:
                    raise HttpError(404, "Branch not protected")
                return u.protection(r, name)
            return {
                **u.branch(r, name, r.branches[name]),
                "_links": {
                    "self": f"{u.api}/repos/{r.full_name}/branches/{name}",
                    "html": f"{u.web}/{r.full_name}/tree/{name}",
                },
            }
        if sub == "/commits":
            if r.empty:
                raise HttpError(409, "Git Repository is empty.")
            head = (
                r.branches[q.get("sha", r.default_branch)]
                if q.get("sha", r.default_branch) in r.branches
                else None
            )
            if head is None:
                raise HttpError(404, "No commit found for SHA: " + q.get("sha", ""))
            chain = []
            cur: str | None = head
            while cur:
                chain.append(cur)
                info = r.extra_commits.get(cur) or r.template.commits.get(cur)
                cur = info.parents[0] if info and info.parents else None
            return page(chain, lambda sha: u.commit(r, sha))
        if sub in ("/contributors", "/languages"):
            if r.empty:
                return {} if sub == "/languages" else []
            return {"Python": 1000} if sub == "/languages" else []
        raise HttpError(404, "Not Found")

    # ---- release assets -------------------------------------------------------------------
    def download_url(self, asset_id: int) -> str:
        expires = int(time.time()) + 300
        sig = self.state.sign(f"{asset_id}:{expires}")
        base = self.state.urls.web  # type: ignore[union-attr]
        return f"{base}/_objects/release-assets/{asset_id}?X-Expires={expires}&X-Signature={sig}"

    def serve_browser_download(self, owner: str, name: str, tag: str, filename: str) -> None:
        self.read_body()
        repo = self.state.account.repo(f"{owner}/{name}")
        token, present = self.credentials()
        ok_token = (
            present and token in self.state.tokens and not self.state.faults.is_revoked(token)
        )
        rel = next((x for x in repo.releases if x.tag == tag), None) if repo else None
        asset = next((a for a in rel.assets if a.name == filename), None) if rel else None
        if asset is None or (repo.private and not ok_token):  # type: ignore[union-attr]
            return self.send(404, b"Not Found", content_type="text/plain")
        self.send(302, b"", {"Location": self.download_url(asset.id)}, content_type="text/html")

    def serve_download(self, path: str, query: dict[str, str]) -> None:
        self.read_body()
        m = re.match(r"^/_objects/release-assets/(\d+)$", path)
        found = self.state.account.asset(int(m.group(1))) if m else None
        expires = query.get("X-Expires", "0")
        if (
            not found
            or not hmac.compare_digest(
                self.state.sign(f"{m.group(1)}:{expires}"),
                query.get("X-Signature", ""),  # type: ignore[union-attr]
            )
            or int(expires) < time.time()
        ):
            return self.send(
                403, b"<Error><Code>AccessDenied</Code></Error>", content_type="application/xml"
            )
        repo, asset = found
        logical = f"/repos/{repo.full_name}/releases/assets/{asset.id}"
        delay = self.state.faults.delay_ms("download", logical)
        if delay:
            time.sleep(delay / 1000)
        fault = self.state.faults.take(("server_error",), "download", logical)
        if fault:
            return self.send(fault.status, b"Server Error", content_type="text/plain")
        cut = self.state.faults.take(("cut_download",), "download", logical)
        self.send_response(200)
        self.send_header("Content-Type", asset.content_type)
        self.send_header("Content-Length", str(asset.size))
        self.send_header("Content-Disposition", f"attachment; filename={asset.name}")
        self.send_header("ETag", f'"{hashlib.md5(asset.seed).hexdigest()}"')  # noqa: S324
        self.end_headers()
        if self.command == "HEAD":
            return
        limit = int(asset.size * cut.fraction) if cut else None
        sent = 0
        for chunk in asset_chunks(asset):
            if limit is not None and sent + len(chunk) > limit:
                self.wfile.write(chunk[: limit - sent])
                return self.cut()
            self.wfile.write(chunk)
            sent += len(chunk)

    # ---- git ------------------------------------------------------------------------------
    def git_target(self, repo_path: str) -> tuple[Path | None, bool, str]:
        """(bare repo dir or None, private, logical path) for ``owner/name(.wiki).git``."""
        acc = self.state.account
        root = self.state.git_root
        if repo_path.startswith("gist/"):
            gist = acc.gist(repo_path[len("gist/") : -len(".git")])
            if gist is None:
                return None, True, "/" + repo_path
            return root / repo_path, not gist.public, f"/gists/{gist.id}"
        full = repo_path[: -len(".git")]
        wiki = full.endswith(".wiki")
        repo = acc.repo(full[: -len(".wiki")] if wiki else full)
        if repo is not None and wiki and repo.wiki is None and repo.created_by_api:
            # A wiki made by pushing to a repository the API created (see writes.py).
            path = root / f"{repo.full_name}.wiki.git"
            if not path.exists():
                subprocess.run(
                    ["git", "init", "--quiet", "--bare", "--initial-branch=master", str(path)],
                    check=True,
                    timeout=60,
                )
            return path, repo.private, f"/repos/{repo.full_name}.wiki"
        if repo is None or (wiki and repo.wiki is None):
            return None, True, "/" + full
        path = root / f"{repo.full_name}{'.wiki' if wiki else ''}.git"
        return path, repo.private, f"/repos/{repo.full_name}{'.wiki' if wiki else ''}"

    def git_auth(self, private: bool) -> tuple[str | None, bool]:
        """(remote user, ok); answers 401 with GitHub's Basic challenge itself when not ok."""
        token, present = self.credentials()
        if present:
            if token in self.state.tokens and not self.state.faults.is_revoked(token):
                return self.state.tokens[token].login, True
            self.send(
                401,
                b"Invalid username or token. Password authentication is not "
                b"supported for Git operations.\n",
                {"WWW-Authenticate": 'Basic realm="GitHub"'},
                "text/plain",
            )
            return None, False
        if private:
            self.send(401, b"", {"WWW-Authenticate": 'Basic realm="GitHub"'}, "text/plain")
            return None, False
        return None, True

    def serve_git(self, repo_path: str, rest: str, query: str) -> None:
        body = self.read_body()
        target, private, logical = self.git_target(repo_path)
        self._pending_log = "git"
        self._serve_git(target, private, logical, repo_path, rest, query, body)

    def _serve_git(
        self,
        target: Path | None,
        private: bool,
        logical: str,
        repo_path: str,
        rest: str,
        query: str,
        body: bytes,
    ) -> int:
        st = self.state
        delay = st.faults.delay_ms("git", logical)
        if delay:
            time.sleep(delay / 1000)
        # As on GitHub, a push (receive-pack) always needs credentials, public repository or not.
        pushing = "git-receive-pack" in rest or "service=git-receive-pack" in query
        user, ok = self.git_auth(private or target is None or pushing)
        if not ok:
            return 401
        if target is None:
            self.send(404, b"Repository not found.\n", content_type="text/plain")
            return 404
        if pushing and not any(c.admin for c in st.tokens.values() if c.login == user):
            msg = f"remote: Permission to {repo_path} denied to {user}.\n"
            self.send(403, msg.encode(), content_type="text/plain")
            return 403
        fault = st.faults.take(("server_error",), "git", logical)
        if fault:
            self.send(fault.status, b"Internal Server Error\n", content_type="text/plain")
            return fault.status
        cut = None
        if (
            rest.endswith("/git-upload-pack")
            and self.command == "POST"
            and _wants_pack(body, self.headers.get("Content-Encoding"))
        ):
            cut = st.faults.take(("cut_clone",), "git", logical)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(st.git_root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "PATH_INFO": f"/{repo_path}{rest}",
            "REQUEST_METHOD": self.command,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": self.client_address[0],
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
        }
        if user:
            env["REMOTE_USER"] = user
        if self.headers.get("Git-Protocol"):
            env["HTTP_GIT_PROTOCOL"] = self.headers["Git-Protocol"]
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        proc = subprocess.Popen(
            [GIT_HTTP_BACKEND],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        writer = threading.Thread(target=_feed, args=(proc, body), daemon=True)
        writer.start()
        assert proc.stdout is not None
        status, headers = 200, []
        while True:
            line = proc.stdout.readline().rstrip(b"\r\n")
            if not line:
                break
            k, _, v = line.decode("latin-1").partition(":")
            if k.lower() == "status":
                status = int(v.strip().split()[0])
            else:
                headers.append((k, v.strip()))
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            while True:
                chunk = proc.stdout.read1(65536)
                if not chunk:
                    break
                if cut is not None:
                    # Part of the pack, then the line goes dead mid-chunk.
                    part = chunk[: max(1, int(len(chunk) * cut.fraction))]
                    self.wfile.write(b"%x\r\n" % len(chunk) + part)
                    self.cut()
                    return 599
                self.wfile.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        finally:
            proc.stdout.close()
            proc.kill() if proc.poll() is None else None
            proc.wait()
            writer.join(timeout=5)
        if pushing and self.command == "POST" and status == 200:
            self._after_push(repo_path)
        return status

    def _after_push(self, repo_path: str) -> None:
        full = repo_path[: -len(".git")]
        wiki = full.endswith(".wiki")
        repo = self.state.account.repo(full[: -len(".wiki")] if wiki else full)
        if repo is not None and repo.created_by_api:
            with self.state.lock:
                writes.refresh_git(repo, wiki)

    # ---- LFS ------------------------------------------------------------------------------
    def serve_lfs(self, repo_path: str, path: str, query: str) -> None:
        body = self.read_body()
        target, private, logical = self.git_target(repo_path)
        st = self.state
        if "/objects/storage/" not in path:
            token, present = self.credentials()
            valid = present and token in st.tokens and not st.faults.is_revoked(token)
            if (present and not valid) or (private and not valid) or target is None:
                hdr = {
                    "LFS-Authenticate": 'Basic realm="GitHub"',
                    "WWW-Authenticate": 'Basic realm="GitHub"',
                }
                msg = {
                    "message": "Bad credentials" if present else "Authentication required",
                    "documentation_url": "https://docs.github.com/",
                }
                if target is None and valid:
                    return self.send(
                        404,
                        json.dumps({"message": "Not Found"}).encode(),
                        content_type="application/vnd.git-lfs+json",
                    )
                return self.send(
                    401, json.dumps(msg).encode(), hdr, content_type="application/vnd.git-lfs+json"
                )
            if b'"upload"' in body and not (valid and st.tokens[token].admin):  # type: ignore[index]
                return self.send(
                    403,
                    json.dumps({"message": "Permission denied: write access required"}).encode(),
                    content_type="application/vnd.git-lfs+json",
                )
            fault = st.faults.take(("server_error",), "git", logical)
            if fault:
                return self.send(
                    fault.status,
                    b'{"message":"Server Error"}',
                    content_type="application/vnd.git-lfs+json",
                )
        # giftless stores under <org>/<repo>; our org paths are plain owner/name.
        environ = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": str(self.server.server_address[1]),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "https" if self.server.tls else "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for k, v in self.headers.items():
            key = "HTTP_" + k.upper().replace("-", "_")
            if key in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                continue
            if key == "HTTP_AUTHORIZATION" and "/objects/storage/" not in path:
                continue  # GitHub credentials are ours to check, not giftless's
            environ[key] = v
        captured: dict[str, Any] = {}

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], Any]:
            captured["status"] = int(status.split()[0])
            captured["headers"] = headers
            return lambda data: None

        # make_lfs_app's wrapper has already read and closed giftless's response.
        payload = b"".join(st.lfs_app(environ, start_response))
        headers = {k: v for k, v in captured["headers"] if k.lower() != "content-length"}
        ctype = headers.pop("Content-Type", "application/octet-stream")
        self.send(captured["status"], payload, headers, content_type=ctype)


def _wants_pack(body: bytes, encoding: str | None) -> bool:
    """Whether an upload-pack request asks for a pack (v2 ``command=fetch`` or v0 wants)."""
    if encoding and encoding.lower() in ("gzip", "x-gzip"):
        try:
            body = gzip.decompress(body)
        except OSError:
            return True
    return b"command=fetch" in body or b"want " in body


def _feed(proc: subprocess.Popen, body: bytes) -> None:
    try:
        assert proc.stdin is not None
        proc.stdin.write(body)
        proc.stdin.close()
    except (BrokenPipeError, OSError):
        pass
