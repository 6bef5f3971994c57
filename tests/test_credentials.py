"""Credentials: token and GitHub App sources, refresh before expiry, and secrecy."""

from __future__ import annotations

import json
import logging
import subprocess
from datetime import UTC, datetime

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ghbackup.credentials import (
    AppCredentials,
    Credentials,
    RedactingFilter,
    TokenCredentials,
    redact,
)
from ghbackup.errors import ConfigurationError


@pytest.fixture(scope="module")
def rsa_key() -> tuple[str, object]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return pem, key.public_key()


def test_token_from_environment():
    creds = Credentials.from_mapping({"GITHUB_TOKEN": "ghp_abcdef123456"})
    assert creds.token() == "ghp_abcdef123456"
    assert "ghp_abcdef123456" not in repr(creds)


@pytest.mark.parametrize(
    "env,needle",
    [
        ({}, "no GitHub credentials"),
        ({"GITHUB_TOKEN": "x" * 10, "GITHUB_APP_ID": "1"}, "not both"),
        ({"GITHUB_APP_ID": "1"}, "GITHUB_APP_PRIVATE_KEY"),
    ],
)
def test_bad_credential_settings_are_one_line_errors(env, needle):
    with pytest.raises(ConfigurationError) as info:
        Credentials.from_mapping(env)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_secret_value_forms():
    assert (
        Credentials.from_secret_value("ghp_plain_token_1", "https://x").token()
        == "ghp_plain_token_1"
    )
    assert (
        Credentials.from_secret_value('{"token": "ghp_json_token_1"}', "https://x").token()
        == "ghp_json_token_1"
    )
    app = Credentials.from_secret_value(
        json.dumps({"app_id": "7", "installation_id": "9", "private_key": "-----BEGIN..."}),
        "https://x",
    )
    assert isinstance(app, AppCredentials) and app.kind == "github-app"
    with pytest.raises(ConfigurationError, match="missing: private_key"):
        Credentials.from_secret_value('{"app_id": "7", "installation_id": "9"}', "https://x")


class FakePost:
    def __init__(self, clock):
        self.clock = clock
        self.calls = []

    def __call__(self, url, headers, auth, timeout):
        # The JWT travels as requests' auth (a netrc entry for the host must not replace it).
        sent = auth(requests.Request("POST", url, headers=headers).prepare()).headers
        self.calls.append((url, sent, timeout))
        expires = datetime.fromtimestamp(self.clock.now + 3600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

        class Resp:
            status_code = 201

            def json(inner):
                return {"token": f"ghs_installation_token_{len(self.calls)}", "expires_at": expires}

        return Resp()


class Clock:
    def __init__(self):
        self.now = 1_800_000_000.0

    def __call__(self):
        return self.now


def test_app_token_is_minted_with_a_valid_jwt_and_refreshed_before_expiry(monkeypatch, rsa_key):
    pem, public = rsa_key
    clock = Clock()
    post = FakePost(clock)
    monkeypatch.setattr("ghbackup.credentials.requests.post", post)
    app = AppCredentials(
        app_id="123",
        installation_id="456",
        private_key=pem,
        api_url="https://gh.test/api/v3",
        clock=clock,
    )

    first = app.token()
    assert first == "ghs_installation_token_1"
    url, headers, timeout = post.calls[0]
    assert url == "https://gh.test/api/v3/app/installations/456/access_tokens" and timeout
    claims = jwt.decode(
        headers["Authorization"].split()[1],
        public,
        algorithms=["RS256"],
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    assert claims["iss"] == "123" and claims["exp"] - claims["iat"] <= 600

    clock.now += 50 * 60  # 50 minutes later: still valid for 10 minutes, reused
    assert app.token() == first
    clock.now += 6 * 60  # 56 minutes: inside the refresh margin, a new token is minted
    assert app.token() == "ghs_installation_token_2"
    assert len(post.calls) == 2


def test_registered_secrets_are_redacted_from_messages_and_logs(caplog):
    TokenCredentials("ghp_secret_for_redaction_42")
    assert redact("oops ghp_secret_for_redaction_42 leaked") == "oops *** leaked"
    logger = logging.getLogger("ghbackup.test")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO, logger="ghbackup.test"):
        logger.info("token is %s", "ghp_secret_for_redaction_42")
    assert "ghp_secret_for_redaction_42" not in caplog.text


def test_a_stored_json_secret_injected_as_github_token_is_understood():
    creds = Credentials.from_mapping({"GITHUB_TOKEN": '{"token": "ghp_from_json_secret_9"}'})
    assert creds.token() == "ghp_from_json_secret_9"


def test_the_redacting_formatter_scrubs_tracebacks_too():
    import logging

    from ghbackup.credentials import RedactingFormatter, remember_secret

    secret = "ghp_formatter_secret_0123456789"
    remember_secret(secret)
    try:
        raise ValueError(f"token {secret} rejected")
    except ValueError:
        import sys

        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    text = RedactingFormatter(logging.Formatter("%(levelname)s %(message)s")).format(record)
    assert text.startswith("ERROR failed") and "ValueError: token *** rejected" in text
    assert secret not in text


# -- git's credential helper ----------------------------------------------------------------


def _fill(host: str, credential) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    from ghbackup.git_credential import git_credential_access
    from ghbackup.process import git_environment

    with git_credential_access(credential) as (helper, fd):
        env = git_environment(helper)
        answers = [
            subprocess.run(
                ["git", "credential", "fill"],
                input=f"protocol=http\nhost={host}\n\n",
                env=env,
                pass_fds=(fd,),
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            for _ in range(2)  # git-lfs asks again and again: the descriptor is re-read
        ]
    assert answers[0].stdout == answers[1].stdout
    return answers[0], env


def test_the_git_helper_hands_the_token_over_its_descriptor_and_nothing_else():
    from ghbackup.git_credential import GitCredential

    token = "ghp_helper_fd_token_0123"
    credential = GitCredential(TokenCredentials(token), "http://127.0.0.1:8080/a/b.git")
    answer, env = _fill("127.0.0.1:8080", credential)
    assert answer.returncode == 0, answer.stderr
    assert "username=x-access-token" in answer.stdout.splitlines()
    assert f"password={token}" in answer.stdout.splitlines()
    assert not [name for name, value in env.items() if token in name or token in value]
    assert env["GIT_CONFIG_KEY_1"] == "credential.http://127.0.0.1:8080.helper"
    assert token not in repr(credential)


def test_the_git_helper_answers_nothing_for_another_host():
    from ghbackup.git_credential import GitCredential

    token = "ghp_helper_other_host_01"
    credential = GitCredential(TokenCredentials(token), "http://127.0.0.1:8080/a/b.git")
    answer, _ = _fill("lfs-storage.example.test", credential)
    assert token not in answer.stdout
    assert answer.returncode != 0  # no prompt allowed, no helper for that host


def test_the_token_descriptor_is_sealed_and_refuses_a_token_with_a_line_break():
    import os

    from ghbackup.git_credential import secret_descriptor

    fd = secret_descriptor("ghp_sealed_token_000")
    try:
        assert os.pread(fd, 100, 0) == b"ghp_sealed_token_000\n"
        with pytest.raises(PermissionError):
            os.pwrite(fd, b"x", 0)
        assert not os.get_inheritable(fd)  # only pass_fds hands it to a child
    finally:
        os.close(fd)
    with pytest.raises(ConfigurationError, match="line break"):
        secret_descriptor("ghp_two\nlines")


def test_each_git_process_gets_a_token_valid_for_most_of_an_hour_read_when_it_starts(
    rsa_key, monkeypatch
):
    """An App token refreshed between two git processes reaches the second one: the
    descriptor is made per process, from a token asked for with 45 minutes left."""
    import os

    from ghbackup.git_credential import (
        GIT_TOKEN_MIN_REMAINING,
        GitCredential,
        git_credential_access,
    )

    pem, _ = rsa_key
    now = [1_700_000_000.0]
    app = AppCredentials(app_id="1", installation_id="2", private_key=pem, api_url="https://x",
                         clock=lambda: now[0])  # fmt: skip
    minted = iter(["ghs_first_install_token", "ghs_second_install_token"])
    asked: list[float] = []

    def mint() -> tuple[str, float]:
        asked.append(now[0])
        return next(minted), now[0] + 3600

    monkeypatch.setattr(app, "_mint", mint)
    credential = GitCredential(app, "https://github.com/acme/widget.git")
    seen = []
    for advance in (0, 1000, 0):  # the second process starts with 41 minutes left
        now[0] += advance
        with git_credential_access(credential) as (_, fd):
            seen.append(os.pread(fd, 100, 0).decode().strip())
    assert seen == [
        "ghs_first_install_token",
        "ghs_second_install_token",
        "ghs_second_install_token",
    ]
    assert len(asked) == 2 and GIT_TOKEN_MIN_REMAINING > 3600 - 1000
