"""The GitHub stand-in in a process of its own, for benchmarks.

GitHub does not share the backup's CPU. In the benchmark's process, the stand-in's threads
would take turns with the code being measured for one interpreter lock, and every request
it answers would be charged to ghbackup's wall time. Here it runs in a child process and
answers the few questions a benchmark asks of it (its request logs, its repositories) over a
pipe; the token crosses that pipe too, never a command line or an environment.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

# How long a question to the child may take (a request log of some thousands of entries).
_ANSWER_SECONDS = 120.0

_QUESTIONS = (
    "request_log",
    "git_log",
    "reset_request_log",
    "reset_rate_limits",
    "repository_names",
    "bare_repo_path",
    "graphql_points",
)


def _serve(pipe: Connection, root: Path, spec: Any, options: dict[str, Any]) -> None:
    from tests.standin import GitHubStandIn
    from tests.standin import server as standin_server

    if options.get("rate_limit"):
        standin_server.CORE_LIMIT = options["rate_limit"]
    with GitHubStandIn(root=root, account=spec, tls=options.get("tls", False)) as gh:
        pipe.send({
            "api_url": gh.api_url,
            "token": gh.token,
            "owner": gh.owner,
            "ca_bundle_path": gh.ca_bundle_path,
        })  # fmt: skip
        while True:
            name, args = pipe.recv()
            if name == "stop":
                return
            attribute = getattr(gh, name)
            pipe.send(attribute(*args) if callable(attribute) else attribute)


class StandInProcess:
    """A GitHubStandIn served from a child process; the subset of its interface the
    benchmarks use."""

    def __init__(self, root: Path, account: Any, *, tls: bool = False, rate_limit: int = 0):
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        options = {"tls": tls, "rate_limit": rate_limit}
        self._process = context.Process(
            target=_serve, args=(child, root, account, options), daemon=True
        )
        self._ready: dict[str, Any] = {}

    def __enter__(self) -> StandInProcess:
        self._process.start()
        if not self._pipe.poll(_ANSWER_SECONDS):
            self._process.kill()
            raise RuntimeError("the stand-in process did not start")
        self._ready = self._pipe.recv()
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self._pipe.send(("stop", ()))
        except (BrokenPipeError, OSError):
            pass
        self._process.join(timeout=30)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=10)

    @property
    def pid(self) -> int | None:
        """The stand-in process's id (a benchmark leaves its memory out of the run's)."""
        return self._process.pid

    def __getattr__(self, name: str) -> Any:
        if name in ("api_url", "token", "owner", "ca_bundle_path"):
            return self._ready[name]
        if name not in _QUESTIONS:
            raise AttributeError(name)
        if name in ("request_log", "git_log"):
            return self._ask(name)
        return lambda *args: self._ask(name, *args)

    def _ask(self, name: str, *args: Any) -> Any:
        self._pipe.send((name, args))
        if not self._pipe.poll(_ANSWER_SECONDS):
            raise RuntimeError(f"the stand-in process did not answer {name}")
        return self._pipe.recv()
