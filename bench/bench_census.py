"""Census benchmark: the list step deciding an unchanged organisation (issue 23, item 1).

On an organisation served by the stand-in (default 10,000 repositories, in a process of its
own: bench/standin_process.py), every repository is given the state a census-era capture
leaves in ``latest/`` (its census signature, its refs from ``info/refs``, a warm copy), in an
in-process moto S3. Then the list step's work is timed as the Lambda does it: the listing
(``expand_selection``) and ``plan_run`` (the census, 100 repositories a query; the refs of
every remote; the warm copies staged).

Figures, printed beside the issue's targets: wall time (< 5 minutes), GraphQL points charged
by the stand-in by GitHub's documented formula (<= 1,500), REST requests besides the listing
(0: no REST probe), items reused (all: no task started).

    .venv/bin/python -m bench.bench_census [--repositories 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.standin_process import StandInProcess  # noqa: E402
from ghbackup.census import take_census  # noqa: E402
from ghbackup.credentials import TokenCredentials  # noqa: E402
from ghbackup.github import GitHubClient  # noqa: E402
from ghbackup.incremental import plan_run  # noqa: E402
from ghbackup.probes import CENSUS_PROBE, remote_refs  # noqa: E402
from ghbackup.records import (  # noqa: E402
    BackupItem,
    ItemState,
    ProbeAnswer,
    latest_state_key,
    latest_zip_key,
)
from ghbackup.selection import Selection, expand_selection  # noqa: E402
from tests.standin import AccountSpec  # noqa: E402

BUCKET = "ghbackup-bench-census"
TARGET_SECONDS = 300
TARGET_POINTS = 1500


def _seed_states(s3, client: GitHubClient, items: list[BackupItem], clone_urls: dict) -> None:
    """What a census-era capture of each repository leaves: warm copy, then its state."""
    census = take_census(client, [i.full_name or "" for i in items])
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def seed(item: BackupItem) -> None:
        entry = census.get(item.full_name)
        assert entry is not None, f"the census did not describe {item.full_name}"
        clone = clone_urls[item.full_name]
        remotes = {"repository": clone}
        if entry.has_wiki:
            remotes["wiki"] = clone.removesuffix(".git") + ".wiki.git"
        refs = {name: remote_refs(url, client) for name, url in remotes.items()}
        body = f"warm copy of {item.key}".encode()
        import hashlib

        sha = hashlib.sha256(body).hexdigest()
        etag = s3.put_object(Bucket=BUCKET, Key=latest_zip_key(item), Body=body,
                             Metadata={"sha256": sha})["ETag"]  # fmt: skip
        state = ItemState(
            item=item, run_id="run-seed", captured_at=now, zip_sha256=sha, zip_bytes=len(body),
            zip_etag=etag, credential_kind=client.credentials.kind,
            probes={CENSUS_PROBE: ProbeAnswer(status=200, body_sha256=entry.signature)},
            refs=refs, remotes=remotes,
        )  # fmt: skip
        s3.put_object(Bucket=BUCKET, Key=latest_state_key(item), Body=state.to_bytes())

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(seed, items))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repositories", type=int, default=10_000)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, shared with other work while this ran", flush=True)
    root = Path(tempfile.mkdtemp(prefix="ghbackup-bench-census-"))
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"})  # fmt: skip
    import boto3
    from moto import mock_aws

    try:
        spec = AccountSpec(repositories=args.repositories, seed=1, gists=0)
        started = time.monotonic()
        with StandInProcess(root / "standin", spec, rate_limit=10**7) as gh, mock_aws():
            print(f"stand-in up in {time.monotonic() - started:.0f} s", flush=True)
            s3 = boto3.client("s3", region_name="us-east-1")
            s3.create_bucket(Bucket=BUCKET)
            client = GitHubClient(gh.api_url, TokenCredentials(gh.token))
            listing = client.paginate(f"orgs/{gh.owner}/repos", {"type": "all"})
            clone_urls = {r["full_name"]: r["clone_url"] for r in listing}
            items = [BackupItem(kind="repository", full_name=n) for n in sorted(clone_urls)]
            seeding = time.monotonic()
            _seed_states(s3, client, items, clone_urls)
            print(f"states seeded in {time.monotonic() - seeding:.0f} s", flush=True)

            gh.reset_request_log()
            gh.reset_rate_limits()
            points_before = gh.graphql_points()
            start = time.monotonic()
            client = GitHubClient(gh.api_url, TokenCredentials(gh.token))  # a fresh Lambda
            listed = expand_selection(client, Selection.from_json({"orgs": [gh.owner]}))
            listed_s = time.monotonic() - start
            plan = plan_run(s3, BUCKET, "run-census", listed, client)
            wall = time.monotonic() - start
            log = gh.request_log
            points = gh.graphql_points() - points_before
        repositories = [i for i in listed if i.kind == "repository"]
        reused = [i for i in plan.reused if i.kind == "repository"]
        graphql = [e for e in log if e[1].endswith("/graphql")]
        listing_pages = [
            e for e in log if "/repos" in e[1] and e[1].split("?")[0].endswith("/repos")
        ]
        probes = len(log) - len(graphql) - len(listing_pages)
        row = {
            "repositories": len(repositories),
            "wall_s": round(wall, 1),
            "listing_s": round(listed_s, 1),
            "graphql_queries": len(graphql),
            "graphql_points": points,
            "listing_requests": len(listing_pages),
            "other_rest_requests": probes,
            "reused": len(reused),
            "sent_to_tasks": len([i for i in plan.capture if i.kind == "repository"]),
        }
        print(json.dumps(row), flush=True)
        ok = (wall < TARGET_SECONDS and points <= TARGET_POINTS and probes == 0
              and len(reused) == len(repositories))  # fmt: skip
        print(
            f"targets: wall < {TARGET_SECONDS} s: {'met' if wall < TARGET_SECONDS else 'NOT met'}; "
            f"points <= {TARGET_POINTS}: {'met' if points <= TARGET_POINTS else 'NOT met'}; "
            f"no task started: {'met' if len(reused) == len(repositories) else 'NOT met'}",
            flush=True,
        )
        return 0 if ok else 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
