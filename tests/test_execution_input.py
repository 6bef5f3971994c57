"""The execution input: schema errors name the field; {} means the configured defaults."""

from __future__ import annotations

import json

import pytest

from ghbackup.errors import ConfigurationError, InvalidInput
from ghbackup.execution_input import SCHEMA_PATH, normalise_input, parse_defaults


@pytest.mark.parametrize(
    ("execution_input", "message"),
    [
        ({"repositories": "not-a-list"}, "repositories: 'not-a-list' is not of type 'array'"),
        ({"colour": "blue"}, "unknown field 'colour'"),
        (
            {"repositories": ["acme/ok", "no slash"]},
            "repositories[1]: 'no slash' is not a valid name",
        ),
        ({"users": "octocat"}, "users: 'octocat' is not of type 'array'"),
        ({"skip_forks": "yes"}, "skip_forks: 'yes' is not of type 'boolean'"),
        ({"full": "yes"}, "full: 'yes' is not of type 'boolean'"),
        ({"full_capture_after_days": 0}, "full_capture_after_days: 0 is less than the minimum"),
        (
            {"include": "acme/(unclosed"},
            "include: 'acme/(unclosed' is not a valid RE2 regular expression",
        ),
        (["acme/one"], "input: ['acme/one'] is not of type 'object'"),
        (
            {"exclude": r"(\w+)-\1"},
            "exclude: '(\\\\w+)-\\\\1' is not a valid RE2 regular expression",
        ),
        ({"include": "acme/(?!old)"}, "include: 'acme/(?!old)' is not a valid RE2 regular"),
    ],
)
def test_bad_input_names_the_field(execution_input, message):
    with pytest.raises(InvalidInput) as raised:
        normalise_input(execution_input, {})
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_empty_input_means_the_defaults():
    defaults = {"orgs": ["acme"], "skip_forks": True}
    assert normalise_input({}, defaults) == defaults
    assert normalise_input(None, defaults) == defaults


def test_input_keys_replace_the_defaults():
    merged = normalise_input(
        {"orgs": ["other"], "gists": True}, {"orgs": ["acme"], "skip_forks": True}
    )
    assert merged == {"orgs": ["other"], "gists": True, "skip_forks": True}


def test_naming_targets_replaces_every_default_target():
    merged = normalise_input(
        {"repositories": ["acme/api"]}, {"users": ["octocat"], "orgs": ["acme"], "gists": False}
    )
    assert merged == {"repositories": ["acme/api"], "gists": False}


def test_every_documented_field_is_accepted():
    full = {
        "repositories": ["acme/widgets"],
        "users": ["octocat"],
        "orgs": ["acme"],
        "include": "^acme/",
        "exclude": "-archive$",
        "skip_archived": True,
        "skip_forks": False,
        "gists": True,
        "account": True,
        "batch_max_items": 10,
        "batch_max_bytes": 512 * 1024 * 1024,
        "full": True,
        "full_capture_after_days": 7,
        "verify_items": False,
    }
    assert normalise_input(full, {}) == full
    assert set(json.loads(SCHEMA_PATH.read_text())["properties"]) == set(full)


@pytest.mark.parametrize(
    ("execution_input", "message"),
    [
        ({"batch_max_items": 0}, "batch_max_items: 0 is less than the minimum of 1"),
        ({"batch_max_items": "25"}, "batch_max_items: '25' is not of type 'integer'"),
        ({"batch_max_bytes": 1000}, "batch_max_bytes: 1000 is less than the minimum"),
    ],
)
def test_batch_limits_are_checked(execution_input, message):
    with pytest.raises(InvalidInput, match=message):
        normalise_input(execution_input, {})


def test_bad_defaults_are_a_configuration_error():
    with pytest.raises(ConfigurationError, match="DEFAULT_INPUT: unknown field 'org'"):
        parse_defaults('{"org": ["acme"]}')
    assert parse_defaults("") == {}


def test_validate_handler_returns_the_selection(monkeypatch, lambda_context):
    from tasks import validate_input

    monkeypatch.setenv("DEFAULT_INPUT", '{"orgs": ["acme"]}')
    result = validate_input.handler({"run_id": "run-1", "input": {}}, lambda_context)
    assert result == {"run_id": "run-1", "selection": {"orgs": ["acme"]}}


def test_validate_handler_raises_invalid_input(monkeypatch, lambda_context):
    from tasks import validate_input

    monkeypatch.delenv("DEFAULT_INPUT", raising=False)
    with pytest.raises(InvalidInput, match="unknown field 'colour'"):
        validate_input.handler({"run_id": "run-1", "input": {"colour": 1}}, lambda_context)


@pytest.fixture
def lambda_context(monkeypatch):
    from workflow.emulation import LambdaContext

    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return LambdaContext(
        function_name="ghbackup-validate-input",
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:ghbackup-validate-input",
        aws_request_id="test",
    )
