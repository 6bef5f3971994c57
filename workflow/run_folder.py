"""The folder a local run writes into, ``OUT/<run id>/``: whether the run id is free, used
(the folder holds the run's archive) or unfinished (a run that failed or was interrupted,
which the same id continues); a lock while a run runs in it; no empty folder left behind."""

from __future__ import annotations

import contextlib
import fcntl
from pathlib import Path
from typing import Any

from ghbackup.errors import ConfigurationError, RunAlreadyExists, StorageError
from ghbackup.operate import RUN_ID_PATTERN


def run_folder_state(out_dir: Path, run_id: str) -> str:
    """What ``out_dir/<run id>/`` says about the run id: "free" (no folder), "finished"
    (it holds the run's archive or manifest: the id is used), or "unfinished" (a run that
    failed or was interrupted before its archive: the same id continues it)."""
    folder = out_dir / run_id
    if not folder.exists():
        return "free"
    if any((folder / name).exists() for name in (f"ghbackup-{run_id}.zip", "manifest.json")):
        return "finished"
    return "unfinished"


def check_run_folder(out_dir: Path, run_id: str, *, resume: bool = False) -> str:
    """Refuse, before anything starts, an ``out_dir`` that is not a folder, a run id whose
    run finished (its folder holds the archive), or ``resume`` of a run that never
    started. Returns the folder's state (``run_folder_state``)."""
    if not RUN_ID_PATTERN.match(run_id or ""):
        # Checked before the id becomes a path: "../x" must not make or lock a folder.
        raise ConfigurationError(
            f"{run_id!r} is not a run id: letters, digits, - and _ only, at most 80 "
            "(it names the execution and the run's folder)"
        )
    for place in (out_dir, *out_dir.parents):
        if place.exists():
            if not place.is_dir():
                raise ConfigurationError(
                    f"--out {out_dir}: {place} is a file; --out is the folder the run's "
                    "folder goes into"
                )
            break
    state = run_folder_state(out_dir, run_id)
    if state == "finished":
        raise RunAlreadyExists(
            f"run {run_id} already exists or is running ({out_dir / run_id} holds its "
            "archive); choose another --run-id"
        )
    if resume and state == "free":
        raise ConfigurationError(
            f"nothing to resume: {out_dir / run_id} does not exist (is --out the same as "
            "the interrupted run's?)"
        )
    return state


def reserve_run_folder(out_dir: Path, run_id: str) -> tuple[Path, Any, bool]:
    """Create (or, for a run that did not finish, take over) ``out_dir/<run id>/`` and
    lock it; returns (folder, the open lock file, whether the folder is new). Fails when
    the run finished (its archive is there) or runs now in another process (the lock)."""
    check_run_folder(out_dir, run_id)
    folder = out_dir / run_id
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        folder.mkdir()
        created = True
    except FileExistsError:
        created = False
    except OSError as exc:
        raise StorageError(f"cannot create {folder}: {exc.strerror}") from None
    try:
        lock = (folder / _LOCK_NAME).open("a")
    except OSError as exc:
        raise StorageError(f"cannot create {folder / _LOCK_NAME}: {exc.strerror}") from None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        raise RunAlreadyExists(
            f"run {run_id} already exists or is running (in another process, {folder}); "
            "choose another --run-id"
        ) from None
    if run_folder_state(out_dir, run_id) == "finished":  # finished while we looked
        lock.close()
        raise RunAlreadyExists(f"run {run_id} already exists ({folder}); choose another --run-id")
    return folder, lock, created


def release_run_folder(folder: Path, lock: Any, *, keep: bool) -> None:
    """Unlock ``folder``; unless ``keep``, remove it when nothing but empty folders is in
    it (a run that failed before writing anything leaves no folder behind; one that wrote
    something keeps it, and a run that finished its archive is in it)."""
    lock.close()
    (folder / _LOCK_NAME).unlink(missing_ok=True)
    if keep:
        return
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    with contextlib.suppress(OSError):
        folder.rmdir()  # only when empty


_LOCK_NAME = ".running"
