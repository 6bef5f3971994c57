"""What ``verify`` and ``restore`` print: the result on stdout (text, or one JSON object with
``--json``), diagnostics on stderr, so ``ghbackup verify X --json | jq`` and
``ghbackup restore X --to D > restored.txt`` work."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape

from cli.tables import printable
from ghbackup.credentials import redact
from ghbackup.errors import BackupError
from ghbackup.restore import RUN_FILES, ArchiveDamaged, RestoreReport, VerifyReport
from ghbackup.wording import counted

console = Console(stderr=True, soft_wrap=True)


def _out(data: Any) -> None:
    print(json.dumps(data, indent=2))


def print_failure(exc: BackupError) -> None:
    """For ``--json``: the failure as one JSON object on stdout (``ok: false``, the error's
    name, message and exit code); the one-line message on stderr stays."""
    _out({"ok": False, "error_type": type(exc).__name__, "error": redact(str(exc)),
          "exit_code": exc.exit_code})  # fmt: skip


def _verify_json(report: VerifyReport) -> dict[str, Any]:
    return {
        "archive": str(report.zip_path),
        "ok": not report.damaged,
        "intact": report.items,
        "damaged": [{"item": key, "error": why} for key, why in report.damaged.items()],
        "files": report.files,
        "bytes": report.bytes,
        "bundles": report.bundles,
        "lfs_objects": report.lfs_objects,
        "seconds": round(report.seconds, 3),
    }


def print_verified(report: VerifyReport, *, as_json: bool) -> int:
    """The summary of an archive that passed."""
    if as_json:
        _out(_verify_json(report))
        return 0
    print(
        f"verified {report.zip_path}: {counted(len(report.items), 'item')}, "
        f"{counted(report.files, 'file')}, {counted(report.bytes, 'byte')}, "
        f"{counted(report.bundles, 'bundle')}, {counted(report.lfs_objects, 'LFS object')} "
        f"in {report.seconds:.1f}s"
    )
    return 0


def print_damaged(exc: ArchiveDamaged, *, as_json: bool) -> int:
    """Every damaged item (one line each, on stderr), then which items are intact (stdout:
    what can still be restored with ``--repo``)."""
    report = exc.report
    if as_json:
        _out(_verify_json(report))
    for key, why in report.damaged.items():
        what = "the run's own files" if key == RUN_FILES else key
        line = why if why.startswith(key) else f"{what}: {why}"  # a damaged manifest's path
        console.print(f"[red]ghbackup: ArchiveCorrupt: {escape(printable(line))}[/red]")
    if not as_json and len(report.damaged) + len(report.items) > 1:
        print(
            f"{report.zip_path}: {counted(len(report.damaged), 'damaged item')}, "
            f"{counted(len(report.items), 'intact item')}"
        )
        for key in report.items:
            print(f"intact\t{printable(key)}")
        for key in report.damaged:
            print(f"damaged\t{printable(key)}")
    return exc.exit_code


def print_restored(report: RestoreReport, *, as_json: bool) -> int:
    """What a restore put where."""
    if as_json:
        _out(
            {
                "ok": True,
                "archive": str(report.zip_path),
                "target": str(report.target),
                "items": report.items,
                "mirrors": [str(m) for m in report.mirrors],
                "files": report.files,
                "bytes": report.bytes,
                "lfs_objects": report.lfs_objects,
                "pushed_to": report.pushed_to,
                "seconds": round(report.seconds, 3),
            }
        )
        return 0
    print(
        f"restored {counted(len(report.items), 'item')} into {report.target}: "
        f"{counted(len(report.mirrors), 'git mirror')}, {counted(report.files, 'file')}, "
        f"{counted(report.lfs_objects, 'LFS object')}"
        + (f", pushed to {report.pushed_to}" if report.pushed_to else "")
    )
    for mirror in report.mirrors:
        print(f"  {mirror}")
    sys.stdout.flush()
    return 0
