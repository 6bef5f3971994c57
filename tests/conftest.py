"""Shared fixtures. The GitHub stand-in: ``standin`` (small, per test), ``standin_50``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# `from tests.standin import ...` works however pytest was started.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Bind `workflow` to the project's package now: pytest puts tests/ first on sys.path, where
# tests/workflow/ would shadow it (and the editable install would then serve /work/main's).
import workflow  # noqa: E402, F401
from tests.standin import AccountSpec, GitHubStandIn  # noqa: E402


@pytest.fixture
def standin(tmp_path):
    """A 5-repository organisation (every special kind once) served on 127.0.0.1."""
    with GitHubStandIn(root=tmp_path / "standin", account=AccountSpec(repositories=5)) as gh:
        yield gh


@pytest.fixture(scope="session")
def _standin_50_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("standin50")
    with GitHubStandIn(root=root, account=AccountSpec(repositories=50, seed=1, gists=3)) as gh:
        yield gh


@pytest.fixture
def standin_50(_standin_50_server):
    """50 mixed repositories, shared by the session: do not leave faults switched on. Each
    test starts with a full hourly rate-limit budget: the account is shared, what earlier
    tests spent of GitHub's 5,000 requests is not."""
    _standin_50_server.reset_rate_limits()
    return _standin_50_server
