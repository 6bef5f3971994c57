"""Reading the stored GitHub credentials: SSM or Secrets Manager, clear errors, the cache."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError
from moto import mock_aws

from ghbackup.credentials import AppCredentials, redact
from ghbackup.errors import ConfigurationError, CredentialsUnavailable
from ghbackup.stored_credentials import (
    forget_stored_credentials,
    read_stored_credentials,
    stored_location,
)

API = "https://api.github.com"
PARAMETER = {"GITHUB_CREDENTIALS_PARAMETER": "/ghbackup/token"}


@pytest.fixture(autouse=True)
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    forget_stored_credentials()
    with mock_aws():
        yield
    forget_stored_credentials()


def test_an_app_stored_as_json_in_secrets_manager_becomes_app_credentials():
    value = {"app_id": "7", "installation_id": "9", "private_key": "-----BEGIN KEY-----pem"}
    boto3.client("secretsmanager").create_secret(Name="gh", SecretString=json.dumps(value))
    creds = read_stored_credentials({"GITHUB_CREDENTIALS_SECRET": "gh"}, API)
    assert isinstance(creds, AppCredentials) and creds.installation_id == "9"
    assert "BEGIN KEY" not in redact(json.dumps(value))  # the raw value is a known secret


def test_setting_both_locations_or_neither_is_a_configuration_error():
    both = {**PARAMETER, "GITHUB_CREDENTIALS_SECRET": "gh"}
    with pytest.raises(ConfigurationError, match="not both"):
        stored_location(both)
    with pytest.raises(ConfigurationError, match="GITHUB_CREDENTIALS_PARAMETER"):
        read_stored_credentials({}, API)


def test_a_missing_parameter_names_itself_and_is_final():
    with pytest.raises(ConfigurationError, match="/ghbackup/token: ParameterNotFound"):
        read_stored_credentials(PARAMETER, API)


class _Failing:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def get_parameter(self, **kwargs):
        raise self.exc


def test_an_unreachable_or_throttling_store_is_worth_a_retry():
    throttled = ClientError({"Error": {"Code": "ThrottlingException"}}, "GetParameter")
    for exc in (throttled, ConnectTimeoutError(endpoint_url="https://ssm")):
        with pytest.raises(CredentialsUnavailable, match="/ghbackup/token") as raised:
            read_stored_credentials(PARAMETER, API, client=lambda service, e=exc: _Failing(e))
        assert raised.value.retryable


def test_a_cached_value_is_reused_only_within_max_age():
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name="/ghbackup/token", Value="ghp_first_value_1", Type="SecureString")
    now = [1000.0]
    read = lambda: read_stored_credentials(PARAMETER, API, max_age=300, clock=lambda: now[0])  # noqa: E731
    assert read().token() == "ghp_first_value_1"
    ssm.put_parameter(Name="/ghbackup/token", Value="ghp_second_value", Overwrite=True,
                      Type="SecureString")  # fmt: skip
    now[0] += 299
    assert read().token() == "ghp_first_value_1"
    now[0] += 2
    assert read().token() == "ghp_second_value"
    assert read_stored_credentials(PARAMETER, API).token() == "ghp_second_value"
