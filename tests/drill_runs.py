"""Run archives for drill tests, without GitHub: item zips written from real git
repositories (tests/test_restore.py's helpers), staged and finalized by the real Finalize
on an in-process moto, then exported as ``ghbackup run --local`` exports a run."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import boto3
from moto import mock_aws

from ghbackup.finalize import assemble_run
from ghbackup.records import BackupItem, run_archive_key, run_manifest_key
from tests.test_finalize import stage
from tests.test_restore import make_repo, write_item

BUCKET = "drill-fixtures"


def damage_bundle(zip_path: Path, root: str) -> None:
    """Flip one byte inside the item's bundle (its pack data) and make every checksum agree
    with the damage: the entry's CRC (rewritten by zipfile) and the manifest's SHA-256."""
    bundle_name, manifest_name = f"{root}repository.bundle", f"{root}manifest.json"
    with zipfile.ZipFile(zip_path) as src:
        entries = [(info, src.read(info)) for info in src.infolist()]
    damaged = bytearray(dict((i.filename, d) for i, d in entries)[bundle_name])
    damaged[len(damaged) // 2] ^= 0x01
    manifest = json.loads(dict((i.filename, d) for i, d in entries)[manifest_name])
    for entry in manifest["files"]:
        if entry["path"] == "repository.bundle":
            entry["sha256"] = hashlib.sha256(damaged).hexdigest()
    replaced = {bundle_name: bytes(damaged), manifest_name: json.dumps(manifest).encode()}
    tmp = zip_path.with_suffix(".damaged")
    with zipfile.ZipFile(tmp, "w") as dst:
        for info, data in entries:
            dst.writestr(info, replaced.get(info.filename, data))
    tmp.replace(zip_path)


def build_local_run(
    out_dir: Path,
    run_id: str,
    names: list[str],
    *,
    large: str | None = None,
    damaged: str | None = None,
    started_at: str = "2026-11-01T10:00:00Z",
) -> Path:
    """``out_dir/<run id>/`` with the run zip and manifest of one repository per name
    (``large`` gets more history, so the biggest zip; ``damaged`` a damaged bundle)."""
    work = out_dir.parent / f"{run_id}-work"
    work.mkdir(parents=True)
    items = []
    zips = {}
    for index, name in enumerate(names):
        item = BackupItem(kind="repository", full_name=name)
        repo = make_repo(work / f"src{index}", files=12 if name == large else 2)
        zip_path = write_item(work / f"item{index}.zip", item, repo)
        if name == damaged:
            damage_bundle(zip_path, item.archive_root)
        items.append(item)
        zips[item] = zip_path.read_bytes()
    folder = out_dir / run_id
    folder.mkdir(parents=True)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        for item, data in zips.items():
            stage(s3, BUCKET, run_id, item, data)
        assemble_run(s3, bucket=BUCKET, run_id=run_id, items=items, storage_class="STANDARD",
                     started_at=started_at)  # fmt: skip
        for key, name in ((run_archive_key(run_id), f"ghbackup-{run_id}.zip"),
                          (run_manifest_key(run_id), "manifest.json")):  # fmt: skip
            (folder / name).write_bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    return folder
