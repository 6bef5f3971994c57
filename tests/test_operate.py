"""Operating a deployed stack from the CLI: which deployment, getting a repository back out
of Glacier (each restore state), runs and show, and the errors a user can cause.

S3 is moto in-process, with the restore-in-progress fix from workflow.moto_fixes; runs are
built with finalize.assemble_run from item zips, as Finalize builds them."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from cli import main as cli
from ghbackup import finalize, glacier, operate
from ghbackup.archive import ItemArchiveWriter
from ghbackup.deployment import Deployment
from ghbackup.errors import RetrievalNotAvailable
from ghbackup.extract import read_run_manifest
from ghbackup.records import run_archive_key, run_manifest_key
from tests.test_finalize import DEFLATED, STORED, item_zip, repo, stage
from workflow import moto_fixes
from workflow.emulation import EMULATION

BUCKET = "ghbackup-backups"
RUN = "run-20261101T100000Z"


@pytest.fixture
def aws(monkeypatch, tmp_path):
    """moto S3 in this process; the CLI's clients are counted (requests and bytes read)."""
    moto_fixes.fix_restore_in_progress()
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "GHBACKUP_STATE_MACHINE_ARN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("GHBACKUP_BUCKET", BUCKET)
    monkeypatch.setattr("cli.operate.sleep", lambda seconds: None)
    calls: dict[str, list] = {"RestoreObject": [], "GetObject": []}
    real_client = Deployment.client

    def counted(self, service):
        client = real_client(self, service)

        def seen(parsed, model, **_):
            calls.setdefault(model.name, []).append(parsed.get("ContentLength", 0))

        client.meta.events.register("after-call.s3.*", seen)
        return client

    monkeypatch.setattr(Deployment, "client", counted)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        yield s3, calls
    EMULATION.hold_restores(False)


def engine_zip(item, size: int) -> bytes:
    """An item zip as the engine writes it (a manifest with every SHA-256), no git."""
    scratch = Path(tempfile.mkdtemp())
    try:
        with ItemArchiveWriter(scratch / "item.zip", item) as writer:
            writer.add_json("repository.json", {"full_name": item.full_name})
            writer.add_json("issues/1.json", {"number": 1, "title": "é"})
            writer.add_stream("releases/v1/asset.bin", [os.urandom(size)])
            writer.close({"complete": True})
        return (scratch / "item.zip").read_bytes()
    finally:
        shutil.rmtree(scratch)


def make_run(s3, run_id=RUN, count=3, storage_class="GLACIER", size=2000):
    items = [repo(f"acme/repo-{n:03d}") for n in range(count)]
    for n, item in enumerate(items):
        stage(s3, BUCKET, run_id, item, engine_zip(item, size + n))
    finalize.assemble_run(s3, bucket=BUCKET, run_id=run_id, items=items,
                            storage_class=storage_class)  # fmt: skip
    return read_run_manifest(s3, BUCKET, run_id)


def run_cli(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# --------------------------------------------------------------------------- deployment


def test_configure_from_terraform_writes_the_config_that_later_commands_use(
    aws, capsys, tmp_path, monkeypatch
):
    s3, _ = aws
    make_run(s3)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    outputs = {
        "bucket_name": {"value": BUCKET, "type": "string", "sensitive": False},
        "state_machine_arn": {
            "value": "arn:aws:states:eu-west-1:123456789012:stateMachine:ghbackup",
            "type": "string",
        },
    }
    fake = bin_dir / "terraform"
    fake.write_text(
        f"#!/bin/sh\n[ \"$1 $2\" = 'output -json' ] || exit 9\ncat <<'EOF'\n{json.dumps(outputs)}\nEOF\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.delenv("GHBACKUP_BUCKET")
    stack = tmp_path / "stack"
    stack.mkdir()

    code, out, _ = run_cli(capsys, "configure", "--from-terraform", str(stack))

    assert code == 0
    config = json.loads((tmp_path / "config" / "ghbackup" / "config.json").read_text())
    assert config["bucket"] == BUCKET and config["region"] == "eu-west-1"
    code, out, _ = run_cli(capsys, "runs", "--json")
    assert code == 0 and [r["run_id"] for r in json.loads(out)] == [RUN]


def test_bucket_flag_wins_over_environment(aws, capsys):
    s3, _ = aws
    s3.create_bucket(Bucket="other-bucket")
    code, _, err = run_cli(capsys, "runs", "--bucket", "other-bucket")
    assert code == 0 and "no runs in s3://other-bucket" in err


# --------------------------------------------------------------------------- Glacier states


def test_first_get_requests_a_restore_and_exits_75_with_the_expected_wait(aws, capsys, tmp_path):
    s3, calls = aws
    make_run(s3)
    EMULATION.hold_restores(True)

    code, _, err = run_cli(capsys, "get", RUN, "--repo", "acme/repo-001", "--out", str(tmp_path))

    assert code == 75
    assert "requested a Standard restore" in err and "3-5 hours" in err
    assert len(calls["RestoreObject"]) == 1
    head = s3.head_object(Bucket=BUCKET, Key=run_archive_key(RUN))
    assert head["Restore"] == 'ongoing-request="true"'


def test_get_during_a_restore_reports_it_and_does_not_request_again(aws, capsys, tmp_path):
    s3, calls = aws
    make_run(s3)
    EMULATION.hold_restores(True)
    s3.restore_object(Bucket=BUCKET, Key=run_archive_key(RUN),
                      RestoreRequest={"Days": 1, "GlacierJobParameters": {"Tier": "Bulk"}})  # fmt: skip

    code, _, err = run_cli(capsys, "get", RUN, "--repo", "acme/repo-001", "--out", str(tmp_path))

    assert code == 75
    assert "already in progress" in err
    assert calls["RestoreObject"] == []


def test_get_of_a_restored_run_writes_the_item_zip_that_verify_accepts(aws, capsys, tmp_path):
    s3, calls = aws
    manifest = make_run(s3)
    s3.restore_object(Bucket=BUCKET, Key=run_archive_key(RUN), RestoreRequest={"Days": 2})

    code, out, _ = run_cli(capsys, "get", RUN, "--repo", "acme/repo-001", "--out", str(tmp_path))

    assert code == 0
    path = Path(out.strip())
    assert path == tmp_path / RUN / "acme" / "repo-001.zip"
    assert operate._sha256(path) == manifest.item("repository/acme/repo-001").zip_sha256
    assert calls["RestoreObject"] == []
    code, out, _ = run_cli(capsys, "verify", str(path))
    assert code == 0 and out.startswith("verified ")


def test_readable_until_is_shown_for_a_restored_run(aws, capsys):
    s3, _ = aws
    make_run(s3)
    make_run(s3, run_id="run-20261201T100000Z")
    s3.restore_object(Bucket=BUCKET, Key=run_archive_key(RUN), RestoreRequest={"Days": 3})

    code, out, _ = run_cli(capsys, "runs", "--json")

    rows = {r["run_id"]: r for r in json.loads(out)}
    assert code == 0 and list(rows) == ["run-20261201T100000Z", RUN]
    assert rows[RUN]["archive"] == "restored" and rows[RUN]["readable_until"]
    assert rows["run-20261201T100000Z"]["archive"] == "archived"
    assert rows[RUN]["storage_class"] == "GLACIER" and rows[RUN]["succeeded"] == 3


def test_wait_polls_until_the_restore_completes(aws, capsys, tmp_path, monkeypatch):
    s3, calls = aws
    make_run(s3)
    EMULATION.hold_restores(True)
    polls = []

    def fake_sleep(seconds):
        polls.append(seconds)
        if len(polls) == 3:
            EMULATION.hold_restores(False)

    monkeypatch.setattr("cli.operate.sleep", fake_sleep)
    code, out, err = run_cli(capsys, "get", RUN, "--repo", "acme/repo-002", "--wait",
                             "--tier", "Bulk", "--out", str(tmp_path))  # fmt: skip

    assert code == 0, err
    assert len(polls) == 3 and len(calls["RestoreObject"]) == 1
    assert "5-12 hours" in err and "waiting for the restore" in err
    assert Path(out.strip()).is_file()


def test_expedited_is_refused_for_objects_over_250_mb():
    big = glacier.ArchiveState("runs/r/ghbackup-r.zip", "GLACIER", 300 * glacier.MB, "archived")
    with pytest.raises(RetrievalNotAvailable, match="under 250 MB"):
        glacier.check_tier(big, "Expedited")
    deep = glacier.ArchiveState("runs/r/ghbackup-r.zip", "DEEP_ARCHIVE", 10, "archived")
    with pytest.raises(RetrievalNotAvailable, match="DEEP_ARCHIVE"):
        glacier.check_tier(deep, "Expedited")
    glacier.check_tier(glacier.ArchiveState("k", "GLACIER", 10, "archived"), "Expedited")


def test_expedited_refusal_is_a_one_line_error_before_any_restore(aws, capsys, monkeypatch):
    s3, calls = aws
    make_run(s3)
    monkeypatch.setattr(glacier, "EXPEDITED_MAX_BYTES", 1000)
    code, _, err = run_cli(capsys, "get", RUN, "--repo", "acme/repo-001", "--tier", "Expedited")
    assert code == 16 and "under 250 MB" in one_line(err)
    assert calls["RestoreObject"] == []


def test_restore_header_parsing():
    assert glacier.parse_restore_header(None) == (None, None)
    assert glacier.parse_restore_header('ongoing-request="true"') == (True, None)
    ongoing, expiry = glacier.parse_restore_header(
        'ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"'
    )
    assert ongoing is False and expiry.isoformat() == "2012-12-21T00:00:00+00:00"


# --------------------------------------------------------------------------- byte counts


def test_get_repo_reads_about_that_items_bytes_not_the_runs(aws, capsys, tmp_path):
    s3, calls = aws
    manifest = make_run(s3, count=50, size=200_000)
    s3.restore_object(Bucket=BUCKET, Key=run_archive_key(RUN), RestoreRequest={"Days": 1})
    line = manifest.item("repository/acme/repo-017")

    code, _, err = run_cli(capsys, "get", RUN, "--repo", "acme/repo-017", "--out", str(tmp_path))

    assert code == 0, err
    manifest_bytes = len(manifest.to_bytes())  # as Finalize stored it
    archive_bytes = sum(calls["GetObject"]) - manifest_bytes
    assert archive_bytes == line.length + line.central_directory_length
    assert line.zip_bytes - 100 <= archive_bytes <= line.zip_bytes  # only the EOCD is rebuilt
    assert manifest.bytes > 40 * line.zip_bytes


def test_get_without_repo_streams_the_whole_run_zip(aws, capsys, tmp_path):
    s3, _ = aws
    manifest = make_run(s3)
    s3.restore_object(Bucket=BUCKET, Key=run_archive_key(RUN), RestoreRequest={"Days": 1})
    code, out, _ = run_cli(capsys, "get", RUN, "--out", str(tmp_path))
    path = Path(out.strip())
    assert code == 0 and path.name == f"ghbackup-{RUN}.zip"
    assert path.stat().st_size == manifest.bytes
    assert run_cli(capsys, "verify", str(path))[0] == 0


# --------------------------------------------------------------------------- warm copies


def test_latest_without_a_warm_copy_says_so(aws, capsys, tmp_path):
    code, _, err = run_cli(capsys, "get", "--latest", "--repo", "acme/api", "--out", str(tmp_path))
    assert code == 15 and "no warm copy" in one_line(err)


def test_latest_returns_the_warm_copy_at_once(aws, capsys, tmp_path):
    s3, calls = aws
    data = item_zip(repo("acme/api"), [("repository.bundle", b"x" * 100, STORED, False)])
    s3.put_object(Bucket=BUCKET, Key="latest/repository/acme/api/item.zip", Body=data)
    code, out, _ = run_cli(capsys, "get", "--latest", "--repo", "acme/api", "--out", str(tmp_path))
    assert code == 0 and Path(out.strip()).read_bytes() == data
    assert calls["RestoreObject"] == []


# --------------------------------------------------------------------------- show


def test_show_lists_each_item_with_status_error_and_skips(aws, capsys):
    s3, _ = aws
    good, bad = repo("acme/good"), repo("acme/bad")
    stage(s3, BUCKET, RUN, good, item_zip(good, [("a.json", b"{}", DEFLATED, False)]))
    stage(s3, BUCKET, RUN, bad, None, error=("NotFound", "repository acme/bad is gone"))
    finalize.assemble_run(s3, bucket=BUCKET, run_id=RUN, items=[good, bad])

    code, out, _ = run_cli(capsys, "show", RUN, "--json")

    shown = json.loads(out)
    assert code == 0 and shown["status"] == "PARTIAL"
    rows = {r["item"]: r for r in shown["items"]}
    assert rows["repository/acme/bad"]["error"] == "NotFound: repository acme/bad is gone"
    assert rows["repository/acme/good"]["status"] == "succeeded"
    assert rows["repository/acme/good"]["bytes"] > 0


# --------------------------------------------------------------------------- bad input


def test_unknown_run_id_is_exit_10(aws, capsys):
    make_run(aws[0])
    code, _, err = run_cli(capsys, "get", "run-nope", "--repo", "acme/repo-001")
    assert code == 10 and "no run run-nope" in one_line(err)


def test_item_not_in_the_run_is_exit_11(aws, capsys):
    make_run(aws[0])
    code, _, err = run_cli(capsys, "get", RUN, "--repo", "acme/elsewhere")
    assert code == 11 and "acme/elsewhere is not in run" in one_line(err)


def test_a_bucket_without_runs_is_not_a_ghbackup_bucket(aws, capsys):
    s3, _ = aws
    s3.create_bucket(Bucket="photos")
    s3.put_object(Bucket="photos", Key="cat.jpg", Body=b"meow")
    code, _, err = run_cli(capsys, "get", RUN, "--repo", "acme/x", "--bucket", "photos")
    assert code == 12 and "holds no ghbackup runs" in one_line(err)
    code, _, err = run_cli(capsys, "runs", "--bucket", "photos")
    assert code == 12 and "cat.jpg" in one_line(err)
    code, _, err = run_cli(capsys, "runs", "--bucket", "no-such-bucket-here")
    assert code == 12 and "does not exist" in one_line(err)


def test_missing_aws_credentials_is_exit_13(aws, capsys, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, _, err = run_cli(capsys, "runs")
    assert code == 13 and "no AWS credentials" in one_line(err)


def test_manifest_without_byte_ranges_is_exit_14(aws, capsys):
    s3, _ = aws
    manifest = make_run(s3)
    old = manifest.to_json()
    for line in old["items"]:
        for name in ("offset", "length", "central_directory_offset", "central_directory_length"):
            line.pop(name)
    s3.put_object(Bucket=BUCKET, Key=run_manifest_key(RUN), Body=json.dumps(old))
    code, _, err = run_cli(capsys, "get", RUN, "--repo", "acme/repo-001")
    assert code == 14 and "no byte ranges" in one_line(err)


def test_bad_s3_url_for_restore_is_a_one_line_error(aws, capsys, tmp_path):
    code, _, err = run_cli(capsys, "restore", "s3://b/elsewhere.zip", "--to", str(tmp_path / "t"))
    assert code == 2 and "not a run zip URL" in one_line(err)


# --------------------------------------------------------------------------- round trip


def test_restore_from_a_glacier_run_gives_the_source_refs(aws, capsys, tmp_path):
    from tests.test_restore import REPO, make_repo, refs_of, write_item

    s3, _ = aws
    source = make_repo(tmp_path / "src", lfs=True)
    data = write_item(tmp_path / "item.zip", REPO, source).read_bytes()
    other = repo("acme/other")
    stage(s3, BUCKET, RUN, REPO, data)
    stage(s3, BUCKET, RUN, other, engine_zip(other, 5000))
    finalize.assemble_run(s3, bucket=BUCKET, run_id=RUN, items=[other, REPO])
    url = f"s3://{BUCKET}/{run_archive_key(RUN)}"
    EMULATION.hold_restores(True)

    code, _, err = run_cli(
        capsys, "restore", url, "--repo", "acme/widget", "--to", str(tmp_path / "a")
    )
    assert code == 75 and "requested a Standard restore" in err
    assert not (tmp_path / "a").exists()
    EMULATION.hold_restores(False)

    code, _, err = run_cli(
        capsys, "restore", url, "--repo", "acme/widget", "--to", str(tmp_path / "a")
    )
    assert code == 0, err
    assert refs_of(tmp_path / "a" / "acme" / "widget.git") == refs_of(source)
    code, _, err = run_cli(capsys, "restore", "--run", RUN, "--repo", "acme/widget",
                           "--to", str(tmp_path / "b"))  # fmt: skip
    assert code == 0, err
    assert refs_of(tmp_path / "b" / "acme" / "widget.git") == refs_of(source)
    assert not (tmp_path / "b" / "acme" / "other").exists()


def test_get_verify_restore_round_trip(aws, capsys, tmp_path):
    from tests.test_restore import REPO, make_repo, refs_of, write_item

    s3, _ = aws
    source = make_repo(tmp_path / "src")
    stage(s3, BUCKET, RUN, REPO, write_item(tmp_path / "item.zip", REPO, source).read_bytes())
    finalize.assemble_run(s3, bucket=BUCKET, run_id=RUN, items=[REPO], storage_class="DEEP_ARCHIVE")
    s3.restore_object(Bucket=BUCKET, Key=run_archive_key(RUN), RestoreRequest={"Days": 1})

    code, out, _ = run_cli(
        capsys, "get", RUN, "--repo", "acme/widget", "--out", str(tmp_path / "got")
    )
    assert code == 0
    got = out.strip()
    assert run_cli(capsys, "verify", got)[0] == 0
    assert run_cli(capsys, "restore", got, "--to", str(tmp_path / "r"))[0] == 0
    assert refs_of(tmp_path / "r" / "acme" / "widget.git") == refs_of(source)


# --------------------------------------------------------------------------- the moto fix


def test_held_restore_stays_in_progress_until_released(aws):
    s3, _ = aws
    s3.put_object(Bucket=BUCKET, Key="cold", Body=b"data", StorageClass="GLACIER")
    EMULATION.hold_restores(True)
    s3.restore_object(Bucket=BUCKET, Key="cold", RestoreRequest={"Days": 1})

    assert s3.head_object(Bucket=BUCKET, Key="cold")["Restore"] == 'ongoing-request="true"'
    with pytest.raises(ClientError, match="InvalidObjectState"):
        s3.get_object(Bucket=BUCKET, Key="cold")
    with pytest.raises(ClientError, match="RestoreAlreadyInProgress"):
        s3.restore_object(Bucket=BUCKET, Key="cold", RestoreRequest={"Days": 1})

    EMULATION.hold_restores(False)
    assert (
        'ongoing-request="false", expiry-date='
        in s3.head_object(Bucket=BUCKET, Key="cold")["Restore"]
    )
    assert s3.get_object(Bucket=BUCKET, Key="cold")["Body"].read() == b"data"


# --------------------------------------------------------------------------- cost


def test_cost_estimates_from_the_manifests_with_prices_and_assumptions(aws, capsys, tmp_path):
    s3, _ = aws
    make_run(s3, run_id="run-20261001T100000Z", size=50_000)
    make_run(s3, run_id="run-20261101T100000Z", size=50_000)
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"region": "eu-west-1", "date": "2026-12-01",
                                  "storage_gb_month": {"GLACIER": 1000.0}}))  # fmt: skip

    code, out, _ = run_cli(capsys, "cost", "--runs-per-month", "1", "--json")
    base = json.loads(out)
    code2, out2, _ = run_cli(
        capsys, "cost", "--runs-per-month", "1", "--json", "--prices", str(prices)
    )
    dear = json.loads(out2)

    assert code == code2 == 0
    assert base["region"] == "us-east-1" and dear["region"] == "eu-west-1"
    storage = next(k for k in base["monthly"] if k.startswith("storage GLACIER"))
    assert dear["monthly"][storage] > 1000 * base["monthly"][storage] > 0
    assert base["monthly_total"] > 0 and base["runs_read"] == 2
    assert set(base["retrieval"]) >= {"one repository, Bulk", "a whole run, Expedited"}
    assert (
        base["retrieval"]["one repository, Standard"] < base["retrieval"]["a whole run, Standard"]
    )
    assert any("no lifecycle transitions" in a for a in base["assumptions"])


def test_cost_refuses_an_unknown_price(aws, capsys, tmp_path):
    make_run(aws[0])
    prices = tmp_path / "prices.json"
    prices.write_text('{"storage_per_gb": 1}')
    code, _, err = run_cli(capsys, "cost", "--prices", str(prices))
    assert code == 2 and "unknown price 'storage_per_gb'" in one_line(err)


def test_diff_of_two_deployed_runs_reads_their_manifests(aws, capsys):
    s3, _ = aws
    make_run(s3, count=2)
    make_run(s3, run_id="run-20261201T100000Z", count=3)
    code, out, _ = run_cli(capsys, "diff", RUN, "run-20261201T100000Z")
    lines = out.splitlines()
    assert code == 0 and "+ repository/acme/repo-002" in lines
    # The assets are random bytes: each zip differs, and only checksums can say so.
    assert "M repository/acme/repo-000" in lines and "refs not compared" in lines[-1]
    code, _, err = run_cli(capsys, "diff", RUN, "run-20991231T000000Z")
    assert code == 10 and "no run run-20991231T000000Z" in one_line(err)


def test_runs_in_a_pipe_are_tab_separated_lines_with_whole_ids(aws, capsys):
    make_run(aws[0], count=2)
    code, out, _ = run_cli(capsys, "runs")
    fields = out.splitlines()[0].split("\t")
    assert code == 0 and len(out.splitlines()) == 1
    assert fields[0] == RUN and fields[2] == "SUCCEEDED" and fields[3:5] == ["2", "0"]
    assert fields[5].isdigit()
