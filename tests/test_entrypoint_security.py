"""The container entrypoint keeps the credential out of every environment: read from the SSM
parameter its definition names, or taken out of GITHUB_TOKEN before anything runs; never in
the environment of git, git-lfs or their children; never in any part of a log line
(message, extra fields, traceback)."""

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


@pytest.fixture
def mocked_ssm(monkeypatch):
    from moto import mock_aws

    from ghbackup.stored_credentials import forget_stored_credentials

    for name, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    forget_stored_credentials()
    with mock_aws():
        import boto3

        yield boto3.client("ssm")


def test_the_task_reads_the_parameter_its_definition_names(mocked_ssm, capsys):
    mocked_ssm.put_parameter(Name="/gh/token", Value=TOKEN, Type="SecureString")
    env = {"GITHUB_CREDENTIALS_PARAMETER": "/gh/token", "BACKUP_ITEM": '{"kind": "repository", '
           '"full_name": "a/b"}'}  # fmt: skip
    # No RUN_ID: the entrypoint stops right after reading the credentials.
    assert entrypoint.main(env) == 2
    assert "RUN_ID is not set" in capsys.readouterr().err


def test_a_missing_parameter_or_a_token_beside_it_is_a_one_line_error(mocked_ssm, capsys):
    env = {"GITHUB_CREDENTIALS_PARAMETER": "/gh/absent", "RUN_ID": "r"}
    assert entrypoint.main(env) == 2
    assert "/gh/absent: ParameterNotFound" in capsys.readouterr().err
    assert entrypoint.main({**env, "GITHUB_TOKEN": TOKEN}) == 2
    err = capsys.readouterr().err
    assert "not both" in err and TOKEN not in err


# -- no environment of the capture's processes holds the token ------------------------------

# Put first on the entrypoint's PATH as git, git-lfs and cat (the credential helper's): each
# copies its own /proc/PID/environ and every ancestor's up to the test, named
# <wrapper pid>-<pid>-<comm>, then runs the real program. Only shell builtins and cp.
_WRAPPER = """#!/bin/sh
dump() {{
  pid=$$
  while [ "$pid" -gt 1 ] && [ "$pid" != {stop} ]; do
    IFS= read -r stat < /proc/$pid/stat || break
    comm=${{stat#*(}}; comm=${{comm%%)*}}
    cp /proc/$pid/environ "{dumps}/$$-$pid-$comm" 2>/dev/null
    rest=${{stat##*) }}; set -- $rest; pid=$2
  done
}}
dump
exec {real} "$@"
"""


def _wrap(bin_dir, dumps, names):
    import shutil

    bin_dir.mkdir()
    for name in names:
        real = shutil.which(name)
        assert real, f"{name} is not installed"
        script = _WRAPPER.format(stop=os.getpid(), dumps=dumps, real=real)
        (bin_dir / name).write_text(script)
        (bin_dir / name).chmod(0o755)


def _descendants(root: int) -> list[int]:
    from pathlib import Path

    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        found.append(pid)
        frontier.extend(child for child, parent in parents.items() if parent == pid)
    return found


@pytest.mark.integration
@pytest.mark.parametrize("source", ["ssm-parameter", "GITHUB_TOKEN"])
def test_no_environment_of_the_entrypoint_or_its_git_children_holds_the_token(
    standin, tmp_path, source
):
    """A private repository with LFS objects, so git and git-lfs both ask the helper; every
    git, git-lfs and helper process (and each of their ancestors) dumps its environment, and
    a sampler reads every descendant's while the capture runs."""
    import threading
    import zipfile
    from pathlib import Path

    from ghbackup.records import BackupItem, item_zip_key

    gh = standin
    name = next(n for n in gh.repository_names() if gh.repository(n).lfs)
    assert gh.repository(name).private  # so the git side needs the token too
    dumps, out = tmp_path / "dumps", tmp_path / "out"
    dumps.mkdir()
    _wrap(tmp_path / "bin", dumps, ["git", "git-lfs", "cat"])
    item = {"kind": "repository", "full_name": name}
    env = {
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "BACKUP_ITEM": json.dumps(item),
        "RUN_ID": "run-test",
        "BACKUP_OUTPUT_DIR": str(out),
        "GITHUB_API_URL": gh.api_url,
        "GHBACKUP_RETRY_ATTEMPTS": "2",
    }
    local = None
    if source == "GITHUB_TOKEN":
        env["GITHUB_TOKEN"] = gh.token
    else:
        import boto3

        from workflow.local_aws import start_local_aws

        local = start_local_aws()
        boto3.client(
            "ssm", endpoint_url=local.endpoint_url, **_dummy_client_settings(local)
        ).put_parameter(Name="/gh/token", Value=gh.token, Type="SecureString")
        env.update({**local.environment, "GITHUB_CREDENTIALS_PARAMETER": "/gh/token"})
    token = gh.token.encode()
    sampled: dict[int, bytes] = {}
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", "container.entrypoint"],
            cwd=Path(__file__).resolve().parents[1],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.01):
                for pid in _descendants(child.pid)[1:]:
                    try:
                        sampled[pid] = Path(f"/proc/{pid}/environ").read_bytes()
                    except OSError:
                        continue  # ended since it was listed

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            stdout, stderr = child.communicate(timeout=180)
        finally:
            done.set()
            sampler.join()
    finally:
        if local is not None:
            local.stop()
    assert child.returncode == 0, stderr.decode(errors="replace")
    assert token not in stdout and token not in stderr
    # The capture really authenticated: the private repository's LFS objects are archived.
    with zipfile.ZipFile(out / item_zip_key("", BackupItem.from_json(item))) as archive:
        assert any("/lfs/objects/" in entry for entry in archive.namelist())
    environs = {path.name: path.read_bytes() for path in dumps.iterdir()}
    comms = {entry.split("-", 2)[2] for entry in environs}
    assert {"git", "git-lfs", "cat", "sh", "python"} <= {c.split(".")[0] for c in comms}, comms
    # git-lfs asked the helper itself (a cat below a git-lfs), not only git.
    lfs_helpers = {e.split("-")[0] for e in environs if e.endswith("-git-lfs")} & {
        e.split("-")[0] for e in environs if e.endswith("-cat")
    }
    assert lfs_helpers, "no credential helper ran under git-lfs"
    assert sampled, "the sampler read no child's environment"
    leaking = [e for e, data in environs.items() if token in data]
    leaking += [str(pid) for pid, data in sampled.items() if token in data]
    assert leaking == []
    assert b"GITHUB_TOKEN=" + token not in b"".join(environs.values())


def _dummy_client_settings(local) -> dict[str, str]:
    environment = local.environment
    return {
        "region_name": environment["AWS_DEFAULT_REGION"],
        "aws_access_key_id": environment["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": environment["AWS_SECRET_ACCESS_KEY"],
        "aws_session_token": environment["AWS_SESSION_TOKEN"],
    }
