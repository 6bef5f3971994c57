"""The Finalize benchmark's S3 model (bench/refcopy_s3.py) serves the bytes S3 would.

It patches moto process-wide, so it is exercised in a child process.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = r"""
import os, random
os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
from bench import refcopy_s3
refcopy_s3.install()
import boto3
from moto import mock_aws

MIB = 1 << 20
rng = random.Random(7)
source = rng.randbytes(7 * MIB)
small = rng.randbytes(1000)

def compose(s3, key, parts):
    upload = s3.create_multipart_upload(Bucket="bench", Key=key)["UploadId"]
    done = []
    for number, (kind, arg) in enumerate(parts, 1):
        if kind == "copy":
            src, lo, hi = arg
            etag = s3.upload_part_copy(Bucket="bench", Key=key, UploadId=upload, PartNumber=number,
                CopySource={"Bucket": "bench", "Key": src}, CopySourceRange=f"bytes={lo}-{hi}",
            )["CopyPartResult"]["ETag"]
        else:
            etag = s3.upload_part(Bucket="bench", Key=key, UploadId=upload, PartNumber=number,
                                  Body=arg)["ETag"]
        done.append({"PartNumber": number, "ETag": etag})
    s3.complete_multipart_upload(Bucket="bench", Key=key, UploadId=upload,
                                 MultipartUpload={"Parts": done})

with mock_aws():
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="bench")
    s3.put_object(Bucket="bench", Key="src", Body=source)
    compose(s3, "one", [("copy", ("src", 1000, 6 * MIB + 999)), ("upload", small)])
    one = source[1000 : 6 * MIB + 1000] + small
    # a copy of a copy: ranges of an object that is itself ranges
    compose(s3, "two", [("copy", ("one", 3, 6 * MIB + 2)), ("copy", ("src", 0, 9))])
    two = one[3 : 6 * MIB + 3] + source[:10]
    for key, want in (("one", one), ("two", two)):
        assert s3.head_object(Bucket="bench", Key=key)["ContentLength"] == len(want), key
        assert s3.get_object(Bucket="bench", Key=key)["Body"].read() == want, key
        got = s3.get_object(Bucket="bench", Key=key, Range="bytes=-1500")["Body"].read()
        assert got == want[-1500:], key
        got = s3.get_object(Bucket="bench", Key=key, Range=f"bytes={MIB}-{MIB + 99}")["Body"].read()
        assert got == want[MIB : MIB + 100], key
    print("ok")
"""


def test_copied_and_completed_objects_read_back_byte_for_byte():
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "ok"
