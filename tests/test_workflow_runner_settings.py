"""The local runner's settings, without starting anything."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from ghbackup.errors import ConfigurationError
from workflow.emulation import inherited_environment
from workflow.local_runner import (
    TOKEN_PARAMETER,
    _github_credentials,
    default_run_id,
    state_path,
    task_environment,
)


def test_local_runner_stores_a_token_or_github_app_credentials():
    assert _github_credentials({"GITHUB_TOKEN": "ghp_x"}, mocked=False) == "ghp_x"
    app = {"GITHUB_APP_ID": "1", "GITHUB_APP_INSTALLATION_ID": "2", "GITHUB_APP_PRIVATE_KEY": "k"}
    stored = _github_credentials(app, mocked=False)
    assert json.loads(stored) == {"app_id": "1", "installation_id": "2", "private_key": "k"}


def test_local_tasks_inherit_no_github_or_aws_variable_and_get_only_the_parameter_name():
    environ = {
        "PATH": "/usr/bin",
        "GITHUB_TOKEN": "ghp_x",
        "GITHUB_APP_PRIVATE_KEY": "k",
        "AWS_SECRET_ACCESS_KEY": "real",
        "AWS_PROFILE": "prod",
    }
    assert inherited_environment(environ) == {"PATH": "/usr/bin"}
    assert task_environment("http://127.0.0.1:1") == {
        "GITHUB_API_URL": "http://127.0.0.1:1",
        "GITHUB_CREDENTIALS_PARAMETER": TOKEN_PARAMETER,
    }


def test_a_real_run_without_credentials_is_refused_before_anything_starts():
    with pytest.raises(ConfigurationError, match="set GITHUB_TOKEN"):
        _github_credentials({}, mocked=False)
    assert _github_credentials({}, mocked=True) == "mock-token-unused"


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


def test_a_run_only_ever_sees_the_local_endpoint_and_dummy_credentials(monkeypatch):
    import os

    import boto3

    from workflow.local_aws import LocalAWS
    from workflow.local_runner import _local_only_environment

    monkeypatch.setenv("AWS_PROFILE", "production")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALKEY")
    local = LocalAWS(endpoint_url="http://127.0.0.1:4566", port=4566, _server=None)
    with _local_only_environment(local):
        assert "AWS_PROFILE" not in os.environ
        assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
        assert boto3.Session().get_credentials().access_key == "testing"
    assert os.environ["AWS_PROFILE"] == "production"
    assert os.environ["AWS_ACCESS_KEY_ID"] == "AKIAREALKEY"


def test_a_run_refuses_an_endpoint_that_is_not_loopback():
    from workflow.local_aws import LocalAWS
    from workflow.local_runner import LocalRunError, _local_only_environment

    local = LocalAWS(endpoint_url="https://s3.amazonaws.com", port=443, _server=None)
    with pytest.raises(LocalRunError, match="not on 127.0.0.1"):
        with _local_only_environment(local):
            pass
