"""What a person sees from ``ghbackup run --local`` (and ``backup-item``) before and after
the work: one line per failure, found before anything starts; the summary in words; the
progress without a terminal; the command that continues an interrupted run."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rich.console import Console

from cli import local_run
from cli import main as cli
from ghbackup import exit_codes
from ghbackup.records import LocalRunOutcome, RunSummary
from ghbackup.wording import counted


@pytest.fixture
def token(monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_cli_test_token_0123456789")
    monkeypatch.delenv("GITHUB_API_URL", raising=False)


@pytest.fixture
def github():
    """A GitHub API that answers from ``answers`` ({path: (status, body)}; 404 otherwise)
    and records the paths asked."""
    answers: dict[str, tuple[int, object]] = {"/api/v3/rate_limit": (200, {"resources": {}})}
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            asked.append(self.path)
            status, body = answers.get(self.path, (404, {"message": "Not Found"}))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    server.answers, server.asked = answers, asked
    server.api_url = f"http://127.0.0.1:{server.server_address[1]}/api/v3"
    yield server
    server.shutdown()
    server.server_close()


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err.strip()


def test_a_rejected_token_is_one_line_naming_the_host_and_the_variable(
    capsys, tmp_path, token, github
):
    github.answers["/api/v3/rate_limit"] = (401, {"message": "Bad credentials"})
    code, out, err = run(
        capsys, "run", "--local", "--org", "acme", "--out", str(tmp_path / "o"),
        "--api-url", github.api_url,
    )  # fmt: skip
    assert code == exit_codes.GITHUB and out == ""
    assert err == (
        f"ghbackup: AuthenticationFailed: GitHub at {github.api_url} rejected the token "
        "(401): check GITHUB_TOKEN"
    )
    assert not (tmp_path / "o").exists()  # nothing was started, no folder blocks the id


def test_an_unknown_organisation_says_what_may_be_wrong(capsys, tmp_path, token, github):
    code, _, err = run(
        capsys, "run", "--local", "--org", "acmee", "--out", str(tmp_path),
        "--api-url", github.api_url,
    )  # fmt: skip
    assert code == exit_codes.GITHUB and "\n" not in err
    assert "organisation 'acmee' not found" in err and "a typo?" in err
    assert "--user" in err and "cannot see it" in err
    assert not list(tmp_path.iterdir())


def test_a_user_given_as_an_organisation_is_told_to_use_user(capsys, tmp_path, token, github):
    github.answers["/api/v3/users/octocat"] = (200, {"login": "octocat", "type": "User"})
    code, _, err = run(
        capsys, "run", "--local", "--org", "octocat", "--out", str(tmp_path),
        "--api-url", github.api_url,
    )  # fmt: skip
    assert (
        code == exit_codes.GITHUB
        and "is a user, not an organisation" in err
        and "--user octocat" in err
    )


def test_an_api_that_refuses_connections_fails_at_once_naming_host_and_port(
    capsys, tmp_path, token
):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    code, _, err = run(
        capsys, "run", "--local", "--org", "acme", "--out", str(tmp_path),
        "--api-url", f"http://127.0.0.1:{port}/api/v3",
    )  # fmt: skip
    assert time.monotonic() - started < 5
    assert code == exit_codes.GITHUB and "\n" not in err
    assert f"127.0.0.1:{port} refused the connection" in err and "--api-url" in err
    assert not list(tmp_path.iterdir())


def test_out_that_is_a_file_is_refused_as_a_file(capsys, tmp_path, token):
    (tmp_path / "notes.txt").write_text("a file")
    code, _, err = run(
        capsys, "run", "--local", "--org", "acme", "--out", str(tmp_path / "notes.txt"),
        "--api-url", "http://127.0.0.1:9",
    )  # fmt: skip
    assert code == 2 and "notes.txt is a file" in err and "RunAlreadyExists" not in err


@pytest.mark.parametrize("option", ["--run-id", "--resume"])
def test_a_run_id_that_is_a_path_is_refused_before_any_folder_is_made(
    capsys, tmp_path, token, option
):
    out = tmp_path / "out"
    code, _, err = run(
        capsys, "run", "--local", "--org", "acme", "--out", str(out), option, "../escaped",
        "--api-url", "http://127.0.0.1:9",
    )  # fmt: skip
    assert code == 2 and "'../escaped' is not a run id" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "escaped").exists() and not out.exists()


def test_backup_item_refuses_an_out_file_before_capturing(capsys, monkeypatch, tmp_path, token):
    from ghbackup import backup

    def must_not_capture(*args, **kwargs):
        raise AssertionError("captured before checking --out")

    monkeypatch.setattr(backup, "capture_item", must_not_capture)
    (tmp_path / "out").write_text("a file")
    code, _, err = run(capsys, "backup-item", "--repo", "acme/api", "--out", str(tmp_path / "out"))
    assert code == 2 and err == f"ghbackup: ConfigurationError: --out {tmp_path / 'out'}: " + (
        f"{tmp_path / 'out'} is a file; --out is a folder"
    )


def test_a_finished_run_id_is_refused_and_an_unfinished_one_is_not(capsys, tmp_path, token):
    from workflow.local_runner import check_run_folder

    (tmp_path / "run-done").mkdir()
    (tmp_path / "run-done" / "ghbackup-run-done.zip").write_bytes(b"PK")
    code, _, err = run(
        capsys, "run", "--local", "--org", "acme", "--out", str(tmp_path),
        "--run-id", "run-done", "--api-url", "http://127.0.0.1:9",
    )  # fmt: skip
    assert code == 2 and "run run-done already exists" in err and "holds its archive" in err
    (tmp_path / "run-cut" / "logs").mkdir(parents=True)
    assert check_run_folder(tmp_path, "run-cut") == "unfinished"


def test_resume_of_a_run_that_never_started_says_so(capsys, tmp_path, token):
    code, _, err = run(
        capsys, "run", "--local", "--resume", "run-x", "--out", str(tmp_path),
        "--api-url", "http://127.0.0.1:9",
    )  # fmt: skip
    assert code == 2 and "nothing to resume" in err and str(tmp_path / "run-x") in err


def test_without_moto_run_local_names_the_extra_to_install(capsys, monkeypatch, tmp_path, token):
    import workflow

    # Import the local runner afresh (from this tree's workflow package) with moto missing.
    for name in [m for m in sys.modules if m == "moto" or m.startswith(("moto.", "workflow."))]:
        monkeypatch.delitem(sys.modules, name)
        if name.startswith("workflow.") and hasattr(workflow, name.split(".")[1]):
            monkeypatch.delattr(workflow, name.split(".")[1])
    monkeypatch.setitem(sys.modules, "moto", None)  # import moto -> ModuleNotFoundError
    code, _, err = run(capsys, "run", "--local", "--org", "acme", "--out", str(tmp_path))
    assert code == 2 and "'local' extra" in err and "pip install '.[local]'" in err


def test_the_summary_is_in_words_with_singular_counts():
    summary = RunSummary.from_json(
        {
            "status": "PARTIAL", "run_id": "r1", "bytes": 1, "duration_seconds": 2.25,
            "counts": {"total": 2, "succeeded": 1, "failed": 1},
            "archive_key": "runs/r1/ghbackup-r1.zip", "manifest_key": "runs/r1/manifest.json",
            "failed": [{"item_key": "repository/acme/x", "error_type": "NotFound", "error": "gone"}],
        }
    )  # fmt: skip
    lines = local_run.summary_lines(summary, ["/o/r1/ghbackup-r1.zip"])
    assert lines == [
        "run r1: PARTIAL, 2 items (1 succeeded, 1 failed), 1 byte in 2.2 s",
        "  failed repository/acme/x: NotFound: gone",
        "  /o/r1/ghbackup-r1.zip",
    ]


def test_a_failed_execution_is_one_line_with_the_errors_own_message(capsys):
    outcome = LocalRunOutcome(
        run_id="r1",
        status="FAILED",
        error="NotFound",
        cause=json.dumps({"errorType": "NotFound", "errorMessage": "/orgs/x/repos: HTTP 404"}),
    )
    err_console = Console(stderr=True, soft_wrap=True)
    code = local_run.print_outcome(err_console, Console(soft_wrap=True), outcome)
    captured = capsys.readouterr()
    assert code == 1 and captured.out == ""
    assert captured.err == "ghbackup: run r1 failed: NotFound: /orgs/x/repos: HTTP 404\n"


@pytest.mark.parametrize(
    ("count", "word", "text"),
    [(1, "item", "1 item"), (0, "item", "0 items"), (2, "bundle", "2 bundles"),
     (1, "repository", "1 repository"), (3, "repository", "3 repositories"),
     (1234, "byte", "1,234 bytes")],
)  # fmt: skip
def test_counts_in_words(count, word, text):
    assert counted(count, word) == text


def test_without_a_terminal_progress_is_a_plain_line_every_few_seconds(capsys):
    now = [100.0]
    console = Console(stderr=True, soft_wrap=True, force_terminal=False)
    display = local_run.RunProgressDisplay(console, "r1", clock=lambda: now[0])
    with display:
        display.report(0, 0, 0)
        now[0] += 1
        display.report(0, 0, 40)  # changed, but too soon after the last line
        now[0] += 5
        display.report(10, 0, 40)
        now[0] += 10
        display.report(20, 1, 40)
        now[0] += 1
        display.report(40, 1, 40)  # the end is always shown
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "run r1: listing the items to back up, 0:00 spent",
        "run r1: 10/40 items, 0 failed, 0:06 spent",
        "run r1: 20/40 items, 1 failed, 0:16 spent, about 0:20 left",
        "run r1: 40/40 items, 1 failed, 0:17 spent",
    ]


def test_the_continue_command_replaces_the_run_id_with_resume():
    argv = ["run", "--local", "--org", "acme", "--run-id", "r1", "--out", "my backups"]
    assert local_run.continue_command(argv, "r1") == (
        "ghbackup run --local --org acme --out 'my backups' --resume r1"
    )


def test_an_interrupted_run_says_what_was_kept_and_the_command_that_continues(
    capsys, monkeypatch, tmp_path, token, github
):
    from workflow.local_runner import RunInterrupted, check_run_folder

    def interrupted_run_local(execution_input, *, out_dir, run_id, **kwargs):
        raise RunInterrupted(run_id, out_dir / run_id, kept=3, done=4, total=12)

    github.answers["/api/v3/orgs/acme"] = (200, {"login": "acme"})
    monkeypatch.setattr(
        local_run,
        "_local_runner",
        lambda: (interrupted_run_local, check_run_folder, RunInterrupted),
    )
    code, out, err = run(
        capsys, "run", "--local", "--org", "acme", "--out", str(tmp_path), "--run-id", "r7",
        "--api-url", github.api_url,
    )  # fmt: skip
    assert code == 130 and out == ""
    assert err.splitlines() == [
        f"ghbackup: run r7 interrupted: 3 items of 12 finished and kept (their warm copies "
        f"are in {tmp_path / 'state'})",
        f"continue with: ghbackup run --local --org acme --out {tmp_path} --api-url "
        f"{github.api_url} --resume r7",
    ]


def test_sigterm_stops_a_local_run_as_ctrl_c_does():
    import os
    import signal

    with pytest.raises(KeyboardInterrupt), local_run._sigterm_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # interrupted long before this ends
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_failed_backup_item_is_one_line_without_a_log_line_before_it(
    capsys, tmp_path, token, github
):
    code = cli.main(
        ["backup-item", "--repo", "acme/nope", "--out", str(tmp_path), "--api-url", github.api_url]
    )
    captured = capsys.readouterr()
    assert code == exit_codes.GITHUB and captured.out == ""
    assert captured.err == (  # no ERROR log line before it, no blank line around it
        "ghbackup: repository/acme/nope: NotFound: /api/v3/repos/acme/nope: HTTP 404 Not Found\n"
    )


def test_verify_counts_one_of_each_in_the_singular(capsys, monkeypatch, tmp_path):
    from types import SimpleNamespace

    from ghbackup import restore

    archive = tmp_path / "one.zip"
    verified = SimpleNamespace(
        zip_path=archive, items=["a"], files=1, bytes=1, bundles=1, lfs_objects=1, seconds=0.5
    )
    monkeypatch.setattr(restore, "verify_archive", lambda *args, **kwargs: verified)
    code = cli.main(["verify", str(archive)])
    out = capsys.readouterr().out
    assert code == 0
    assert out == f"verified {archive}: 1 item, 1 file, 1 byte, 1 bundle, 1 LFS object in 0.5s\n"


def test_the_check_before_a_run_leaves_an_input_that_is_no_selection_to_validation(github):
    from ghbackup.credentials import TokenCredentials
    from ghbackup.preflight import check_github

    check_github(github.api_url, TokenCredentials("t"), ["not", "a", "selection"])
    assert github.asked == ["/api/v3/rate_limit"]  # one request, no account looked up


def test_an_enterprise_server_without_rate_limits_passes_the_check(github):
    from ghbackup.credentials import TokenCredentials
    from ghbackup.preflight import check_github

    github.answers["/api/v3/rate_limit"] = (404, {"message": "Rate limiting is not enabled."})
    github.answers["/api/v3/orgs/acme"] = (200, {"login": "acme"})
    check_github(github.api_url, TokenCredentials("t"), {"orgs": ["acme"]})
    assert github.asked == ["/api/v3/rate_limit", "/api/v3/orgs/acme"]
