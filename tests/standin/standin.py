"""GitHubStandIn: a generated account served over HTTP(S) on 127.0.0.1, API + git + LFS."""

from __future__ import annotations

import datetime
import ipaddress
import secrets
import ssl
import threading
from pathlib import Path
from typing import Any

from tests.standin import gitrepos, openapi, render
from tests.standin.faults import Faults
from tests.standin.gitrepos import BASE_TS, CommitInfo
from tests.standin.model import Account, AccountSpec, Asset, generate
from tests.standin.server import Caller, Server, StandInState, make_lfs_app


class GitHubStandIn:
    """Context manager: generates the account under ``root`` and serves it until exit."""

    def __init__(
        self,
        root: Path | str,
        account: AccountSpec | None = None,
        tls: bool = False,
        port: int = 0,
        host: str = "127.0.0.1",
    ) -> None:
        self.root = Path(root)
        self.spec = account or AccountSpec()
        self.tls = tls
        self._port = port
        self._host = host
        self.token = "ghp_" + secrets.token_hex(18)
        # A second, read-only collaborator: hooks and branch protection refuse it, as GitHub does.
        self.reader_token = "ghp_" + secrets.token_hex(18)
        self.faults = Faults()
        self.ca_bundle_path: Path | None = None
        self._server: Server | None = None
        self._uploads: Server | None = None
        self.account: Account = generate(self.spec, gitrepos.templates())
        self.login = self.account.viewer.login
        self.owner = self.account.owner.login
        self.git_root = self.root / "git"
        self.lfs_root = self.root / "lfs"
        self._materialize()
        self.state = StandInState(
            self.account,
            {
                self.token: Caller(self.token, self.login, True),
                self.reader_token: Caller(
                    self.reader_token,
                    self.account.users[f"{self.spec.owner}-user-00".lower()].login,
                    False,
                ),
            },
            self.git_root,
            self.faults,
        )
        # Writes are checked against GitHub's OpenAPI description when it has been fetched
        # (tests/test_standin_schema.py caches it); ``validates_requests`` says whether.
        self.state.request_validator = openapi.load()

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self) -> GitHubStandIn:
        context = None
        if self.tls:
            context = self._tls_context()
        self._server = Server((self._host, self._port), self.state, context)
        port = self._server.server_address[1]
        scheme = "https" if self.tls else "http"
        web = f"{scheme}://{self._host}:{port}"
        # Release assets are uploaded to a host of their own, as to uploads.github.com.
        self._uploads = Server((self._host, 0), self.state, context, uploads=True)
        uploads = f"{scheme}://{self._host}:{self._uploads.server_address[1]}"
        self.state.urls = render.Urls(api=f"{web}/api/v3", web=web, uploads=uploads)
        self.state.lfs_app = make_lfs_app(self.lfs_root)
        for server in (self._server, self._uploads):
            threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
            ).start()
        return self

    def stop(self) -> None:
        for server in (self._server, self._uploads):
            if server is not None:
                server.shutdown()
                server.server_close()
        self._server = self._uploads = None

    def __enter__(self) -> GitHubStandIn:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ---- what tests read ------------------------------------------------------------------
    @property
    def validates_requests(self) -> bool:
        return self.state.request_validator is not None

    @property
    def uploads_url(self) -> str:
        assert self.state.urls is not None and self.state.urls.uploads, "not started"
        return self.state.urls.uploads

    @property
    def web_url(self) -> str:
        assert self.state.urls is not None, "not started"
        return self.state.urls.web

    @property
    def api_url(self) -> str:
        assert self.state.urls is not None, "not started"
        return self.state.urls.api

    @property
    def request_log(self) -> list[tuple[str, str, int]]:
        with self.state.lock:
            return list(self.state.request_log)

    @property
    def git_log(self) -> list[tuple[str, str, int]]:
        with self.state.lock:
            return list(self.state.git_log)

    def reset_request_log(self) -> None:
        with self.state.lock:
            self.state.request_log.clear()
            self.state.git_log.clear()

    def reset_rate_limits(self) -> None:
        """Start every token's hourly budget afresh (benchmarks run several tools in turn)."""
        with self.state.lock:
            self.state.budgets.clear()

    def graphql_points(self) -> int:
        """Every GraphQL point charged since the stand-in started (the documented formula)."""
        return self.state.graphql_points

    def repository_names(self) -> list[str]:
        return [r.full_name for r in self.account.repos]

    def repository(self, full_name: str):
        """The model of one repository (kind, empty, lfs, wiki, issues...)."""
        repo = self.account.repo(full_name)
        if repo is None:
            raise KeyError(full_name)
        return repo

    def bare_repo_path(self, full_name: str, wiki: bool = False) -> Path:
        repo = self.repository(full_name)
        return self.git_root / f"{repo.full_name}{'.wiki' if wiki else ''}.git"

    def gist_repo_path(self, gist_id: str) -> Path:
        return self.git_root / "gist" / f"{gist_id}.git"

    def lfs_object_ids(self, full_name: str) -> set[str]:
        d = self.lfs_root / self.repository(full_name).full_name
        return {p.name for p in d.iterdir()} if d.is_dir() else set()

    def fail_permanently(self, scope: str, status: int = 500) -> None:
        self.faults.fail_permanently(scope, status)

    def add_large_asset(self, full_name: str, size: int, name: str = "large.bin") -> Asset:
        """Attach an asset of ``size`` bytes to the repository's first release; its content
        is generated while it is sent, never held in memory."""
        repo = self.repository(full_name)
        if not repo.releases:
            raise ValueError(f"{full_name} has no release to attach an asset to")
        asset = Asset(
            10**11 + len(self.account._assets),
            name,
            size,
            "application/octet-stream",
            f"{full_name}:{name}".encode(),
            BASE_TS,
        )
        repo.releases[0].assets.append(asset)
        self.account.index()
        return asset

    # ---- building -------------------------------------------------------------------------
    def _materialize(self) -> None:
        self.git_root.mkdir(parents=True, exist_ok=True)
        tmpl = gitrepos.templates()
        for i, repo in enumerate(self.account.repos):
            dest = self.git_root / f"{repo.full_name}.git"
            gitrepos.copy_template(repo.template, dest)
            repo.branches = dict(repo.template.branches)
            repo.tags = dict(repo.template.tags)
            if not repo.empty:
                # One commit of its own on the default branch, so no two repositories match.
                base = repo.branches[repo.default_branch]
                parent = repo.template.commits[base]
                when = BASE_TS + 10**7 + i * 60
                msg = f"Generated content for {repo.full_name}"
                sha = gitrepos.write_commit(dest, parent.tree, base, msg, when)
                repo.extra_commits[sha] = CommitInfo(
                    sha, parent.tree, (base,), "Stand In", "standin@example.com", when, msg
                )
                repo.branches[repo.default_branch] = sha
                gitrepos.set_ref(dest, f"refs/heads/{repo.default_branch}", sha)
                for issue in repo.issues:
                    if issue.pull:
                        gitrepos.set_ref(
                            dest, f"refs/pull/{issue.number}/head", issue.pull.head_sha
                        )
            if repo.wiki is not None:
                wdest = self.git_root / f"{repo.full_name}.wiki.git"
                gitrepos.copy_template(repo.wiki, wdest)
                head = repo.wiki.branches["master"]
                tree = repo.wiki.commits[head].tree
                sha = gitrepos.write_commit(
                    wdest, tree, head, f"Wiki of {repo.full_name}", BASE_TS + 2 * 10**7 + i
                )
                gitrepos.set_ref(wdest, "refs/heads/master", sha)
            if repo.lfs:
                store = self.lfs_root / repo.full_name
                store.mkdir(parents=True, exist_ok=True)
                for oid, content in repo.template.lfs_objects.items():
                    (store / oid).write_bytes(content)
        for gist in self.account.gists:
            dest = self.git_root / "gist" / f"{gist.id}.git"
            gitrepos.copy_template(tmpl["gist"], dest)
            gist.head = tmpl["gist"].branches["main"]

    def _tls_context(self) -> ssl.SSLContext:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "GitHub stand-in")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        tls_dir = self.root / "tls"
        tls_dir.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = tls_dir / "ca.pem", tls_dir / "key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        key_path.chmod(0o600)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert_path, key_path)
        self.ca_bundle_path = cert_path
        return ctx
