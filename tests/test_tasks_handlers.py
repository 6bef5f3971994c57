"""The Lambda handlers as thin adapters: credentials, the item list, metrics, the summary."""

from __future__ import annotations

import io
import json

import boto3
import pytest
from moto import mock_aws

from ghbackup.errors import ConfigurationError
from ghbackup.incremental import IncrementalPlan
from ghbackup.records import BackupItem
from workflow.emulation import LambdaContext

REGION = "us-east-1"


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "ghbackup")
    from ghbackup.stored_credentials import forget_stored_credentials

    forget_stored_credentials()
    with mock_aws():
        yield


@pytest.fixture(autouse=True)
def handler_logs_at_info():
    """The handlers' loggers are module globals: a local run earlier in the same process
    leaves them at the level it configured (ERROR), and these tests read INFO lines."""
    from tasks import finalize_run, list_items, validate_input

    loggers = [module.logger for module in (finalize_run, list_items, validate_input)]
    levels = [logger.log_level for logger in loggers]
    for logger in loggers:
        logger.setLevel("INFO")
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


def _context(name: str) -> LambdaContext:
    return LambdaContext(
        function_name=name,
        invoked_function_arn=f"arn:aws:lambda:{REGION}:123456789012:function:{name}",
        aws_request_id="request-1",
    )


def test_credentials_come_from_an_ssm_securestring(monkeypatch):
    from tasks import list_items

    boto3.client("ssm").put_parameter(
        Name="/ghbackup/token", Value="ghp_fromssm123", Type="SecureString"
    )
    monkeypatch.setenv("GITHUB_CREDENTIALS_PARAMETER", "/ghbackup/token")
    monkeypatch.delenv("GITHUB_CREDENTIALS_SECRET", raising=False)
    assert list_items.load_credentials("https://api.github.com").token() == "ghp_fromssm123"


def test_credentials_come_from_secrets_manager(monkeypatch):
    from tasks import list_items

    boto3.client("secretsmanager").create_secret(
        Name="ghbackup/github", SecretString=json.dumps({"token": "ghp_fromsecret1"})
    )
    monkeypatch.delenv("GITHUB_CREDENTIALS_PARAMETER", raising=False)
    monkeypatch.setenv("GITHUB_CREDENTIALS_SECRET", "ghbackup/github")
    assert list_items.load_credentials("https://api.github.com").token() == "ghp_fromsecret1"


def test_no_credentials_setting_is_a_configuration_error(monkeypatch):
    from tasks import list_items

    monkeypatch.delenv("GITHUB_CREDENTIALS_PARAMETER", raising=False)
    monkeypatch.delenv("GITHUB_CREDENTIALS_SECRET", raising=False)
    with pytest.raises(ConfigurationError, match="GITHUB_CREDENTIALS_PARAMETER"):
        list_items.load_credentials("https://api.github.com")


def _list(monkeypatch, items, sizes, selection, plan=None):
    from tasks import list_items

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="backups")
    monkeypatch.setattr(list_items, "s3", s3)
    monkeypatch.setenv("BACKUP_BUCKET", "backups")
    seen = {}

    def expand(client, selection, found_sizes=None):
        seen["selection"] = selection
        found_sizes.update(sizes)
        return items

    monkeypatch.setattr(list_items, "load_credentials", lambda api_url: object())
    monkeypatch.setattr(
        list_items.GitHubClient, "from_credentials", lambda url, creds, **kwargs: object()
    )
    monkeypatch.setattr(list_items, "expand_selection", expand)
    # Nothing captured before: every item is to capture (ghbackup/incremental.py decides).
    monkeypatch.setattr(
        list_items,
        "plan_run",
        plan
        or (lambda s3, bucket, run_id, items, client, **kw: IncrementalPlan(list(items), [], {})),
    )
    result = list_items.handler(
        {"run_id": "run-1", "selection": selection}, _context("ghbackup-list-items")
    )

    def stored(key):
        return json.loads(s3.get_object(Bucket="backups", Key=key)["Body"].read())

    return result, stored


def test_list_handler_stores_the_items_and_their_batches_and_returns_where(monkeypatch):
    items = [
        BackupItem(kind="repository", full_name="acme/one"),
        BackupItem(kind="gist", id="abc123", owner="octocat"),
    ]
    result, stored = _list(monkeypatch, items, {}, {"orgs": ["acme"]})
    assert result == {
        "bucket": "backups",
        "key": "staging/run-1/items.json",
        "count": 2,
        "batches_key": "staging/run-1/batches.json",
        "batch_count": 1,
    }
    assert stored(result["key"]) == [item.to_json() for item in items]
    assert stored(result["batches_key"]) == [{"batch": 0, "first": 0, "count": 2}]


def test_list_handler_batches_by_the_repositories_sizes_and_the_input_limits(monkeypatch):
    names = ["acme/a", "acme/big", "acme/c", "acme/d", "acme/e"]
    items = [BackupItem(kind="repository", full_name=name) for name in names]
    mib = 1024 * 1024
    sizes = {"repository/acme/big": 50 * mib, "repository/acme/c": 6 * mib}
    selection = {"orgs": ["acme"], "batch_max_items": 2, "batch_max_bytes": 10 * mib}
    result, stored = _list(monkeypatch, items, sizes, selection)
    assert stored(result["batches_key"]) == [
        {"batch": 0, "first": 0, "count": 1},  # a, closed early: big runs alone
        {"batch": 1, "first": 1, "count": 1},  # big
        {"batch": 2, "first": 2, "count": 2},  # c, d: two items at most
        {"batch": 3, "first": 4, "count": 1},  # e
    ]
    assert result["batch_count"] == 4


def test_list_handler_hands_verify_items_off_to_every_task(monkeypatch):
    items = [BackupItem(kind="repository", full_name=f"acme/r{n}") for n in range(3)]
    selection = {"orgs": ["acme"], "batch_max_items": 2, "verify_items": False}
    result, stored = _list(monkeypatch, items, {}, selection)
    assert stored(result["batches_key"]) == [
        {"batch": 0, "first": 0, "count": 2, "verify_items": False},
        {"batch": 1, "first": 2, "count": 1, "verify_items": False},
    ]


def _finalize(monkeypatch):
    from ghbackup.records import RunSummary
    from tasks import finalize_run

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="backups")
    s3.put_object(
        Bucket="backups",
        Key="staging/run-1/items.json",
        Body=json.dumps([{"kind": "repository", "full_name": "acme/one"}]).encode(),
    )
    monkeypatch.setattr(finalize_run, "s3", s3)
    monkeypatch.setenv("BACKUP_BUCKET", "backups")
    monkeypatch.setenv("RUN_ARCHIVE_STORAGE_CLASS", "DEEP_ARCHIVE")
    calls = {}

    def assemble(client, **kwargs):
        calls.update(kwargs)
        return RunSummary(
            status="PARTIAL",
            run_id="run-1",
            counts={"total": 2, "succeeded": 1, "failed": 1},
            bytes=4096,
            duration_seconds=3.0,
            archive_key="runs/run-1/ghbackup-run-1.zip",
            manifest_key="runs/run-1/manifest.json",
            failed=[{"item_key": "repository/acme/two", "error_type": "NotFound", "error": "404"}],
        )

    monkeypatch.setattr(finalize_run, "assemble_run", assemble)
    event = {
        "run_id": "run-1",
        "execution": "arn:aws:states:us-east-1:123456789012:execution:ghbackup:run-1",
        "started_at": "2026-01-01T00:00:00Z",
        "items": {"bucket": "backups", "key": "staging/run-1/items.json", "count": 1},
    }
    return finalize_run.handler(event, _context("ghbackup-finalize-run")), calls


def test_finalize_records_metrics_and_returns_the_notification(monkeypatch, capsys):
    result, calls = _finalize(monkeypatch)
    assert calls["storage_class"] == "DEEP_ARCHIVE"
    assert calls["items"] == [BackupItem(kind="repository", full_name="acme/one")]
    assert calls["started_at"] == "2026-01-01T00:00:00Z"
    assert calls["execution"].endswith(":execution:ghbackup:run-1")  # recorded as the owner
    assert result["status"] == "PARTIAL"
    assert result["subject"] == "ghbackup run-1: PARTIAL, 1/2 items"
    assert json.loads(result["message"])["failed"][0]["item_key"] == "repository/acme/two"
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "_aws" in line]
    metrics = {
        name: value
        for line in emitted
        for name, value in line.items()
        if name in {"ItemsBackedUp", "ItemsFailed", "BytesStored"}
    }
    assert metrics == {"ItemsBackedUp": [1.0], "ItemsFailed": [1.0], "BytesStored": [4096.0]}


def test_finalize_logs_carry_the_run_id_and_the_failed_item(monkeypatch):
    from tasks import finalize_run

    # The Logger's handler holds the stream it was created with; read from our own.
    stream = io.StringIO()
    monkeypatch.setattr(finalize_run.logger.registered_handler, "stream", stream)
    _finalize(monkeypatch)
    logs = [json.loads(line) for line in stream.getvalue().splitlines() if '"level"' in line]
    failed = [entry for entry in logs if entry["message"] == "item failed"]
    assert [(e["run_id"], e["item"]) for e in failed] == [("run-1", "repository/acme/two")]
    assert all(entry["run_id"] == "run-1" for entry in logs)


def test_handlers_log_the_lambda_context_through_powertools(monkeypatch):
    """inject_lambda_context is applied: every log line carries the function's name and
    request id from the context the handler was given."""
    from tasks import validate_input

    stream = io.StringIO()
    monkeypatch.setattr(validate_input.logger.registered_handler, "stream", stream)
    monkeypatch.setenv("DEFAULT_INPUT", "{}")
    validate_input.handler({"run_id": "run-ctx", "input": {}}, _context("ghbackup-validate"))
    logs = [json.loads(line) for line in stream.getvalue().splitlines() if '"level"' in line]
    assert logs
    assert all(entry["function_name"] == "ghbackup-validate" for entry in logs)
    assert all(entry["function_request_id"] == "request-1" for entry in logs)


def test_validate_rejects_a_pattern_re2_cannot_run_naming_the_field(monkeypatch):
    from ghbackup.errors import InvalidInput
    from tasks import validate_input

    monkeypatch.delenv("DEFAULT_INPUT", raising=False)
    event = {"run_id": "run-1", "input": {"orgs": ["acme"], "exclude": "(?<=acme/)old"}}
    with pytest.raises(InvalidInput, match=r"^exclude: .* is not a valid RE2 regular expression"):
        validate_input.handler(event, _context("validate"))


@pytest.mark.parametrize("module_name", ["validate_input", "list_items", "finalize_run"])
def test_lambda_logs_scrub_secrets_from_extra_fields_and_tracebacks(monkeypatch, module_name):
    import importlib

    from ghbackup.credentials import remember_secret

    module = importlib.import_module(f"tasks.{module_name}")
    token = "ghp_logged_token_0123456789"
    key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEsecretline\n-----END RSA PRIVATE KEY-----"
    remember_secret(token)
    remember_secret(key)
    stream = io.StringIO()
    monkeypatch.setattr(module.logger.registered_handler, "stream", stream)
    module.logger.warning("plain", extra={"cause": f"bad {token}", "nested": {"k": [key]}})
    try:
        raise RuntimeError(f"failed with {token} and {key}")
    except RuntimeError:
        module.logger.exception("boom")
    output = stream.getvalue()
    assert "RuntimeError" in output and "***" in output
    for secret in (token, key, json.dumps(key)[1:-1], "MIIEsecretline"):
        assert secret not in output


def test_list_handler_batches_only_the_items_to_capture_and_lists_the_reused_after_them(
    monkeypatch,
):
    one, two, three = (BackupItem(kind="repository", full_name=f"acme/r{n}") for n in range(3))
    asked = {}

    def plan(s3, bucket, run_id, items, client, **kwargs):
        asked.update(kwargs)
        return IncrementalPlan([two], [one, three], {})

    selection = {"orgs": ["acme"], "full": True, "full_capture_after_days": 7}
    result, stored = _list(monkeypatch, [one, two, three], {}, selection, plan)
    time_left = asked.pop("time_left")
    assert asked == {"full": True, "full_capture_after_days": 7}
    # The test context's deadline has passed: no time to probe, never a probe past the end.
    assert time_left() <= 0
    assert stored(result["key"]) == [two.to_json(), one.to_json(), three.to_json()]
    assert stored(result["batches_key"]) == [{"batch": 0, "first": 0, "count": 1}]
    assert (result["count"], result["batch_count"]) == (3, 1)


def test_list_handler_plans_no_batch_when_every_item_is_reused(monkeypatch):
    items = [BackupItem(kind="repository", full_name="acme/r0")]
    plan = lambda s3, bucket, run_id, listed, client, **kw: IncrementalPlan([], list(listed), {})  # noqa: E731
    result, stored = _list(monkeypatch, items, {}, {"orgs": ["acme"]}, plan)
    assert stored(result["batches_key"]) == []
    assert (result["count"], result["batch_count"]) == (1, 0)
