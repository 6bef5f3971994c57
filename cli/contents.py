"""``ghbackup ls ARCHIVE [--repo R]`` and ``ghbackup diff RUN_A RUN_B``: what a run holds,
and what changed between two runs (the work is in ``ghbackup.run_diff``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from cli import tables
from ghbackup.deployment import aws_errors, resolve_deployment
from ghbackup.errors import ConfigurationError, NotAnArchive
from ghbackup.records import ItemManifest
from ghbackup.run_diff import (
    RunDiff,
    RunView,
    diff_runs,
    item_manifests,
    view_of_file,
    view_of_manifest,
)

RAW = argparse.RawDescriptionHelpFormatter


def add_commands(sub: Any) -> None:
    """Register ``ls`` and ``diff`` on the ``ghbackup`` subparsers."""
    ls = sub.add_parser(
        "ls", help="list what an archive holds: items, or one item's files",
        formatter_class=RAW,
        description="Without --repo, one line per item: its key, files, bytes and git refs. "
        "With --repo, that item's files with their sizes. Reads the manifests only: "
        "`ghbackup verify` checks the content.",
        epilog="examples:\n  ghbackup ls backups/run-1/ghbackup-run-1.zip\n"
        "  ghbackup ls backups/run-1/ghbackup-run-1.zip --repo acme/api\n",
    )  # fmt: skip
    ls.add_argument("zip", type=Path, metavar="ARCHIVE", help="a run zip or an item zip")
    ls.add_argument("--repo", metavar="OWNER/NAME", help="list this item's files (or an item key)")
    ls.add_argument("--json", action="store_true", help="the listing as JSON on stdout")
    ls.set_defaults(func=_ls)

    diff = sub.add_parser(
        "diff", help="what changed between two runs: items added, removed, changed",
        formatter_class=RAW,
        description="Each RUN is a local run zip, an item zip, a run manifest (manifest.json), "
        "a run's folder, or the id of a run in the deployed stack's bucket. Two archives "
        "compare every git ref; a run manifest or a run id compares each item's status and "
        "zip checksum. Lines: `+ ITEM` added, `- ITEM` removed, `M ITEM` changed, then "
        "one indented line per ref: `REF OLD..NEW`, `+ REF NEW`, `- REF OLD`.",
        epilog="examples:\n  ghbackup diff backups/run-1/ghbackup-run-1.zip "
        "backups/run-2/ghbackup-run-2.zip\n"
        "  ghbackup diff run-20261201T100000Z run-20261208T100000Z\n",
    )  # fmt: skip
    diff.add_argument("run_a", metavar="RUN_A", help="the older run")
    diff.add_argument("run_b", metavar="RUN_B", help="the newer run")
    diff.add_argument("--bucket", help="for run ids (default: as `ghbackup runs`)")
    diff.add_argument("--json", action="store_true", help="the differences as JSON on stdout")
    diff.set_defaults(func=_diff)


def _ls(args: argparse.Namespace) -> int:
    manifests = item_manifests(args.zip)
    if args.repo:
        chosen = [m for m in manifests if args.repo in (m.item.full_name, m.item.key)]
        if not chosen:
            held = ", ".join(m.item.key for m in manifests[:5])
            raise ConfigurationError(f"{args.repo} is not in {args.zip} (it holds {held}...)")
        return _ls_files(chosen[0], as_json=args.json)
    if args.json:
        print(json.dumps([_item_json(m) for m in manifests], indent=2))
        return 0
    columns = (
        tables.Column("item"), tables.Column("files", keep=40, right=True),
        tables.Column("bytes", keep=50, right=True), tables.Column("refs", keep=30, right=True),
        tables.Column("complete", keep=20),
    )  # fmt: skip
    rows = [
        [m.item.key, f"{len(m.files):,}", f"{sum(f.size for f in m.files):,}",
         f"{sum(len(s.refs) for s in m.git.values()):,}", "yes" if m.complete else "no"]
        for m in manifests
    ]  # fmt: skip
    tables.print_rows(columns, rows)
    return 0


def _item_json(manifest: ItemManifest) -> dict[str, Any]:
    return {
        "item": manifest.item.key,
        "files": len(manifest.files),
        "bytes": sum(f.size for f in manifest.files),
        "refs": {key: state.refs for key, state in manifest.git.items()},
        "complete": manifest.complete,
    }


def _ls_files(manifest: ItemManifest, *, as_json: bool) -> int:
    if as_json:
        files = [{"path": manifest.root + f.path, "size": f.size} for f in manifest.files]
        print(json.dumps({**_item_json(manifest), "files": files}, indent=2))
        return 0
    columns = (tables.Column("size", right=True), tables.Column("path"))
    rows = [[f"{f.size:,}", manifest.root + f.path] for f in manifest.files]
    tables.print_rows(columns, rows)
    return 0


def _view(run: str, bucket: str | None) -> RunView:
    path = Path(run)
    if path.exists() or run.endswith((".zip", ".json")) or "/" in run:
        return view_of_file(path)  # a path that does not exist says so
    from ghbackup import operate

    deployment = resolve_deployment(bucket, None)
    if not deployment.bucket:
        raise NotAnArchive(
            f"{run}: no such file, and no deployed stack to look it up in as a run id "
            "(--bucket, $GHBACKUP_BUCKET or `ghbackup configure`)"
        )
    with aws_errors(f"read run {run}"):
        manifest = operate.load_manifest(deployment.client("s3"), deployment.require_bucket(), run)
    return view_of_manifest(manifest, f"s3://{deployment.bucket}/runs/{run}")


def _diff(args: argparse.Namespace) -> int:
    a, b = _view(args.run_a, args.bucket), _view(args.run_b, args.bucket)
    result = diff_runs(a, b)
    if args.json:
        print(json.dumps(_diff_json(result), indent=2))
        return 0
    for key in result.added:
        print(f"+ {key}")
    for key in result.removed:
        print(f"- {key}")
    for change in result.changed:
        note = f"  ({change.status[0]} -> {change.status[1]})" if change.status else ""
        print(f"M {change.key}{note}")
        for name, old, new in change.refs:
            ref = tables.printable(name)  # a ref name comes from an untrusted manifest
            if old and new:
                print(f"    {ref} {tables.printable(old[:12])}..{tables.printable(new[:12])}")
            else:
                commit = tables.printable((new or old or "")[:12])
                print(f"    {'+' if new else '-'} {ref} {commit}")
        if change.content_changed and not change.refs:
            print("    content changed (zip checksum differs)")
    if not (result.added or result.removed or result.changed):
        print(f"no differences between {a.source} and {b.source}")
    if not result.refs_compared:
        print("(refs not compared: a run manifest or run id gives none; diff the run zips)")
    return 0


def _diff_json(result: RunDiff) -> dict[str, Any]:
    return {
        "added": result.added,
        "removed": result.removed,
        "changed": [
            {
                "item": c.key,
                "status": list(c.status) if c.status else None,
                "refs": [{"ref": r, "old": o, "new": n} for r, o, n in c.refs],
                "content_changed": c.content_changed,
            }
            for c in result.changed
        ],
        "refs_compared": result.refs_compared,
    }
