"""The local runner's settings, without starting anything."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from ghbackup.errors import ConfigurationError
from workflow.local_runner import _github_credentials, default_run_id, state_path


def test_local_runner_takes_a_token_or_github_app_credentials():
    assert _github_credentials({"GITHUB_TOKEN": "ghp_x"}, mocked=False) == (
        "ghp_x",
        {"GITHUB_TOKEN": "ghp_x"},
    )
    app = {"GITHUB_APP_ID": "1", "GITHUB_APP_INSTALLATION_ID": "2", "GITHUB_APP_PRIVATE_KEY": "k"}
    stored, passed = _github_credentials(app, mocked=False)
    assert json.loads(stored) == {"app_id": "1", "installation_id": "2", "private_key": "k"}
    assert passed == app


def test_a_real_run_without_credentials_is_refused_before_anything_starts():
    with pytest.raises(ConfigurationError, match="set GITHUB_TOKEN"):
        _github_credentials({}, mocked=False)
    assert _github_credentials({}, mocked=True)[1] == {}


def test_default_run_id_is_a_sortable_utc_execution_name():
    assert default_run_id(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "run-20260102T030405Z"


def test_state_path_lists_states_entered_in_order():
    history = [
        {"type": "ExecutionStarted"},
        {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": "A"}},
        {"type": "TaskStateExited", "stateExitedEventDetails": {"name": "A"}},
        {"type": "PassStateEntered", "stateEnteredEventDetails": {"name": "B"}},
    ]
    assert state_path(history) == ["A", "B"]
