"""Incremental runs end to end: ``run_local`` twice with the same output folder, against the
stand-in, with the real list step, containers and Finalize. The second run's archive must
hold every change made between the runs, restore every repository alone, and capture only
what changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ghbackup.restore import restore_archive
from tests.roundtrip import assert_repository_round_trips
from tests.standin import AccountSpec, GitHubStandIn
from workflow.local_runner import run_local

pytestmark = pytest.mark.integration


@pytest.fixture
def gh(tmp_path):
    spec = AccountSpec(repositories=8, gists=1, followers=1, following=1, starred=1, watched=1)
    with GitHubStandIn(root=tmp_path / "standin", account=spec) as standin:
        yield standin


def _run(gh, out: Path, run_id: str, monkeypatch, **extra):
    monkeypatch.setenv("GITHUB_TOKEN", gh.token)
    outcome = run_local(
        {"orgs": [gh.owner], "users": [], "repositories": [], **extra},
        out_dir=out, github_api_url=gh.api_url, run_id=run_id, timeout_seconds=600,
    )  # fmt: skip
    assert outcome.status == "SUCCEEDED", (outcome.error, outcome.cause)
    manifest = json.loads((out / run_id / "manifest.json").read_text())
    return outcome, {line["item_key"]: line for line in manifest["items"]}


def _assert_every_repository_restores(gh, out: Path, run_id: str, tmp_path: Path) -> None:
    archive = out / run_id / f"ghbackup-{run_id}.zip"
    for name in gh.repository_names():
        restored = tmp_path / "restored" / run_id / name.replace("/", "__")
        restore_archive(archive, restored, repo=name)
        assert_repository_round_trips(gh, restored, name)


def test_a_second_run_over_an_unchanged_account_reuses_every_item(gh, tmp_path, monkeypatch):
    out = tmp_path / "out"
    _first, lines = _run(gh, out, "run-1", monkeypatch)
    assert {line["capture"] for line in lines.values()} == {"full"}
    assert (out / "state" / "latest").is_dir()

    second, lines = _run(gh, out, "run-2", monkeypatch)

    assert {k: v["capture"] for k, v in lines.items()} == {k: "reused" for k in lines}
    assert {v["reused_from"] for v in lines.values()} == {"run-1"}
    assert second.iterations == [], "no task for unchanged items"
    _assert_every_repository_restores(gh, out, "run-2", tmp_path)
