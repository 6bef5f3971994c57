"""The container entrypoint forgets the credential: not in its environment once read, not in
any part of a log line (message, extra fields, traceback)."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys

import pytest

from container import entrypoint
from ghbackup.credentials import remember_secret

TOKEN = "ghp_" + "S3cr3tT0k3n" * 3
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAsecretkeymaterial\n-----END RSA PRIVATE KEY-----"


@pytest.fixture
def log_stream(monkeypatch):
    remember_secret(TOKEN)
    remember_secret(PEM)
    entrypoint._configure_logging()
    stream = io.StringIO()
    monkeypatch.setattr(entrypoint.logger.registered_handler, "stream", stream)
    return stream


def test_extra_fields_and_tracebacks_are_scrubbed(log_stream):
    entrypoint.logger.info("capture started", extra={"detail": f"Authorization: token {TOKEN}"})
    try:
        raise RuntimeError(f"git failed with {TOKEN} in the URL")
    except RuntimeError:
        entrypoint.logger.exception("capture failed")
    logging.getLogger("ghbackup.backup").error("core says %s", "hello", extra={"key": PEM})
    output = log_stream.getvalue()
    assert TOKEN not in output
    assert "secretkeymaterial" not in output
    lines = [json.loads(line) for line in output.splitlines()]
    assert lines[0]["detail"] == "Authorization: token ***"
    assert "RuntimeError" in lines[1]["exception"] and "***" in lines[1]["exception"]
    assert lines[2]["key"] == "***"


def test_appended_keys_still_reach_the_line(log_stream):
    entrypoint.logger.append_keys(run_id="run-7")
    entrypoint.logger.info("hello")
    assert json.loads(log_stream.getvalue().splitlines()[-1])["run_id"] == "run-7"


def test_the_credentials_leave_the_environment_once_read(monkeypatch, capsys):
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_APP_PRIVATE_KEY", PEM)
    monkeypatch.delenv("GITHUB_APP_ID", raising=False)
    env = {"GITHUB_TOKEN": TOKEN, "BACKUP_ITEM": '{"kind": "repository", "full_name": "a/b"}'}
    # No RUN_ID: the entrypoint stops after reading the credentials.
    assert entrypoint.main(env) == 2
    assert "RUN_ID is not set" in capsys.readouterr().err
    assert "GITHUB_TOKEN" not in os.environ and "GITHUB_APP_PRIVATE_KEY" not in os.environ
    assert "GITHUB_TOKEN" not in env
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(open('/proc/self/environ','rb').read())"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert TOKEN not in child.stdout and "GITHUB_TOKEN" not in child.stdout
