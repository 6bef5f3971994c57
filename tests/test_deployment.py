"""Which deployment the operating commands use, and reading it from terraform output."""

from __future__ import annotations

import json
import shutil
import stat

import pytest

from ghbackup.deployment import (
    Deployment,
    config_path,
    deployment_from_terraform,
    resolve_deployment,
    write_config,
)
from ghbackup.errors import ConfigurationError

ARN = "arn:aws:states:eu-central-1:123456789012:stateMachine:ghbackup"


def fake_terraform(tmp_path, monkeypatch, script: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "terraform"
    exe.write_text("#!/bin/sh\n" + script)
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")


def test_flag_beats_environment_beats_config_file(tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    write_config(
        Deployment(bucket="from-config", state_machine_arn=ARN, region="eu-central-1"), env
    )
    assert resolve_deployment(env=env).bucket == "from-config"
    assert resolve_deployment(env=env).state_machine_arn == ARN
    env["GHBACKUP_BUCKET"] = "from-env"
    assert resolve_deployment(env=env).bucket == "from-env"
    assert resolve_deployment("from-flag", env=env).bucket == "from-flag"


def test_config_lives_under_xdg_config_home_or_home(tmp_path):
    assert config_path({"XDG_CONFIG_HOME": "/x"}).as_posix() == "/x/ghbackup/config.json"
    assert config_path({"HOME": "/home/u"}).as_posix() == "/home/u/.config/ghbackup/config.json"


def test_outputs_nested_in_a_module_output_are_found(tmp_path, monkeypatch):
    outputs = {"ghbackup": {"value": {"bucket_name": "b1", "state_machine_arn": ARN}}}
    fake_terraform(tmp_path, monkeypatch, f"cat <<'EOF'\n{json.dumps(outputs)}\nEOF\n")
    found = deployment_from_terraform(tmp_path)
    assert (found.bucket, found.state_machine_arn, found.region) == ("b1", ARN, "eu-central-1")


def test_missing_outputs_name_what_is_missing(tmp_path, monkeypatch):
    fake_terraform(tmp_path, monkeypatch, 'echo \'{"bucket_name": {"value": "b1"}}\'\n')
    with pytest.raises(ConfigurationError, match="has no state_machine_arn"):
        deployment_from_terraform(tmp_path)


def test_failing_terraform_gives_its_first_error_line(tmp_path, monkeypatch):
    fake_terraform(
        tmp_path, monkeypatch, "echo 'Error: Backend initialization required' >&2\nexit 1\n"
    )
    with pytest.raises(ConfigurationError, match="Backend initialization required"):
        deployment_from_terraform(tmp_path)


def test_a_hanging_terraform_times_out(tmp_path, monkeypatch):
    fake_terraform(tmp_path, monkeypatch, "exec sleep 30\n")
    with pytest.raises(ConfigurationError, match="did not answer"):
        deployment_from_terraform(tmp_path, timeout=0.5)


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")
def test_real_terraform_output_from_a_state_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", "/dev/null")
    (tmp_path / "terraform.tfstate").write_text(json.dumps({
        "version": 4, "terraform_version": "1.11.0", "serial": 1, "resources": [],
        "lineage": "00000000-0000-0000-0000-000000000000", "check_results": None,
        "outputs": {"bucket_name": {"value": "b2", "type": "string"},
                    "state_machine_arn": {"value": ARN, "type": "string"}},
    }))  # fmt: skip
    found = deployment_from_terraform(tmp_path)
    assert (found.bucket, found.state_machine_arn) == ("b2", ARN)
