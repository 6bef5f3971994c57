"""Verify at write, through the real state machine and the real task: a bundle damaged as
it is written (every checksum consistent, so only git's own checks can tell) fails its item,
which the Map retries as a storage fault and which never reaches the run archive as
succeeded; every other item records that it was verified and how long that took. With
``verify_items`` false the same damage is stored and reported as succeeded."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pytest

from ghbackup.errors import ArchiveCorrupt
from ghbackup.records import RunManifest
from ghbackup.restore import verify_archive
from workflow.local_runner import run_local

pytestmark = pytest.mark.integration

DAMAGING_CONTAINER = [sys.executable, "-m", "tests.workflow.damaging_container"]


def _run(gh, tmp_path: Path, run_id: str, execution_input: dict) -> tuple[dict, RunManifest]:
    result = run_local(
        execution_input,
        out_dir=tmp_path / "out",
        github_api_url=gh.api_url,
        run_id=run_id,
        retry_delay_scale=0.0,
        container_command=DAMAGING_CONTAINER,
    ).to_json()
    manifest = RunManifest.from_json((tmp_path / "out" / run_id / "manifest.json").read_bytes())
    return result, manifest


def _folders(archive: Path) -> set[str]:
    with zipfile.ZipFile(archive) as run_zip:
        return {"/".join(name.split("/")[:2]) for name in run_zip.namelist() if "/" in name}


@pytest.fixture
def damaged(standin, monkeypatch) -> str:
    """The repository whose bundle every capture damages (the task inherits the variable)."""
    name = next(n for n in standin.repository_names() if not standin.repository(n).empty)
    monkeypatch.setenv("GITHUB_TOKEN", standin.token)
    monkeypatch.setenv("GHBACKUP_RETRY_ATTEMPTS", "2")
    monkeypatch.setenv("DAMAGE_BUNDLE_OF", name)
    return name


def test_a_damaged_bundle_fails_its_item_is_retried_and_stays_out_of_the_run_archive(
    standin, damaged, tmp_path
):
    result, manifest = _run(standin, tmp_path, "run-damaged", {"orgs": [standin.owner]})

    assert result["summary"]["status"] == "PARTIAL"
    [failed] = [line for line in manifest.items if line.status == "failed"]
    assert failed.item_key == f"repository/{damaged}"
    assert failed.error_type == "VerifyAtWriteFailed"
    # The reason names the entry and the git check that caught it.
    assert failed.error.startswith(f"verify at write: {damaged}/repository.bundle: git ")
    assert not failed.verified and failed.verify_seconds is not None
    # A storage fault: the Map ran the batch's task again, twice, and each attempt failed.
    [iteration] = result["iterations"]
    failures = [e for e in iteration["events"] if e["type"] == "TaskFailed"]
    assert len(failures) == 3
    archive = tmp_path / "out" / "run-damaged" / "ghbackup-run-damaged.zip"
    assert damaged not in _folders(archive)
    succeeded = [line for line in manifest.items if line.status == "succeeded"]
    assert succeeded and all(line.verified for line in succeeded)
    assert all(line.verify_seconds and line.verify_seconds > 0 for line in succeeded)
    verify_archive(archive)  # what was stored restores


def test_with_verify_items_off_the_same_damage_is_stored_as_succeeded(standin, damaged, tmp_path):
    result, manifest = _run(
        standin, tmp_path, "run-unverified", {"repositories": [damaged], "verify_items": False}
    )

    assert result["summary"]["status"] == "SUCCEEDED"
    [line] = manifest.items
    assert (line.status, line.verified, line.verify_seconds) == ("succeeded", False, None)
    archive = tmp_path / "out" / "run-unverified" / "ghbackup-run-unverified.zip"
    assert damaged in _folders(archive)
    # Found only now, by a verify (or a restore) of the stored run.
    with pytest.raises(ArchiveCorrupt, match=f"^{damaged}/repository.bundle: git "):
        verify_archive(archive)
