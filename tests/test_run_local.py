"""``ghbackup run --local`` at the scale the workflow issue names: 50 repositories of the
stand-in through the real state machine, then restore from the run archive."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ghbackup.restore import restore_archive
from tests.roundtrip import assert_repository_round_trips
from workflow.local_runner import run_local

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]


def test_fifty_repositories_through_the_cli_round_trip(standin_50, tmp_path):
    gh = standin_50
    env = {**os.environ, "GITHUB_TOKEN": gh.token, "GHBACKUP_RETRY_ATTEMPTS": "3"}
    out = tmp_path / "backups"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "run",
            "--local",
            "--org",
            gh.owner,
            "--out",
            str(out),
            "--api-url",
            gh.api_url,
            "--run-id",
            "run-fifty",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert gh.token not in proc.stdout and gh.token not in proc.stderr
    # The summary in words on stdout; stderr (no terminal) has only plain progress lines.
    assert proc.stdout.startswith("run run-fifty: SUCCEEDED, 50 items (50 succeeded), ")
    assert "SNS message" not in proc.stderr and "Warning" not in proc.stderr
    assert all(line.startswith("run run-fifty: ") for line in proc.stderr.splitlines()), proc.stderr

    archive = out / "run-fifty" / "ghbackup-run-fifty.zip"
    subprocess.run(["unzip", "-tqq", str(archive)], check=True, timeout=300)
    with zipfile.ZipFile(archive) as run_zip:
        assert run_zip.testzip() is None
    manifest = json.loads((out / "run-fifty" / "manifest.json").read_text())
    assert manifest["status"] == "SUCCEEDED"

    for name in gh.repository_names():
        restored = tmp_path / "restored" / name.replace("/", "__")
        restore_archive(archive, restored, repo=name)
        assert_repository_round_trips(gh, restored, name)


def test_three_failing_repositories_make_a_partial_run_that_keeps_the_other_47(
    standin_50, tmp_path, monkeypatch
):
    gh = standin_50
    names = gh.repository_names()
    broken = sorted([names[7], names[21], names[42]])
    monkeypatch.setenv("GITHUB_TOKEN", gh.token)
    monkeypatch.setenv("GHBACKUP_RETRY_ATTEMPTS", "2")
    for name in broken:
        gh.fail_permanently(name)
    try:
        result = run_local(
            {"orgs": [gh.owner]},
            out_dir=tmp_path / "out",
            github_api_url=gh.api_url,
            run_id="run-partial-50",
            retry_delay_scale=0.0,
            max_concurrency=8,
        ).to_json()
    finally:
        gh.faults.clear()
    assert result["status"] == "SUCCEEDED"
    summary = result["summary"]
    assert summary["status"] == "PARTIAL"
    assert summary["counts"] == {"failed": 3, "succeeded": 47, "total": 50}
    assert sorted(f["item_key"] for f in summary["failed"]) == [f"repository/{n}" for n in broken]
    assert all(f["error_type"] and f["error"] for f in summary["failed"])
    assert result["notification"]["attributes"]["status"] == "PARTIAL"
    archive = result["objects"]["runs/run-partial-50/ghbackup-run-partial-50.zip"]
    assert archive["storage_class"] == "GLACIER"
    with zipfile.ZipFile(archive["path"]) as run_zip:
        folders = {"/".join(n.split("/")[:2]) for n in run_zip.namelist()}
    assert folders == set(names) - set(broken)
