"""``ghbackup run --local``: what is checked before anything starts, the progress shown
while it runs, its end in words, and what an interruption kept with the command that
continues it."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from types import FrameType
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from ghbackup import exit_codes
from ghbackup.credentials import Credentials, redact
from ghbackup.errors import ConfigurationError
from ghbackup.records import LocalRunOutcome, RunSummary, default_run_id
from ghbackup.wording import counted

# Without a terminal: a line when the counts change, at most this often, and at least
# this often while nothing changes (so a log shows the run is alive).
PLAIN_LINE_SECONDS = 5.0
PLAIN_QUIET_SECONDS = 60.0


def add_arguments(run: argparse.ArgumentParser) -> None:
    """The options of ``run`` this module adds."""
    run.add_argument(
        "--resume",
        metavar="RUN",
        help="continue an interrupted or failed run: the items it finished are not captured "
        "again (the same --out; the same --run-id does the same)",
    )


def run_command(
    args: argparse.Namespace, execution_input: Any, console: Console, out: Console
) -> int:
    """Check, run, report. ``console``: messages and progress (stderr); ``out``: the
    run's summary (stdout)."""
    run_local, check_run_folder, run_interrupted = _local_runner()
    if args.resume and args.run_id and args.resume != args.run_id:
        raise ConfigurationError(f"--resume {args.resume} and --run-id {args.run_id} differ")
    run_id = args.resume or args.run_id or default_run_id()
    state = check_run_folder(args.out, run_id, resume=bool(args.resume))
    credentials = Credentials.from_mapping(os.environ, api_url=args.api_url)
    from ghbackup.preflight import check_github

    check_github(args.api_url, credentials, execution_input)  # before anything starts
    if state == "unfinished":
        console.print(f"continuing run {run_id}: the items it finished are not captured again")
    display = RunProgressDisplay(console, run_id)
    try:
        with _sigterm_as_interrupt(), display:
            outcome = run_local(
                execution_input,
                out_dir=args.out,
                github_api_url=args.api_url,
                progress=display.report,
                run_id=run_id,
            )
    except run_interrupted as stopped:
        _print_interrupted(console, stopped, getattr(args, "argv", None))
        by_sigterm = signal.SIGTERM in _signals_received
        _signals_received.clear()
        return exit_codes.STOPPED if by_sigterm else exit_codes.INTERRUPTED
    return print_outcome(console, out, outcome)


def _local_runner() -> tuple[Callable[..., LocalRunOutcome], Callable[..., str], Any]:
    """The local runner, or one line saying which extra installs it (moto)."""
    try:
        from workflow.local_runner import RunInterrupted, check_run_folder, run_local
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in ("moto", "werkzeug", "flask", "flask_cors"):
            raise
        raise ConfigurationError(
            f"run --local needs the 'local' extra ({exc.name} is not installed): "
            "pip install '.[local]' from a clone of ghbackup"
        ) from None
    return run_local, check_run_folder, RunInterrupted


# The signals that stopped a run: SIGTERM exits with its own code (143), Ctrl-C with 130.
_signals_received: list[int] = []


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a service manager, ``kill``) stops the run as Ctrl-C does, so what
    finished is kept either way."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        _signals_received.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def print_outcome(console: Console, out: Console, outcome: LocalRunOutcome) -> int:
    """The run's end in words; the exit code (ghbackup.exit_codes: SUCCEEDED 0, PARTIAL 3,
    otherwise 1)."""
    run_id = outcome.run_id
    if outcome.status != "SUCCEEDED" or outcome.summary is None:
        console.print(
            f"[red]ghbackup: run {run_id} failed: {escape(_why(outcome))}[/red]",
            highlight=False,
        )
        return 1
    summary = outcome.summary
    for line in summary_lines(summary, outcome.files):
        out.print(escape(line), highlight=False)
    return exit_codes.run_status_code(summary.status)


def summary_lines(summary: RunSummary, files: Sequence[str]) -> list[str]:
    """The run's summary in words: status and counts, then each failed item, each item
    with parts GitHub did not give, and the files written."""
    counts = summary.counts
    parts = [f"{counts.succeeded:,} succeeded"] + (
        [f"{counts.failed:,} failed"] if counts.failed else []
    )
    lines = [
        f"run {summary.run_id}: {summary.status}, {counted(counts.total, 'item')} "
        f"({', '.join(parts)}), {counted(summary.bytes, 'byte')} in "
        f"{summary.duration_seconds:.1f} s"
    ]
    lines += [
        f"  failed {item.item_key}: {item.error_type}: {redact(item.error or '')}".rstrip()
        for item in summary.failed
    ]
    lines += [f"  {key}: skipped {why}" for key, why in sorted(summary.skipped_parts.items())]
    lines += [f"  {path}" for path in files]
    return lines


def _why(outcome: LocalRunOutcome) -> str:
    """One line: the error's own message when the cause is a Lambda's error JSON."""
    cause = outcome.cause or ""
    try:
        parsed = json.loads(cause)
        message = parsed.get("errorMessage") if isinstance(parsed, dict) else None
    except ValueError:
        message = None
    text = f"{outcome.error or outcome.status}: {message or cause}".rstrip(": ")
    return redact(" ".join(text.split()))[:500]


def _print_interrupted(console: Console, stopped: Any, argv: Sequence[str] | None) -> None:
    kept = (
        f"{counted(stopped.kept, 'item')} of {stopped.total:,} finished and kept"
        if stopped.total
        else "it was still listing the items: nothing to keep"
    )
    console.print(
        f"[yellow]ghbackup: run {stopped.run_id} interrupted: {kept} "
        f"(their warm copies are in {stopped.folder.parent / 'state'})[/yellow]",
        highlight=False,
    )
    console.print(f"continue with: {continue_command(argv, stopped.run_id)}", highlight=False)


def continue_command(argv: Sequence[str] | None, run_id: str) -> str:
    """The command line that continues ``run_id``: the one given, with ``--resume``
    instead of any ``--run-id``."""
    words = list(argv or ["run", "--local"])
    kept: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
            continue
        if word in ("--run-id", "--resume"):
            skip = True
            continue
        if word.startswith(("--run-id=", "--resume=")):
            continue
        kept.append(word)
    return shlex.join(["ghbackup", *kept, "--resume", run_id])


class RunProgressDisplay:
    """Items done of the total as results land, failures, time spent and left: a live bar
    on a terminal; otherwise a plain line every few seconds (a log, a pipe)."""

    def __init__(
        self, console: Console, run_id: str, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._console, self._run_id, self._clock = console, run_id, clock
        self._live = console.is_terminal
        self._bar = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[left]}"),
            console=console,
            transient=True,  # the bar gives way to the summary
        )
        self._task = self._bar.add_task(
            f"run {run_id}: listing the items", total=None, counts="", left=""
        )
        self._started = clock()
        self._first_done: tuple[float, int] | None = None
        self._last_line = (-1.0, (-1, -1, -1))

    def __enter__(self) -> RunProgressDisplay:
        if self._live:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live:
            self._bar.stop()

    def report(self, done: int, failed: int, total: int) -> None:
        """The run's counts (``workflow.local_runner``'s progress callback)."""
        now = self._clock()
        if done and self._first_done is None:
            self._first_done = (now, done)
        if self._live:
            left = self.seconds_left(done, total, now) if total and done < total else None
            self._bar.update(
                self._task,
                completed=done,
                total=total or None,
                description=f"run {self._run_id}" if total else self._bar.tasks[0].description,
                counts=f"{done:,}/{counted(total, 'item')}, {failed:,} failed" if total else "",
                left=f"about {_clock_text(left)} left" if left is not None else "",
            )
            return
        last_time, last_counts = self._last_line
        changed = (done, failed, total) != last_counts
        due = now - last_time >= (PLAIN_LINE_SECONDS if changed else PLAIN_QUIET_SECONDS)
        if due or (changed and total and done == total):
            self._last_line = (now, (done, failed, total))
            self._console.print(self.plain_line(done, failed, total, now), highlight=False)

    def plain_line(self, done: int, failed: int, total: int, now: float) -> str:
        """One line of progress in words, e.g. "run R: 12/40 items, 1 failed, 0:32 spent,
        about 1:10 left"."""
        spent = _clock_text(now - self._started)
        if not total:
            return f"run {self._run_id}: listing the items to back up, {spent} spent"
        line = f"run {self._run_id}: {done:,}/{counted(total, 'item')}, {failed:,} failed, {spent} spent"
        left = self.seconds_left(done, total, now) if done < total else None
        return line + (f", about {_clock_text(left)} left" if left is not None else "")

    def seconds_left(self, done: int, total: int, now: float) -> float | None:
        """Time left at the pace since the first item finished (None until two have)."""
        if self._first_done is None or done >= total:
            return None if done < total else 0.0
        since, first = self._first_done
        if done <= first or now <= since:
            return None
        return (total - done) * (now - since) / (done - first)


def _clock_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
