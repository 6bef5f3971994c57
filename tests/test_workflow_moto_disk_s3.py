"""The local AWS keeps S3 objects on disk and streams them (workflow/moto_disk_s3.py).

Each test goes through moto's server with boto3, as a local run does: the bytes that come back
are the bytes that went in, ranges and copies included, and what is stored is a file in the
spool folder, not a buffer in memory.
"""

from __future__ import annotations

import base64
import hashlib
import os

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from workflow import moto_disk_s3
from workflow.local_aws import DUMMY_CREDENTIALS, REGION, start_local_aws

pytestmark = pytest.mark.integration
BUCKET = "disk-backed"
MB = 1024 * 1024


@pytest.fixture(scope="module")
def s3():
    local = start_local_aws()
    try:
        client = boto3.client(
            "s3",
            endpoint_url=local.endpoint_url,
            region_name=REGION,
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            config=Config(s3={"addressing_style": "path"}),
        )
        client.create_bucket(Bucket=BUCKET)
        yield client
    finally:
        local.stop()


def _stored(key: str):
    from moto.s3.models import s3_backends

    from workflow.local_aws import ACCOUNT_ID

    found = s3_backends[ACCOUNT_ID]["global"].get_object(BUCKET, key)
    return found.__dict__["_value_buffer"]


def _data(size: int, seed: str) -> bytes:
    block = hashlib.sha256(seed.encode()).digest() * (MB // 32)
    return (block * (size // len(block) + 1))[:size]


def test_a_large_put_is_a_file_in_the_spool_folder_and_reads_back_whole_and_by_range(s3, tmp_path):
    data = _data(3 * MB + 17, "put")
    s3.put_object(Bucket=BUCKET, Key="big.bin", Body=data)
    stored = _stored("big.bin")
    assert stored.path is not None and stored.path.parent == moto_disk_s3.spool_dir()
    assert stored.memory == b"" and stored.path.stat().st_size == len(data)
    assert s3.get_object(Bucket=BUCKET, Key="big.bin")["Body"].read() == data
    ranged = s3.get_object(Bucket=BUCKET, Key="big.bin", Range=f"bytes={MB - 5}-{2 * MB + 4}")
    assert ranged["ContentRange"] == f"bytes {MB - 5}-{2 * MB + 4}/{len(data)}"
    assert ranged["Body"].read() == data[MB - 5 : 2 * MB + 5]
    tail = s3.get_object(Bucket=BUCKET, Key="big.bin", Range="bytes=-10")["Body"].read()
    assert tail == data[-10:]
    head = s3.head_object(Bucket=BUCKET, Key="big.bin")
    assert head["ETag"] == f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'


def test_a_small_object_stays_in_memory(s3):
    s3.put_object(Bucket=BUCKET, Key="small.json", Body=b'{"a": 1}')
    assert _stored("small.json").path is None
    assert s3.get_object(Bucket=BUCKET, Key="small.json")["Body"].read() == b'{"a": 1}'


def test_a_multipart_upload_completes_on_disk_with_its_checksum(s3, tmp_path):
    data = _data(11 * MB + 3, "multipart")
    source = tmp_path / "upload.bin"
    source.write_bytes(data)
    config = TransferConfig(multipart_threshold=5 * MB, multipart_chunksize=5 * MB)
    s3.upload_file(str(source), BUCKET, "multi.bin", Config=config)
    got = s3.get_object(Bucket=BUCKET, Key="multi.bin")
    assert got["Body"].read() == data
    assert got["ETag"].strip('"').endswith("-3")
    assert _stored("multi.bin").path is not None


def test_a_copy_links_the_file_and_survives_the_source_being_replaced(s3):
    data = _data(2 * MB, "copy")
    s3.put_object(Bucket=BUCKET, Key="copy-source.bin", Body=data)
    s3.copy_object(Bucket=BUCKET, Key="copy-target.bin", CopySource=f"{BUCKET}/copy-source.bin")
    source, target = _stored("copy-source.bin"), _stored("copy-target.bin")
    assert source.path != target.path
    assert os.path.samestat(source.path.stat(), target.path.stat())  # a link, not a copy
    s3.put_object(Bucket=BUCKET, Key="copy-source.bin", Body=_data(2 * MB, "other"))
    assert s3.get_object(Bucket=BUCKET, Key="copy-target.bin")["Body"].read() == data


def test_an_upload_part_copy_takes_only_its_range(s3):
    data = _data(7 * MB, "part-copy")
    s3.put_object(Bucket=BUCKET, Key="parts-source.bin", Body=data)
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="assembled.bin")["UploadId"]
    first = s3.upload_part_copy(
        Bucket=BUCKET, Key="assembled.bin", UploadId=upload, PartNumber=1,
        CopySource=f"{BUCKET}/parts-source.bin", CopySourceRange=f"bytes=0-{5 * MB - 1}",
    )  # fmt: skip
    second = s3.upload_part(
        Bucket=BUCKET, Key="assembled.bin", UploadId=upload, PartNumber=2, Body=b"tail" * 1000
    )
    s3.complete_multipart_upload(
        Bucket=BUCKET, Key="assembled.bin", UploadId=upload,
        MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": first["CopyPartResult"]["ETag"]},
            {"PartNumber": 2, "ETag": second["ETag"]},
        ]},
    )  # fmt: skip
    got = s3.get_object(Bucket=BUCKET, Key="assembled.bin")["Body"].read()
    assert got == data[: 5 * MB] + b"tail" * 1000


def test_a_streamed_put_keeps_the_checksum_the_client_sent(s3):
    data = _data(MB, "checksum")
    answer = s3.put_object(Bucket=BUCKET, Key="summed.bin", Body=data, ChecksumAlgorithm="SHA256")
    expected = base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert answer["ChecksumSHA256"] == expected
    assert s3.get_object(Bucket=BUCKET, Key="summed.bin")["Body"].read() == data


def test_mock_aws_in_the_same_process_still_gets_bytes(s3):
    from moto import mock_aws

    data = _data(MB, "in-process")
    with mock_aws():
        local = boto3.client("s3", region_name=REGION)
        local.create_bucket(Bucket="in-process")
        local.put_object(Bucket="in-process", Key="k", Body=data)
        assert local.get_object(Bucket="in-process", Key="k")["Body"].read() == data
        ranged = local.get_object(Bucket="in-process", Key="k", Range="bytes=10-19")
        assert ranged["Body"].read() == data[10:20]
