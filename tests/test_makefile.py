"""The Makefile asks for terraform only where it is used: the demo runs without it, the
terraform targets (and ``make test``) say at once that it is missing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def path_without_terraform(tmp_path):
    """A PATH with the tools ``make`` and .ci/system-deps.sh use, and no terraform."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("make", "bash", "env", "git", "git-lfs", "unzip", "python3"):
        found = shutil.which(tool)
        if found is None:
            pytest.skip(f"{tool} is not installed")
        (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


def make(path: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "-s", *args], cwd=ROOT, env={"PATH": path}, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


def test_the_demo_needs_no_terraform(path_without_terraform):
    deps = make(path_without_terraform, "system-deps")
    assert deps.returncode == 0, deps.stderr
    planned = make(path_without_terraform, "-n", "demo")
    assert planned.returncode == 0 and "terraform" not in planned.stdout


@pytest.mark.parametrize("target", ["test", "tf-test", "tf-integration"])
def test_terraform_targets_say_first_that_terraform_is_missing(path_without_terraform, target):
    planned = make(path_without_terraform, "-n", target)
    assert planned.stdout.splitlines()[0].startswith("command -v terraform")
    checked = make(path_without_terraform, "terraform-check")
    assert checked.returncode != 0
    assert checked.stderr.startswith("terraform is not on PATH")
