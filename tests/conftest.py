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
def standin_50(tmp_path_factory):
    """50 mixed repositories, shared by the session: do not leave faults switched on."""
    root = tmp_path_factory.mktemp("standin50")
    with GitHubStandIn(root=root, account=AccountSpec(repositories=50, seed=1, gists=3)) as gh:
        yield gh
