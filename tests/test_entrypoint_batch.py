"""The container entrypoint with BACKUP_BATCH against the stand-in: final and retryable
failures, SIGTERM midway and the retry, and what the process keeps of the credential."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ghbackup import exit_codes
from ghbackup.batch import STOPPED_EXIT_CODE
from ghbackup.records import BackupItem, ItemResult, item_result_key

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]


def _environment(gh, out: Path, batch: dict, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(out),
        "BACKUP_BATCH": json.dumps(batch),
        "RUN_ID": "run-test",
        "BACKUP_OUTPUT_DIR": str(out),
        "GITHUB_API_URL": gh.api_url,
        "GITHUB_TOKEN": gh.token,
        "GHBACKUP_RETRY_ATTEMPTS": "2",
        "GHBACKUP_MAX_RATE_LIMIT_WAIT": "30",
        **extra,
    }


def _stage(out: Path, names: list[str]) -> list[dict]:
    items = [{"kind": "repository", "full_name": name} for name in names]
    out.mkdir(parents=True, exist_ok=True)
    (out / "items.json").write_text(json.dumps(items))
    return items


def _run(env: dict[str, str], *, timeout: float) -> subprocess.CompletedProcess[str]:
    """The entrypoint as ECS runs it, to its end."""
    return subprocess.run(
        [sys.executable, "-m", "container.entrypoint"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _start(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "container.entrypoint"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(out: Path, item: dict) -> ItemResult | None:
    path = out / item_result_key("", BackupItem.from_json(item))
    return ItemResult.from_json(json.loads(path.read_text())) if path.exists() else None


def _asked(gh, name: str) -> int:
    return sum(1 for e in gh.request_log if e[1].split("?")[0].endswith(f"/repos/{name}"))


def test_a_batch_with_a_deleted_repository_exits_zero_after_one_attempt(standin, tmp_path):
    gh = standin
    names = gh.repository_names()[:3]
    out = tmp_path / "out"
    items = _stage(out, [*names, f"{gh.owner}/deleted-long-ago"])
    proc = subprocess.run(
        [sys.executable, "-m", "container.entrypoint"],
        cwd=ROOT,
        env=_environment(gh, out, {"batch": 0, "first": 0, "count": 4}),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert [_result(out, item).status for item in items] == ["succeeded"] * 3 + ["failed"]
    assert _result(out, items[3]).error_type == "NotFound"
    assert _asked(gh, f"{gh.owner}/deleted-long-ago") == 1
    lines = proc.stderr.strip().splitlines()
    assert "NotFound" in lines[0] and "deleted-long-ago" in lines[0]
    assert "3 succeeded, 1 failed for good" in lines[-1]


def test_a_retryable_failure_exits_non_zero_and_the_rerun_skips_what_succeeded(standin, tmp_path):
    gh = standin
    names = gh.repository_names()[:3]
    out = tmp_path / "out"
    items = _stage(out, names)
    env = _environment(gh, out, {"batch": 0, "first": 0, "count": 3})
    gh.fail_permanently(names[1])  # 500s: GitHubUnavailable, worth a retry
    try:
        first = _run(env, timeout=300)
    finally:
        gh.faults.clear()
    assert first.returncode == exit_codes.GITHUB, first.stderr  # GitHubUnavailable's code
    assert _result(out, items[1]).error_type == "GitHubUnavailable"
    gh.reset_request_log()
    second = _run(env, timeout=300)
    assert second.returncode == 0, second.stderr
    assert [_asked(gh, name) for name in names] == [0, 1, 0]
    assert all(_result(out, item).status == "succeeded" for item in items)
    assert "2 already final" in second.stderr


def test_sigterm_stops_the_batch_cleanly_and_the_retry_captures_only_the_rest(standin, tmp_path):
    gh = standin
    names = gh.repository_names()
    out, scratch = tmp_path / "out", tmp_path / "scratch"
    scratch.mkdir()
    items = _stage(out, names)
    env = _environment(
        gh,
        out,
        {"batch": 0, "first": 0, "count": len(names)},
        GHBACKUP_CONCURRENCY="1",
        GHBACKUP_SCRATCH_DIR=str(scratch),
        GHBACKUP_STOP_GRACE_SECONDS="60",
    )
    gh.faults.slow(150)  # every response: so the stop lands while items are running
    try:
        proc = _start(env)
        deadline = time.monotonic() + 120
        while _result(out, items[0]) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        # The process no longer holds the token where another process could read it.
        environ = Path(f"/proc/{proc.pid}/environ").read_bytes()
        assert gh.token.encode() not in environ
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        gh.faults.clear()
    assert proc.returncode == STOPPED_EXIT_CODE, stderr
    assert "stopped with" in stderr.strip().splitlines()[-1]
    done = [item for item in items if (r := _result(out, item)) and r.status == "succeeded"]
    assert 1 <= len(done) < len(items)
    assert list(scratch.iterdir()) == []  # every scratch folder removed
    assert not list(out.rglob("*.partial"))
    assert gh.token not in stdout + stderr

    gh.reset_request_log()
    retry = _run(env, timeout=300)
    assert retry.returncode == 0, retry.stderr
    for item in items:
        assert _asked(gh, item["full_name"]) == (0 if item in done else 1), item
    assert all(_result(out, item).status == "succeeded" for item in items)
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize("variable", ["BACKUP_ITEM", "BACKUP_BATCH"])
def test_an_oversized_item_or_batch_is_one_short_line(standin, tmp_path, variable):
    env = _environment(standin, tmp_path, {"batch": 0, "first": 0, "count": 1, "x": "A" * 100_000})
    if variable == "BACKUP_ITEM":
        del env["BACKUP_BATCH"]
        env["BACKUP_ITEM"] = json.dumps(
            {"kind": "repository", "full_name": "acme/" + "A" * 100_000}
        )
    proc = _run(env, timeout=60)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "InvalidItem" in lines[0] and len(lines[0]) < 200
    assert len(proc.stdout) < 2000


def test_sigterm_ends_a_single_item_capture_and_removes_its_scratch(standin, tmp_path):
    gh = standin
    name = gh.repository_names()[0]
    out, scratch = tmp_path / "out", tmp_path / "scratch"
    scratch.mkdir()
    env = _environment(gh, out, {}, GHBACKUP_SCRATCH_DIR=str(scratch))
    del env["BACKUP_BATCH"]
    env["BACKUP_ITEM"] = json.dumps({"kind": "repository", "full_name": name})
    gh.faults.slow(300)
    try:
        proc = _start(env)
        deadline = time.monotonic() + 60
        while not any(scratch.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.5)  # well inside the capture
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        gh.faults.clear()
    assert proc.returncode == STOPPED_EXIT_CODE, stderr
    assert list(scratch.iterdir()) == []
    assert not list(out.rglob("item.zip*"))
