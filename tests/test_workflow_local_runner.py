"""The state machine on the local runner: the MockConfigFile test cases and real tasks.

Every test asserts the path taken (states entered, in order, top level and inside each Map
item), not only the final status.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from ghbackup.batch import plan_batches
from workflow.emulation import EMULATION
from workflow.local_runner import run_local

pytestmark = pytest.mark.integration

MOCK_CONFIG = Path(__file__).parent / "workflow" / "mock_config.json"
RUN_ID = "mock-run"  # the run id the mocked responses in mock_config.json name
FAKE_CONTAINER = [sys.executable, "-m", "tests.workflow.fake_container"]

VALIDATE = "Validate the execution input"
LIST = "List the items to back up"
CHOICE = "Is there anything to back up?"
MAP = "Back up each batch"
FINALIZE = "Finalize the run"
PUBLISH = "Publish the run summary"
DONE = "The run is finished"
PUBLISH_FAILED = "Note that the summary could not be published"
NOTIFY_FAILED = "Notify that the run failed"
FAILED = "The run failed"
CONTAINER = "Back up the batch in a container"
RECORD_FAILED = "Record the batch as failed"


def _items(*names: str, per_batch: int = 25) -> dict[str, bytes]:
    """items.json and batches.json as the list step writes them."""
    items = [{"kind": "repository", "full_name": name} for name in names]
    batches = plan_batches([None] * len(items), max_items=per_batch)
    return {
        f"staging/{RUN_ID}/items.json": json.dumps(items).encode(),
        f"staging/{RUN_ID}/batches.json": json.dumps([b.to_json() for b in batches]).encode(),
    }


def _run(tmp_path, test_case: str | None, execution_input=None, items=(), per_batch=25, **kwargs):
    return run_local(
        execution_input if execution_input is not None else {},
        out_dir=tmp_path / "out",
        github_api_url="http://127.0.0.1:9",
        run_id=RUN_ID,
        mock_config=MOCK_CONFIG if test_case else None,
        test_case=test_case,
        staged_objects=_items(*items, per_batch=per_batch),
        retry_delay_scale=0.0,
        container_command=FAKE_CONTAINER,
        **kwargs,
    ).to_json()  # the outcome as its record's JSON


def _errors(events, event_type="TaskFailed"):
    key = event_type[0].lower() + event_type[1:] + "EventDetails"
    return [e[key]["error"] for e in events if e["type"] == event_type]


def test_happy_path(tmp_path):
    result = _run(tmp_path, "HappyPath", items=("acme/one", "acme/two"))
    assert result["path"] == [VALIDATE, LIST, CHOICE, MAP, FINALIZE, PUBLISH, DONE]
    assert [i["path"] for i in result["iterations"]] == [[CONTAINER]]  # one batch of two
    assert result["status"] == "SUCCEEDED"
    assert result["notification"]["attributes"] == {"status": "SUCCEEDED", "run_id": RUN_ID}
    assert result["summary"]["counts"] == {"total": 2, "succeeded": 2, "failed": 0}
    # Mocked: no container process ran.
    assert not (tmp_path / "out" / RUN_ID / "logs").exists() or not any(
        (tmp_path / "out" / RUN_ID / "logs").iterdir()
    )


def test_one_repository_fails_after_retries(tmp_path):
    result = _run(tmp_path, "OneRepositoryFailsAfterRetries", items=("acme/broken",))
    assert result["path"] == [VALIDATE, LIST, CHOICE, MAP, FINALIZE, PUBLISH, DONE]
    [iteration] = result["iterations"]
    assert iteration["path"] == [CONTAINER, RECORD_FAILED]
    assert _errors(iteration["events"]) == ["States.TaskFailed"] * 3  # first try + 2 retries
    assert result["status"] == "SUCCEEDED"
    assert result["notification"]["attributes"]["status"] == "PARTIAL"
    assert result["summary"]["failed"][0]["item_key"] == "repository/acme/broken"


def test_a_batch_with_an_item_failed_for_good_exits_zero_and_is_not_retried(tmp_path):
    """The container records NotFound in result.json and exits 0: one attempt, no Catch."""
    result = _run(tmp_path, "OneItemFailsForGood", items=("acme/one", "acme/two", "acme/gone"))
    assert result["path"] == [VALIDATE, LIST, CHOICE, MAP, FINALIZE, PUBLISH, DONE]
    [iteration] = result["iterations"]
    assert iteration["path"] == [CONTAINER]
    assert _errors(iteration["events"]) == []
    assert result["status"] == "SUCCEEDED"
    assert result["notification"]["attributes"]["status"] == "PARTIAL"


def test_listing_fails(tmp_path):
    result = _run(tmp_path, "ListingFails", items=("acme/one",))
    assert result["path"] == [VALIDATE, LIST, NOTIFY_FAILED, FAILED]
    assert _errors(result["history"]) == ["GitHubUnavailable"] * 3
    assert (result["status"], result["error"]) == ("FAILED", "GitHubUnavailable")
    assert result["notification"]["attributes"]["status"] == "FAILED"
    assert "GitHubUnavailable" in result["notification"]["message"]
    assert result["iterations"] == []
    # Nothing was written: no empty folder is left to look like a run.
    assert not (tmp_path / "out" / RUN_ID).exists()


def test_empty_account_goes_straight_to_finalize(tmp_path):
    result = _run(tmp_path, "EmptyAccount")
    assert result["path"] == [VALIDATE, LIST, CHOICE, FINALIZE, PUBLISH, DONE]
    assert result["status"] == "SUCCEEDED"
    assert result["summary"]["counts"]["total"] == 0


def test_a_run_with_every_item_unchanged_starts_no_task(tmp_path):
    result = _run(tmp_path, "EverythingUnchanged", items=("acme/one", "acme/two"))
    assert result["path"] == [VALIDATE, LIST, CHOICE, FINALIZE, PUBLISH, DONE]
    assert result["iterations"] == []
    assert result["status"] == "SUCCEEDED"


def test_malformed_input_fails_at_validation(tmp_path):
    result = _run(tmp_path, "MalformedInput", execution_input={"repositories": "not-a-list"})
    assert result["path"] == [VALIDATE, NOTIFY_FAILED, FAILED]
    assert (result["status"], result["error"]) == ("FAILED", "InvalidInput")


def test_finalize_fails(tmp_path):
    result = _run(tmp_path, "FinalizeFails", items=("acme/one", "acme/two"))
    assert result["path"] == [VALIDATE, LIST, CHOICE, MAP, FINALIZE, NOTIFY_FAILED, FAILED]
    assert _errors(result["history"]) == ["StorageError"] * 3
    assert (result["status"], result["error"]) == ("FAILED", "StorageError")
    assert result["notification"]["subject"] == f"ghbackup run {RUN_ID} FAILED"


def test_a_summary_that_cannot_be_published_does_not_fail_a_finished_run(tmp_path):
    """SNS failing after Finalize stored the run: the execution follows the run manifest."""
    result = _run(tmp_path, "SummaryCannotBePublished", items=("acme/one", "acme/two"))
    assert result["path"] == [VALIDATE, LIST, CHOICE, MAP, FINALIZE, PUBLISH, PUBLISH_FAILED, DONE]
    assert len(_errors(result["history"])) == 4  # the first try and three retries
    assert result["status"] == "SUCCEEDED"
    assert result["notification"] is None


@pytest.mark.parametrize(
    ("execution_input", "message"),
    [
        ({"repositories": "not-a-list"}, "repositories: 'not-a-list' is not of type 'array'"),
        ({"orgs": ["acme"], "colour": "blue"}, "unknown field 'colour'"),
    ],
)
def test_bad_input_fails_the_execution_at_validation_naming_the_field(
    tmp_path, monkeypatch, execution_input, message
):
    monkeypatch.setenv("GITHUB_TOKEN", "not-used-before-validation")
    result = _run(tmp_path, None, execution_input=execution_input)
    assert result["path"] == [VALIDATE, NOTIFY_FAILED, FAILED]
    assert (result["status"], result["error"]) == ("FAILED", "InvalidInput")
    assert message in json.loads(result["cause"])["errorMessage"]
    assert message in result["notification"]["message"]


def _captures(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def test_real_tasks_one_item_failing_for_good_makes_the_run_partial_in_one_attempt(
    tmp_path, monkeypatch
):
    """Validate and Finalize run for real, the batch is a container process (a stand-in
    for the engine); only the listing is mocked, so no GitHub is needed. A NotFound is
    final: the task exits 0 and nothing is retried."""
    captures = tmp_path / "captures.txt"
    monkeypatch.setenv("FAKE_CONTAINER_CAPTURE_LOG", str(captures))
    progress = []
    result = _run(
        tmp_path,
        "RealTasksListMocked",
        execution_input={"orgs": ["acme"]},
        items=("acme/one", "acme/two", "acme/broken"),
        progress=lambda *counts: progress.append(counts),
    )
    assert result["path"] == [VALIDATE, LIST, CHOICE, MAP, FINALIZE, PUBLISH, DONE]
    [iteration] = result["iterations"]
    assert iteration["path"] == [CONTAINER]
    assert _errors(iteration["events"]) == []
    assert result["status"] == "SUCCEEDED"
    summary = result["summary"]
    assert (summary["status"], summary["counts"]) == (
        "PARTIAL",
        {"total": 3, "succeeded": 2, "failed": 1},
    )
    [failed] = summary["failed"]
    assert (failed["item_key"], failed["error_type"]) == ("repository/acme/broken", "NotFound")
    assert sorted(_captures(captures)) == [
        "repository/acme/broken",
        "repository/acme/one",
        "repository/acme/two",
    ]
    assert result["notification"]["attributes"]["status"] == "PARTIAL"
    archive_key = f"runs/{RUN_ID}/ghbackup-{RUN_ID}.zip"
    assert result["objects"][archive_key]["storage_class"] == "GLACIER"
    with zipfile.ZipFile(result["objects"][archive_key]["path"]) as archive:
        assert archive.testzip() is None
        assert {n.split("/")[1] for n in archive.namelist()} == {"one", "two"}
    manifest = Path(result["objects"][f"runs/{RUN_ID}/manifest.json"]["path"])
    # Finalize records the execution that owns the run id (its ARN, from the context object).
    assert json.loads(manifest.read_text())["execution"].endswith(f":execution:ghbackup:{RUN_ID}")
    assert progress[-1] == (3, 1, 3)
    # One process for the whole batch.
    assert len(list((tmp_path / "out" / RUN_ID / "logs").iterdir())) == 1


def test_a_retryable_failure_reruns_only_the_items_without_a_final_result(tmp_path, monkeypatch):
    captures = tmp_path / "captures.txt"
    monkeypatch.setenv("FAKE_CONTAINER_CAPTURE_LOG", str(captures))
    result = _run(
        tmp_path,
        "RealTasksListMocked",
        items=("acme/one", "acme/broken", "acme/unavailable"),
    )
    [iteration] = result["iterations"]
    assert iteration["path"] == [CONTAINER, RECORD_FAILED]
    assert _errors(iteration["events"]) == ["States.TaskFailed"] * 3  # first try + 2 retries
    # The success and the NotFound are final: captured once however often the batch runs.
    assert sorted(_captures(captures)) == [
        "repository/acme/broken",
        "repository/acme/one",
        *["repository/acme/unavailable"] * 3,
    ]
    summary = result["summary"]
    assert (summary["status"], summary["counts"]["succeeded"]) == ("PARTIAL", 1)
    assert {f["item_key"]: f["error_type"] for f in summary["failed"]} == {
        "repository/acme/broken": "NotFound",
        "repository/acme/unavailable": "GitHubUnavailable",
    }


def test_a_stopped_batch_is_retried_without_capturing_its_done_items_again(tmp_path, monkeypatch):
    """SIGTERM (ECS StopTask, a Fargate Spot interruption) after two items: no new item
    starts, the task exits non-zero, and the retry captures only the rest."""
    captures = tmp_path / "captures.txt"
    monkeypatch.setenv("FAKE_CONTAINER_CAPTURE_LOG", str(captures))
    monkeypatch.setenv("FAKE_CONTAINER_SECONDS", "0.3")
    monkeypatch.setenv("GHBACKUP_CONCURRENCY", "1")
    started: list[str] = []
    stopped: list[bool] = []

    def stop_after_two(task_arn: str) -> None:
        deadline = time.monotonic() + 60
        while len(_captures(captures)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        stopped.append(EMULATION.stop_task(task_arn))

    def observe(task_arn: str, event: str) -> None:
        started.append(task_arn)
        if len(started) == 1:
            threading.Thread(target=stop_after_two, args=(task_arn,), daemon=True).start()

    names = tuple(f"acme/repo-{n}" for n in range(6))
    EMULATION.add_task_observer(observe)
    try:
        result = _run(tmp_path, "RealTasksListMocked", items=names)
    finally:
        EMULATION.remove_task_observer(observe)
    assert stopped == [True]
    assert len(started) == 2
    [iteration] = result["iterations"]
    assert iteration["path"] == [CONTAINER]
    assert _errors(iteration["events"]) == ["States.TaskFailed"]  # the stop, then success
    done = _captures(captures)
    assert sorted(done) == sorted(f"repository/{name}" for name in names)  # each once
    assert result["summary"]["counts"] == {"total": 6, "succeeded": 6, "failed": 0}


def test_a_batch_larger_than_the_ecs_override_limit_travels_as_a_pointer(tmp_path):
    # 120 items with long names: about 16 KiB inline, twice what ECS overrides allow.
    names = tuple(f"acme/{'x' * 90}-{n:03d}" for n in range(120))
    result = _run(tmp_path, "RealTasksListMocked", items=names, per_batch=1000)
    [iteration] = result["iterations"]
    assert iteration["path"] == [CONTAINER]
    [scheduled] = [e for e in iteration["events"] if e["type"] == "TaskScheduled"]
    parameters = scheduled["taskScheduledEventDetails"]["parameters"]
    assert len(json.dumps(json.loads(parameters)["Overrides"])) < 1024
    assert result["summary"]["counts"] == {"total": 120, "succeeded": 120, "failed": 0}


def test_the_map_runs_at_most_max_concurrency_containers_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_CONTAINER_SECONDS", "1.5")
    peaks: list[int] = []
    lock = threading.Lock()

    def observe(task_arn: str, event: str) -> None:
        with lock:
            peaks.append(EMULATION.running_task_count())

    EMULATION.add_task_observer(observe)
    try:
        result = _run(
            tmp_path,
            "RealTasksListMocked",
            items=("acme/a", "acme/b", "acme/c", "acme/d", "acme/e"),
            per_batch=1,
            max_concurrency=2,
        )
    finally:
        EMULATION.remove_task_observer(observe)
    assert result["summary"]["counts"]["succeeded"] == 5
    assert len(peaks) == 5
    assert max(peaks) == 2


def test_end_to_end_against_the_github_stand_in(standin, tmp_path, monkeypatch):
    """Nothing mocked: the list Lambda reads the token from the SSM SecureString and asks
    the stand-in, each item is ``python -m container.entrypoint``, Finalize builds the zip."""
    monkeypatch.setenv("GITHUB_TOKEN", standin.token)
    result = run_local(
        {"orgs": [standin.owner]},
        out_dir=tmp_path / "out",
        github_api_url=standin.api_url,
        run_id="run-e2e",
        retry_delay_scale=0.0,
    ).to_json()
    assert result["path"] == [VALIDATE, LIST, CHOICE, MAP, FINALIZE, PUBLISH, DONE]
    assert [i["path"] for i in result["iterations"]] == [[CONTAINER]]  # one batch
    summary = result["summary"]
    assert summary["status"] == "SUCCEEDED", summary["failed"]
    assert summary["counts"]["succeeded"] == summary["counts"]["total"] == 5
    archive = result["objects"]["runs/run-e2e/ghbackup-run-e2e.zip"]
    assert archive["storage_class"] == "GLACIER"
    with zipfile.ZipFile(archive["path"]) as run_zip:
        assert run_zip.testzip() is None
        folders = {"/".join(name.split("/")[:2]) for name in run_zip.namelist()}
    assert folders == set(standin.repository_names())
    assert standin.token not in json.dumps(result, default=str)


def test_deleted_repositories_cost_one_capture_and_make_the_run_partial(
    standin, tmp_path, monkeypatch
):
    """NotFound is final: the batch task exits 0 and the Map retries nothing, so each
    deleted repository is asked for once by its capture (and once by the list step's
    incremental probe, which stops at the 404)."""
    monkeypatch.setenv("GITHUB_TOKEN", standin.token)
    names = standin.repository_names()
    deleted = sorted(names[:2])
    for name in deleted:
        standin.fail_permanently(name, status=404)
    try:
        result = run_local(
            {"orgs": [standin.owner]},
            out_dir=tmp_path / "out",
            github_api_url=standin.api_url,
            run_id="run-partial",
            retry_delay_scale=0.0,
        ).to_json()
    finally:
        standin.faults.clear()
    assert result["path"] == [VALIDATE, LIST, CHOICE, MAP, FINALIZE, PUBLISH, DONE]
    [iteration] = result["iterations"]  # 5 small repositories: one batch
    assert iteration["path"] == [CONTAINER]
    assert _errors(iteration["events"]) == []
    for name in deleted:
        asked = [e for e in standin.request_log if e[1].split("?")[0].endswith(f"/repos/{name}")]
        assert len(asked) == 2, asked
    assert result["status"] == "SUCCEEDED"
    summary = result["summary"]
    assert summary["status"] == "PARTIAL"
    assert sorted(f["item_key"] for f in summary["failed"]) == [f"repository/{n}" for n in deleted]
    assert {f["error_type"] for f in summary["failed"]} == {"NotFound"}
    assert result["notification"]["attributes"]["status"] == "PARTIAL"
    with zipfile.ZipFile(
        result["objects"]["runs/run-partial/ghbackup-run-partial.zip"]["path"]
    ) as z:
        folders = {"/".join(name.split("/")[:2]) for name in z.namelist()}
    assert folders == set(names) - set(deleted)


def test_a_full_output_disk_is_one_error_that_names_what_was_lost(tmp_path, monkeypatch):
    import errno

    from ghbackup.errors import RunAlreadyExists, StorageError
    from workflow import local_runner
    from workflow.local_runner import check_run_folder

    def full_disk(s3, bucket, key, path):
        path.write_bytes(b"PK-part")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(local_runner, "_download", full_disk)
    with pytest.raises(StorageError) as raised:
        _run(tmp_path, "RealTasksListMocked", {"orgs": ["acme"]}, items=("acme/one",))
    message = str(raised.value)
    assert f"run {RUN_ID} ended SUCCEEDED, but exporting it failed" in message
    assert "No space left on device" in message and "local S3" in message
    assert str(tmp_path / "out" / RUN_ID) in message and "\n" not in message
    assert not list((tmp_path / "out").rglob("*.partial"))
    # No archive was kept: the same run id runs again (and a finished one is refused).
    assert check_run_folder(tmp_path / "out", RUN_ID) == "unfinished"
    (tmp_path / "out" / RUN_ID / f"ghbackup-{RUN_ID}.zip").write_bytes(b"PK")
    with pytest.raises(RunAlreadyExists, match=f"run {RUN_ID} already exists or is running"):
        _run(tmp_path, "HappyPath", items=("acme/one",))


def test_an_interrupted_run_keeps_what_finished_and_its_id_continues_without_capturing_it_again(
    standin, tmp_path, monkeypatch
):
    """Ctrl-C after the first item: the run stops, the finished items are exported, the folder
    holds no archive; the same run id then continues and reuses them."""
    from workflow import local_runner
    from workflow.local_runner import RunInterrupted

    monkeypatch.setenv("GITHUB_TOKEN", standin.token)
    monkeypatch.setenv("GHBACKUP_CONCURRENCY", "1")  # items finish one at a time
    # Counts looked at as often as the runner looks at the execution: on an idle machine the
    # five items can all finish between two of the default once-a-second looks.
    monkeypatch.setattr(local_runner, "_PROGRESS_SECONDS", local_runner._POLL_SECONDS)
    out = tmp_path / "out"

    def ctrl_c_after_one(done: int, failed: int, total: int) -> None:
        if done >= 1:
            raise KeyboardInterrupt

    with pytest.raises(RunInterrupted) as raised:
        run_local({"orgs": [standin.owner]}, out_dir=out, github_api_url=standin.api_url,
                  run_id="run-cut", retry_delay_scale=0.0, progress=ctrl_c_after_one)  # fmt: skip
    stopped = raised.value
    assert stopped.exit_code == 130 and stopped.total == 5 and 1 <= stopped.kept < 5
    assert not (out / "run-cut" / "ghbackup-run-cut.zip").exists()
    states = sorted(out.glob("state/latest/**/state.json"))
    assert len(states) == stopped.kept  # every item that finished counts for the next run

    result = run_local({"orgs": [standin.owner]}, out_dir=out, github_api_url=standin.api_url,
                       run_id="run-cut", retry_delay_scale=0.0).to_json()  # fmt: skip
    assert result["summary"]["status"] == "SUCCEEDED"
    assert result["summary"]["counts"]["succeeded"] == 5
    manifest = json.loads((out / "run-cut" / "manifest.json").read_text())
    reused = [line for line in manifest["items"] if line.get("capture") == "reused"]
    assert len(reused) == stopped.kept  # unchanged on GitHub: not captured again
