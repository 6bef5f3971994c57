"""Incremental runs: which items the list step reuses, and when it refuses to trust a state."""

from __future__ import annotations

import hashlib
import json
import subprocess
from datetime import UTC, datetime, timedelta

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from moto import mock_aws

from ghbackup import incremental, kept_pages, probes
from ghbackup.credentials import TokenCredentials
from ghbackup.errors import GitHubError
from ghbackup.github import GitHubClient
from ghbackup.records import (
    BackupItem,
    ItemResult,
    ItemState,
    ReusedItems,
    Validators,
    item_result_key,
    item_validators_key,
    item_zip_key,
    latest_pages_key,
    latest_state_key,
    latest_zip_key,
    reused_items_key,
    staging_prefix,
)
from workflow import moto_fixes

BUCKET = "backups"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def s3():
    # S3 refuses a copy whose source lost the ETag it is conditioned on; moto needs telling.
    moto_fixes.fix_copy_source_if_match()
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def client(standin):
    return GitHubClient(standin.api_url, TokenCredentials(standin.token))


def _repositories(standin, count=2):
    names = [n for n in standin.repository_names() if not standin.repository(n).empty]
    return [BackupItem(kind="repository", full_name=n) for n in names[:count]]


def _plan(s3, client, run_id, items, **kwargs):
    kwargs.setdefault("clock", lambda: NOW)
    return incremental.plan_run(s3, BUCKET, run_id, items, client, **kwargs)


CAPTURED_COUNTS = {"issues": 3, "pulls": 1}
CAPTURED_SKIPPED = {"hooks": "403: the token may not read hooks"}


def _capture_and_promote(s3, client, run_id, items):
    """What a batch and Finalize do for captured items: the probes the list step could not
    ask, a zip and result in staging, then the promotion of what was seen."""
    for item in items:
        incremental.prepare_capture(s3, BUCKET, run_id, item, client, clock=lambda: NOW)
        kept_pages.keep_pages(s3, BUCKET, run_id, item, client)
        body = f"zip of {item.key} in {run_id}".encode()
        key = item_zip_key(staging_prefix(run_id), item)
        sha = hashlib.sha256(body).hexdigest()
        s3.put_object(Bucket=BUCKET, Key=key, Body=body, Metadata={"sha256": sha})
        result = ItemResult(item=item, status="succeeded", run_id=run_id, zip_key=key,
                            zip_bytes=len(body), zip_sha256=sha, counts=CAPTURED_COUNTS,
                            skipped=CAPTURED_SKIPPED, verified=True,
                            verify_seconds=0.2)  # fmt: skip
        validators = incremental.read_validators(s3, BUCKET, run_id, item)
        assert validators is not None
        incremental.promote(s3, BUCKET, result, validators)


def _validators(s3, run_id, item):
    key = item_validators_key(staging_prefix(run_id), item)
    return Validators.from_json(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def _reused_keys(s3, run_id):
    try:
        body = s3.get_object(Bucket=BUCKET, Key=reused_items_key(run_id))["Body"].read()
    except ClientError:
        return set()
    return {result.item.key for result in ReusedItems.from_json(body).results}


def _new_branch(standin, item, name):
    """A branch pushed between runs: a change only the repository's refs show."""
    bare = standin.bare_repo_path(item.full_name)
    head = subprocess.run(["git", "-C", str(bare), "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    subprocess.run(["git", "-C", str(bare), "update-ref", f"refs/heads/{name}", head], check=True)


def _result(s3, run_id, item):
    """A reused item's result, from the one record the list step writes for all of them."""
    body = s3.get_object(Bucket=BUCKET, Key=reused_items_key(run_id))["Body"].read()
    return next(r for r in ReusedItems.from_json(body).results if r.item == item)


def test_ref_advertisement_is_read_without_head_and_peeled_tags():
    def pkt(text):
        data = text.encode()
        return b"%04x" % (len(data) + 4) + data

    adv = (
        pkt("# service=git-upload-pack\n") + b"0000"
        + pkt("a" * 40 + " HEAD\0multi_ack symref=HEAD:refs/heads/main\n")
        + pkt("a" * 40 + " refs/heads/main\n")
        + pkt("b" * 40 + " refs/tags/v1\n")
        + pkt("c" * 40 + " refs/tags/v1^{}\n")
        + b"0000"
    )  # fmt: skip
    assert probes.parse_advertisement(adv) == {
        "refs/heads/main": "a" * 40,
        "refs/tags/v1": "b" * 40,
    }
    with pytest.raises(GitHubError, match="cut short"):
        probes.parse_advertisement(adv[:-10])


def test_first_run_asks_github_only_the_census_before_its_tasks(s3, client, standin):
    items = _repositories(standin)
    standin.reset_request_log()
    plan = _plan(s3, client, "r1", items)
    assert plan.capture == items and plan.reused == []
    # One GraphQL query describes them all; no probe: nothing to compare with.
    assert [(m, p.rsplit("/", 1)[-1]) for m, p, _ in standin.request_log] == [("POST", "graphql")]
    assert standin.git_log == []
    for item in items:
        seen = _validators(s3, "r1", item)
        assert (seen.capture, seen.capture_reason, seen.complete) == (
            "full", "no earlier capture", False,
        )  # fmt: skip
        assert set(seen.probes) == {probes.CENSUS_PROBE}  # kept for the next run


def test_the_task_probes_before_its_capture_and_the_capture_reuses_their_answers(
    s3, client, standin
):
    items = _repositories(standin, 1)
    name = items[0].full_name
    _plan(s3, client, "r1", items)
    standin.reset_request_log()

    incremental.prepare_capture(s3, BUCKET, "r1", items[0], client, clock=lambda: NOW)

    seen = _validators(s3, "r1", items[0])
    assert seen.complete and seen.observed_at == "2026-12-01T12:00:00Z"
    assert seen.refs["repository"]  # the refs from info/refs, as git sees them
    assert f"repos/{name}" in seen.probes
    probes = len(standin.request_log)
    # The capture's first requests are the same questions, just answered: it takes those
    # answers (so the validators describe exactly what it stores) without asking again.
    repo = client.get(f"repos/{name}")
    assert client.list_optional(f"repos/{name}/labels").present
    assert client.list_optional(f"repos/{name}/milestones", {"state": "all"}).present
    assert len(standin.request_log) == probes and repo["full_name"] == name
    # Taken once: the same question later is asked again, with the ETag (a free 304).
    client.get(f"repos/{name}")
    assert [status for _, _, status in standin.request_log[probes:]] == [304]


def test_an_unchanged_item_is_reused_from_its_warm_copy_without_a_capture(s3, client, standin):
    items = _repositories(standin)
    _plan(s3, client, "r1", items)
    _capture_and_promote(s3, client, "r1", items)
    standin.reset_request_log()

    plan = _plan(s3, client, "r2", items)

    assert plan.capture == [] and plan.reused == items
    for item in items:
        result = _result(s3, "r2", item)
        assert (result.status, result.capture, result.reused_from) == ("succeeded", "reused", "r1")
        # It reports what its capture recorded, as the run that captured it did.
        assert (result.counts, result.skipped) == (CAPTURED_COUNTS, CAPTURED_SKIPPED)
        # Verified when r1 wrote these bytes; nothing was verified (or spent) in r2.
        assert (result.verified, result.verify_seconds) == (True, None)
        staged = s3.get_object(Bucket=BUCKET, Key=result.zip_key)["Body"].read()
        assert staged == f"zip of {item.key} in r1".encode()
        assert hashlib.sha256(staged).hexdigest() == result.zip_sha256
    # The census and info/refs decide: one GraphQL query for them all, no REST request.
    asked = [(m, p.rsplit("/", 1)[-1], s) for m, p, s in standin.request_log]
    assert asked == [("POST", "graphql", 200)]


def test_without_the_census_an_unchanged_item_costs_only_free_conditional_requests(
    s3, client, standin
):
    items = _repositories(standin)
    _plan(s3, client, "r1", items, use_census=False)
    _capture_and_promote(s3, client, "r1", items)
    standin.reset_request_log()

    plan = _plan(s3, client, "r2", items, use_census=False)

    assert plan.capture == [] and plan.reused == items
    statuses = {status for _, _, status in standin.request_log}
    assert statuses == {304}, "an unchanged repository costs only free conditional requests"


def test_a_state_without_a_census_signature_is_decided_by_the_rest_probes(s3, client, standin):
    items = _repositories(standin)
    _plan(s3, client, "r1", items, use_census=False)  # as before the census existed
    _capture_and_promote(s3, client, "r1", items)
    standin.reset_request_log()

    plan = _plan(s3, client, "r2", items)

    assert plan.reused == items
    rest = [s for m, p, s in standin.request_log if not p.endswith("/graphql")]
    assert rest and set(rest) == {304}


def test_a_new_comment_is_seen_through_the_census(s3, client, standin):
    items = _repositories(standin, 1)
    _plan(s3, client, "r1", items)
    _capture_and_promote(s3, client, "r1", items)
    name = items[0].full_name
    headers = {"Authorization": f"Bearer {standin.token}"}
    issues = requests.get(f"{standin.api_url}/repos/{name}/issues", headers=headers,
                          params={"state": "all"}, timeout=30).json()  # fmt: skip
    number = next(i["number"] for i in issues if "pull_request" not in i)
    requests.post(f"{standin.api_url}/repos/{name}/issues/{number}/comments", headers=headers,
                  json={"body": "news"}, timeout=30).raise_for_status()  # fmt: skip

    plan = _plan(s3, client, "r2", items)

    assert plan.capture == items
    assert _validators(s3, "r2", items[0]).capture_reason == "changed: census"


def test_a_changed_branch_is_seen_through_the_refs_alone(s3, client, standin):
    items = _repositories(standin)
    _plan(s3, client, "r1", items)
    _capture_and_promote(s3, client, "r1", items)
    changed = items[0]
    _new_branch(standin, changed, "new-branch")

    plan = _plan(s3, client, "r2", items)

    assert plan.capture == [changed] and plan.reused == items[1:]
    seen = _validators(s3, "r2", changed)
    assert (seen.capture, seen.capture_reason) == ("captured", "changed: repository refs")


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda s3, item: s3.put_object(Bucket=BUCKET, Key=latest_state_key(item), Body=b"{"),
         "state corrupt"),
        (lambda s3, item: s3.delete_object(Bucket=BUCKET, Key=latest_state_key(item)),
         "no earlier capture"),
        (lambda s3, item: s3.delete_object(Bucket=BUCKET, Key=latest_zip_key(item)),
         "warm copy missing"),
        # A promotion that stopped between the new zip and its state: the old state must
        # not vouch for the new zip.
        (lambda s3, item: s3.put_object(Bucket=BUCKET, Key=latest_zip_key(item), Body=b"new",
                                        Metadata={"sha256": "0" * 64}),
         "warm copy is not the one the state describes"),
    ],
)  # fmt: skip
def test_a_state_that_cannot_be_trusted_means_a_full_capture(s3, client, standin, damage, reason):
    items = _repositories(standin, 1)
    _plan(s3, client, "r1", items)
    _capture_and_promote(s3, client, "r1", items)
    damage(s3, items[0])

    plan = _plan(s3, client, "r2", items)

    assert plan.capture == items
    seen = _validators(s3, "r2", items[0])
    assert seen.capture == "full" and reason in seen.capture_reason


def test_the_full_flag_and_an_old_capture_mean_a_full_capture(s3, client, standin):
    items = _repositories(standin, 1)
    _plan(s3, client, "r1", items)
    _capture_and_promote(s3, client, "r1", items)

    flagged = _plan(s3, client, "r2", items, full=True)
    assert flagged.capture == items
    assert _validators(s3, "r2", items[0]).capture_reason == (
        "full capture asked for by the execution input"
    )
    later = _plan(s3, client, "r3", items, clock=lambda: NOW + timedelta(days=31))
    assert later.capture == items
    assert _validators(s3, "r3", items[0]).capture_reason == "last capture older than 30 days"


def test_a_state_recorded_with_another_credential_kind_means_a_full_capture(s3, client, standin):
    items = _repositories(standin, 1)
    _plan(s3, client, "r1", items)
    _capture_and_promote(s3, client, "r1", items)
    key = latest_state_key(items[0])
    state = ItemState.from_json(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    state.credential_kind = "github-app"
    s3.put_object(Bucket=BUCKET, Key=key, Body=state.to_bytes())

    plan = _plan(s3, client, "r2", items)

    assert plan.capture == items
    assert _validators(s3, "r2", items[0]).capture == "full"


def test_a_failing_warm_copy_means_the_item_is_captured_not_dropped(
    s3, client, standin, monkeypatch
):
    items = _repositories(standin, 1)
    _plan(s3, client, "r1", items)
    _capture_and_promote(s3, client, "r1", items)

    def copy(*args, **kwargs):
        raise ClientError({"Error": {"Code": "InternalError", "Message": "boom"}}, "CopyObject")

    monkeypatch.setattr(s3, "copy_object", copy)
    plan = _plan(s3, client, "r2", items)

    assert plan.capture == items and plan.reused == []
    seen = _validators(s3, "r2", items[0])
    assert seen.capture == "captured" and seen.capture_reason.startswith("warm copy failed")
    assert seen.complete  # what was seen is still true: the next state may use it
    assert items[0].key not in _reused_keys(s3, "r2")  # no result says it was reused


def test_a_failing_probe_means_a_capture_and_no_state_from_it(s3, client, standin):
    items = _repositories(standin, 1)
    _plan(s3, client, "r1", items)
    _capture_and_promote(s3, client, "r1", items)
    standin.fail_permanently(f"repos/{items[0].full_name}/labels", 500)
    client.policy = type(client.policy)(max_attempts=1, backoff_base=0.0)

    plan = _plan(s3, client, "r2", items, use_census=False)  # the REST probes decide

    assert plan.capture == items
    seen = _validators(s3, "r2", items[0])
    assert seen.capture == "captured" and "probe failed" in seen.capture_reason
    assert not seen.complete
    # The task asks again before its capture; failing still, it records nothing to trust.
    incremental.prepare_capture(s3, BUCKET, "r2", items[0], client)
    assert not _validators(s3, "r2", items[0]).complete


def test_an_account_is_always_captured(s3, client, standin):
    account = BackupItem(kind="account", login=standin.login)
    plan = _plan(s3, client, "r1", [account])
    assert plan.capture == [account]
    seen = _validators(s3, "r1", account)
    assert (seen.capture, seen.complete) == ("captured", False)


def test_promotion_writes_the_state_after_the_zip_it_names(s3, client, standin, monkeypatch):
    items = _repositories(standin, 1)
    _plan(s3, client, "r1", items)
    calls = []
    real_put, real_copy = s3.put_object, s3.copy_object
    monkeypatch.setattr(s3, "put_object", lambda **kw: calls.append(kw["Key"]) or real_put(**kw))
    monkeypatch.setattr(s3, "copy_object", lambda **kw: calls.append(kw["Key"]) or real_copy(**kw))

    _capture_and_promote(s3, client, "r1", items)

    latest = [key for key in calls if key.startswith("latest/")]
    # The state last: it names the zip, which must be there first.
    assert latest == [latest_zip_key(items[0]), latest_pages_key(items[0]),
                      latest_state_key(items[0])]  # fmt: skip
    head = s3.head_object(Bucket=BUCKET, Key=latest_zip_key(items[0]))
    assert head["StorageClass"] == "STANDARD_IA"
    state = json.loads(s3.get_object(Bucket=BUCKET, Key=latest_state_key(items[0]))["Body"].read())
    assert state["zip_sha256"] == head["Metadata"]["sha256"]
    assert state["zip_etag"] == head["ETag"]  # the next list step copies it on this condition


# -- Finalize ------------------------------------------------------------------------------


def _staged_run(s3, run_id):
    """Three items staged for Finalize: a reused one, a captured one with what the list step
    saw of it, and a captured one without (an older list step, or an account)."""
    from tests.test_finalize import small_items, stage

    (reused, data_a), (captured, data_b), (unknown, data_c) = small_items().items()
    for item, data in ((reused, data_a), (captured, data_b), (unknown, data_c)):
        stage(s3, BUCKET, run_id, item, data)
    # The list step records a reused item's result in reused.json, not beside its zip.
    key = item_result_key(staging_prefix(run_id), reused)
    result = ItemResult.from_json(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    s3.delete_object(Bucket=BUCKET, Key=key)
    result.capture, result.capture_reason, result.reused_from = "reused", "unchanged", "r0"
    s3.put_object(Bucket=BUCKET, Key=reused_items_key(run_id),
                  Body=ReusedItems(results=[result]).to_bytes())  # fmt: skip
    seen = Validators(item=captured, observed_at="2026-12-01T12:00:00Z", credential_kind="token",
                      capture="captured", capture_reason="changed: repository refs",
                      complete=True, refs={"repository": {"refs/heads/main": "a" * 40}})  # fmt: skip
    s3.put_object(Bucket=BUCKET, Key=item_validators_key(staging_prefix(run_id), captured),
                  Body=seen.to_bytes())  # fmt: skip
    return reused, captured, unknown


def test_finalize_promotes_only_items_captured_in_the_run_and_says_how_each_got_there(s3):
    from ghbackup.finalize import assemble_run

    reused, captured, unknown = _staged_run(s3, "r1")

    summary = assemble_run(s3, bucket=BUCKET, run_id="r1", items=[captured, unknown, reused])

    assert summary.status == "SUCCEEDED"
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key="runs/r1/manifest.json")["Body"].read())
    lines = {line["item_key"]: line for line in manifest["items"]}
    assert (lines[reused.key]["capture"], lines[reused.key]["reused_from"]) == ("reused", "r0")
    assert lines[captured.key]["capture"] == "captured"
    assert lines[captured.key]["capture_reason"] == "changed: repository refs"
    assert lines[unknown.key]["capture"] is None
    latest = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
              if o["Key"].startswith("latest/")}  # fmt: skip
    assert latest == {latest_zip_key(captured), latest_state_key(captured)}
    state = ItemState.from_json(
        s3.get_object(Bucket=BUCKET, Key=latest_state_key(captured))["Body"].read()
    )
    assert (state.run_id, state.zip_sha256) == ("r1", lines[captured.key]["zip_sha256"])
    loaded, why = incremental.load_state(s3, BUCKET, captured)
    assert loaded is not None, why


def test_progress_counts_reused_items_from_the_one_record_the_list_step_writes(s3):
    from ghbackup.executions import StagedProgress
    from ghbackup.records import dump_items, items_list_key

    reused, captured, unknown = _staged_run(s3, "r1")
    s3.delete_object(Bucket=BUCKET, Key=item_result_key(staging_prefix("r1"), unknown))
    s3.put_object(Bucket=BUCKET, Key=items_list_key("r1"),
                  Body=dump_items([captured, unknown, reused]))  # fmt: skip

    progress = StagedProgress(s3, BUCKET, "r1").poll()

    assert (progress.done, progress.failed, progress.total) == (2, 0, 3)


def test_reused_items_without_a_readable_record_count_failed_never_captured(s3):
    from ghbackup.finalize import assemble_run

    reused, captured, unknown = _staged_run(s3, "r1")
    s3.put_object(Bucket=BUCKET, Key=reused_items_key("r1"), Body=b'{"results": [{"item": 1}]}')

    summary = assemble_run(s3, bucket=BUCKET, run_id="r1", items=[captured, unknown, reused])

    assert summary.status == "PARTIAL"
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key="runs/r1/manifest.json")["Body"].read())
    line = next(line for line in manifest["items"] if line["item_key"] == reused.key)
    assert line["status"] == "failed" and "no result record" in line["error"]


def test_a_finalize_that_fails_before_the_manifest_leaves_no_new_state(s3, monkeypatch):
    from ghbackup.errors import StorageError
    from ghbackup.finalize import assemble_run

    _reused, captured, unknown = _staged_run(s3, "r1")
    real_put = s3.put_object

    def put(**kwargs):
        if kwargs["Key"].endswith("manifest.json"):
            raise ClientError({"Error": {"Code": "InternalError", "Message": "x"}}, "PutObject")
        return real_put(**kwargs)

    monkeypatch.setattr(s3, "put_object", put)
    with pytest.raises(StorageError):
        assemble_run(s3, bucket=BUCKET, run_id="r1", items=[captured, unknown])
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="latest/")
    monkeypatch.setattr(s3, "put_object", real_put)

    # The retry of Finalize finishes the run and only then promotes.
    assemble_run(s3, bucket=BUCKET, run_id="r1", items=[captured, unknown])
    loaded, why = incremental.load_state(s3, BUCKET, captured)
    assert loaded is not None, why


def test_a_deleted_repository_costs_one_probe_and_is_sent_to_capture(s3, client, standin):
    items = _repositories(standin, 1)
    _plan(s3, client, "r1", items)
    _capture_and_promote(s3, client, "r1", items)
    standin.fail_permanently(items[0].full_name, status=404)
    standin.reset_request_log()

    plan = _plan(s3, client, "r2", items, use_census=False)  # the REST probes decide

    assert plan.capture == items
    assert len(standin.request_log) == 1
    seen = _validators(s3, "r2", items[0])
    assert "probe failed (NotFound" in seen.capture_reason and not seen.complete


def test_a_warm_copy_replaced_after_its_state_was_read_is_not_staged(
    s3, client, standin, monkeypatch
):
    items = _repositories(standin, 1)
    _plan(s3, client, "r1", items)
    _capture_and_promote(s3, client, "r1", items)
    real_load = incremental.load_state

    def load_then_replace(s3_, bucket, item):
        loaded = real_load(s3_, bucket, item)
        # Another run's Finalize replaces the warm copy between the check and the copy.
        s3.put_object(Bucket=BUCKET, Key=latest_zip_key(item), Body=b"another capture")
        return loaded

    monkeypatch.setattr(incremental, "load_state", load_then_replace)
    plan = _plan(s3, client, "r2", items)

    assert plan.capture == items and plan.reused == []
    seen = _validators(s3, "r2", items[0])
    assert (seen.capture, seen.capture_reason) == (
        "full", "warm copy is not the one the state describes (an interrupted update)",
    )  # fmt: skip
    assert items[0].key not in _reused_keys(s3, "r2")  # no result says it was reused


def test_a_state_written_before_the_etag_was_kept_is_checked_against_its_zip(s3, client, standin):
    items = _repositories(standin, 1)
    _plan(s3, client, "r1", items)
    _capture_and_promote(s3, client, "r1", items)
    key = latest_state_key(items[0])
    older = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    del older["zip_etag"]
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(older).encode())

    assert _plan(s3, client, "r2", items).reused == items
    s3.put_object(Bucket=BUCKET, Key=latest_zip_key(items[0]), Body=b"new",
                  Metadata={"sha256": "0" * 64})  # fmt: skip
    assert _plan(s3, client, "r3", items).capture == items
    assert _validators(s3, "r3", items[0]).capture_reason.startswith(
        "warm copy is not the one the state describes"
    )


def test_a_changed_items_capture_asks_its_last_captures_pages_and_unchanged_ones_cost_304(
    s3, standin
):
    item = _repositories(standin, 1)[0]
    base = f"repos/{item.full_name}"
    first = GitHubClient(standin.api_url, TokenCredentials(standin.token))
    _plan(s3, first, "r1", [item])
    incremental.prepare_capture(s3, BUCKET, "r1", item, first, clock=lambda: NOW)
    issues = first.list_optional(f"{base}/issues", {"state": "all"}).value  # the capture
    _capture_and_promote(s3, first, "r1", [item])
    _new_branch(standin, item, "pushed")
    second = GitHubClient(standin.api_url, TokenCredentials(standin.token))
    assert _plan(s3, second, "r2", [item]).capture == [item]
    standin.reset_request_log()

    incremental.prepare_capture(s3, BUCKET, "r2", item, second, clock=lambda: NOW)
    again = second.list_optional(f"{base}/issues", {"state": "all"}).value

    assert again == issues
    statuses = [status for _, _, status in standin.request_log]
    assert statuses and set(statuses) == {304}, "unchanged pages must cost no rate limit"


def test_a_full_capture_starts_without_the_last_captures_pages(s3, client, standin):
    item = _repositories(standin, 1)[0]
    comments = f"repos/{item.full_name}/issues/comments"
    _plan(s3, client, "r1", [item])
    client.get(comments)  # a page the first capture read, kept with its ETag
    _capture_and_promote(s3, client, "r1", [item])
    assert any(url.endswith("/issues/comments") for url in client.export_pages().pages)
    fresh = GitHubClient(standin.api_url, TokenCredentials(standin.token))
    _plan(s3, fresh, "r2", [item], full=True)

    incremental.prepare_capture(s3, BUCKET, "r2", item, fresh)
    standin.reset_request_log()
    fresh.get(comments)

    assert [status for _, _, status in standin.request_log] == [200]


def test_items_left_when_the_probing_time_runs_out_are_captured_not_probed(s3, client, standin):
    items = _repositories(standin, 3)
    _plan(s3, client, "r1", items)
    _capture_and_promote(s3, client, "r1", items)
    budget = iter([5.0, 0.0, 0.0])  # time enough for the first item only
    standin.reset_request_log()

    plan = _plan(s3, client, "r2", items, workers=1, time_left=lambda: next(budget),
                 use_census=False)  # fmt: skip

    assert plan.reused == items[:1] and plan.capture == items[1:]
    for item in items[1:]:
        seen = _validators(s3, "r2", item)
        assert (seen.capture, seen.complete) == ("captured", False)
        assert seen.capture_reason == "not probed: the list step's time ran out"
    probed = {path.split("?")[0].split("/")[5] for _, path, _ in standin.request_log}
    assert probed == {items[0].full_name.split("/")[1]}  # nothing asked for the others


def test_an_item_the_list_step_had_no_time_for_is_decided_by_its_task(s3, client, standin):
    items = _repositories(standin, 2)
    _plan(s3, client, "r1", items)
    _capture_and_promote(s3, client, "r1", items)
    unchanged, changed = items
    _new_branch(standin, changed, "pushed")
    assert _plan(s3, client, "r2", items, time_left=lambda: 0.0).capture == items
    standin.reset_request_log()

    reused = incremental.prepare_capture(s3, BUCKET, "r2", unchanged, client, clock=lambda: NOW)
    not_reused = incremental.prepare_capture(s3, BUCKET, "r2", changed, client)

    # Unchanged: its warm copy is staged and the result says so; the task captures nothing.
    assert reused is not None and (reused.capture, reused.reused_from) == ("reused", "r1")
    staged = s3.get_object(Bucket=BUCKET, Key=reused.zip_key)["Body"].read()
    assert staged == f"zip of {unchanged.key} in r1".encode()
    assert {status for _, path, status in standin.request_log
            if unchanged.full_name in path} == {304}  # fmt: skip
    # Changed: captured, with what its task saw (the next state) and why.
    assert not_reused is None
    seen = _validators(s3, "r2", changed)
    assert seen.complete and seen.capture_reason == "changed: repository refs"
