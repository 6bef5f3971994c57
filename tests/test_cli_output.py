"""What a user and a script see: exit codes, --version, -v/-q, help, results on stdout
(text or --json), tables in a terminal and in a pipe, selection flags and --dry-run, ls,
diff and configure --bucket."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest

from cli import main as cli
from cli import tables
from ghbackup import errors, exit_codes
from ghbackup.records import BackupItem
from tests.test_restore import (
    flip_byte,
    make_repo,
    merge_zips,
    three_repository_run,
    write_item,
)

ROOT = Path(__file__).resolve().parents[1]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


# -- exit codes ----------------------------------------------------------------------------


def test_each_exit_code_means_one_thing_and_every_error_has_one():
    numbers = [entry.code for entry in exit_codes.CODES]
    assert len(numbers) == len(set(numbers))
    classes = [c for c in vars(errors).values() if isinstance(c, type)]
    for cls in classes:
        if issubclass(cls, errors.BackupError):
            assert cls.exit_code in numbers, cls.__name__
    assert errors.GitHubError.exit_code != exit_codes.PARTIAL


def test_help_and_readme_show_the_whole_exit_code_table(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    shown = capsys.readouterr().out
    for entry in exit_codes.CODES:
        assert re.search(rf"^\s+{entry.code}  ", shown, re.M), entry.code
    assert exit_codes.markdown_table() in (ROOT / "README.md").read_text(encoding="utf-8")


def test_version_is_printed_on_stdout(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("ghbackup ")


def test_verbose_and_quiet_are_accepted_after_the_subcommand():
    parser = cli._parser()
    assert parser.parse_args(["verify", "x.zip", "-q"]).quiet is True
    assert parser.parse_args(["-v", "verify", "x.zip"]).verbose is True
    assert parser.parse_args(["verify", "x.zip", "-v"]).verbose is True
    assert parser.parse_args(["verify", "x.zip"]).quiet is False


def test_run_usage_does_not_make_local_look_required_and_without_it_says_why(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    usage = capsys.readouterr().out
    assert "[--local]" in usage and "ghbackup start" in usage
    code, out, err = run_cli(capsys, "run", "--org", "acme")
    assert code == 2 and out == "" and "add --local" in err and len(err.splitlines()) == 1


# -- verify and restore --------------------------------------------------------------------


def test_verify_of_a_missing_file_or_a_folder_says_so_not_archive_corrupt(capsys, tmp_path):
    code, _, err = run_cli(capsys, "verify", str(tmp_path / "nope.zip"))
    assert code == 2 and "nope.zip: no such file" in err and "Corrupt" not in err
    code, _, err = run_cli(capsys, "verify", str(tmp_path))
    assert code == 2 and "is a directory, not an archive file" in err


def test_verify_of_a_zip_that_is_not_a_ghbackup_archive_says_so(capsys, tmp_path):
    with zipfile.ZipFile(tmp_path / "photos.zip", "w") as zf:
        zf.writestr("cat.jpg", b"meow")
    code, _, err = run_cli(capsys, "verify", str(tmp_path / "photos.zip"))
    assert code == 2 and "is a zip file but not a ghbackup archive" in err


@pytest.fixture
def item_zip(tmp_path):
    source = make_repo(tmp_path / "src", files=1)
    item = BackupItem(kind="repository", full_name="acme/widget")
    return write_item(tmp_path / "item.zip", item, source)


def test_verify_prints_its_result_on_stdout_and_as_json(capsys, item_zip):
    code, out, err = run_cli(capsys, "verify", str(item_zip), "-q")
    assert code == 0 and out.startswith(f"verified {item_zip}: 1 item, ") and err == ""
    code, out, _ = run_cli(capsys, "verify", str(item_zip), "--json")
    result = json.loads(out)
    assert code == 0 and result["ok"] is True and result["intact"] == ["repository/acme/widget"]


def test_verify_of_a_damaged_run_names_every_damaged_item_and_the_intact_ones(capsys, tmp_path):
    run = three_repository_run(tmp_path)
    flip_byte(run, "acme/a/repository.json")
    flip_byte(run, "acme/c/repository.json")
    code, out, err = run_cli(capsys, "verify", str(run), "-q")
    assert code == exit_codes.ARCHIVE_CORRUPT
    damaged = err.splitlines()
    assert len(damaged) == 2
    assert "repository/acme/a: acme/a/repository.json: " in damaged[0]
    assert "repository/acme/c: acme/c/repository.json: " in damaged[1]
    assert "intact\trepository/acme/b" in out.splitlines()
    assert "1 intact item" in out and "2 damaged items" in out
    code, out, _ = run_cli(capsys, "verify", str(run), "--json", "-q")
    result = json.loads(out)
    assert result["ok"] is False and result["intact"] == ["repository/acme/b"]
    assert [d["item"] for d in result["damaged"]] == ["repository/acme/a", "repository/acme/c"]


def test_restore_prints_where_on_stdout_and_as_json(capsys, item_zip, tmp_path):
    code, out, _ = run_cli(capsys, "restore", str(item_zip), "--to", str(tmp_path / "a"), "-q")
    assert code == 0 and out.startswith("restored 1 item into ")
    assert f"{tmp_path / 'a' / 'acme' / 'widget.git'}" in out
    code, out, _ = run_cli(
        capsys, "restore", str(item_zip), "--to", str(tmp_path / "b"), "--json", "-q"
    )
    assert code == 0 and json.loads(out)["mirrors"] == [str(tmp_path / "b/acme/widget.git")]


def test_restore_json_of_a_taken_target_is_a_failure_object(capsys, item_zip, tmp_path):
    (tmp_path / "t" / "acme" / "widget.git").mkdir(parents=True)
    code, out, err = run_cli(
        capsys, "restore", str(item_zip), "--to", str(tmp_path / "t"), "--json", "-q"
    )
    assert code == 2 and json.loads(out)["error_type"] == "ConfigurationError"
    assert "already holds acme/widget.git" in err


# -- tables --------------------------------------------------------------------------------

RUN_ROWS = [
    ["run-20261201T100000Z", "2026-12-01 10:00", "SUCCEEDED", "40", "0", "1,234,567,890",
     "GLACIER", "runs/run-20261201T100000Z/ghbackup-run-20261201T100000Z.zip"],
    ["run-20261202T100000Z", "2026-12-02 10:00", "FAILED", "3", "37", "12,345", "GLACIER",
     "runs/run-20261202T100000Z/ghbackup-run-20261202T100000Z.zip"],
]  # fmt: skip
RUN_COLUMNS = (
    tables.Column("run"), tables.Column("started", keep=60), tables.Column("status"),
    tables.Column("ok", keep=70, right=True), tables.Column("failed", keep=80, right=True),
    tables.Column("bytes", keep=50, right=True), tables.Column("class", keep=40),
    tables.Column("run zip", keep=30, wrap=True),
)  # fmt: skip


def test_a_table_fits_80_columns_without_cutting_ids_or_statuses(capsys):
    tables.print_rows(RUN_COLUMNS, RUN_ROWS, width=lambda: 80)
    lines = capsys.readouterr().out.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert "run-20261201T100000Z" in lines[1] and "SUCCEEDED" in lines[1]
    assert "FAILED" in lines[2] and " 37" in lines[2]
    assert "run zip" not in lines[0]  # the least useful column went first


def test_a_table_without_rows_prints_its_header(capsys):
    tables.print_rows(RUN_COLUMNS, [], width=lambda: 80)
    assert capsys.readouterr().out.split() == ["run", "started", "status", "ok", "failed",
                                               "bytes", "class", "run", "zip"]  # fmt: skip


def test_a_table_in_a_pipe_is_tab_separated_lines(capsys):
    tables.print_rows(RUN_COLUMNS, RUN_ROWS, width=lambda: None)
    lines = capsys.readouterr().out.splitlines()
    failed = RUN_ROWS[1][:5] + ["12345"] + RUN_ROWS[1][6:]
    assert [line for line in lines if "FAILED" in line] == ["\t".join(failed)]
    assert len(lines) == 2


def test_untrusted_names_cannot_send_escapes_or_split_a_line(capsys):
    columns = (tables.Column("size"), tables.Column("path"))
    tables.print_rows(columns, [["1", "acme/x/\x1b[2Jevil\tname\n.json"]], width=lambda: None)
    assert capsys.readouterr().out == "1\tacme/x/\\x1b[2Jevil\\tname\\n.json\n"


# -- selection -----------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["verify", "ls"])
def test_an_archives_names_in_an_error_cannot_send_terminal_escapes(capsys, tmp_path, command):
    """A hostile entry name quoted in the one-line error is shown, never run by the terminal."""
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a\x1b[31mRED/b/manifest.json", b"{not json")
    code, out, err = run_cli(capsys, command, str(archive))
    assert code == exit_codes.ARCHIVE_CORRUPT
    assert "\x1b" not in out + err
    assert "a\\x1b[31mRED/b/manifest.json" in err and len(err.splitlines()) == 1


def test_selection_flags_are_the_execution_inputs_fields(tmp_path):
    (tmp_path / "in.json").write_text('{"users": ["octocat"], "include": "x"}')
    args = cli._parser().parse_args(
        ["run", "--local", "--org", "acme", "--exclude", "^acme/old-", "--skip-forks",
         "--skip-archived", "--input", str(tmp_path / "in.json")]
    )  # fmt: skip
    data = cli.cli_selection.execution_input(args, cli._read_input)
    assert data == {
        "users": ["octocat"], "include": "x", "orgs": ["acme"], "exclude": "^acme/old-",
        "skip_forks": True, "skip_archived": True,
    }  # fmt: skip


def test_a_bad_include_flag_is_one_line_naming_it(capsys, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_cli_output_test_0123456789")
    code, _, err = run_cli(capsys, "run", "--local", "--include", "(?=x)", "--dry-run")
    assert code == 2 and "include: '(?=x)' is not a valid RE2" in err
    assert len(err.strip().splitlines()) == 1


def test_dry_run_lists_items_sizes_and_batches_and_writes_nothing(
    capsys, monkeypatch, tmp_path, standin
):
    monkeypatch.setenv("GITHUB_TOKEN", standin.token)
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    code, out, _ = run_cli(
        capsys, "run", "--local", "--org", "acme", "--skip-forks", "--dry-run",
        "--api-url", standin.api_url, "--out", str(here / "out"),
    )  # fmt: skip
    lines = out.splitlines()
    assert code == 0 and lines[-1].startswith("would back up ")
    assert "in 1 batch; nothing was written" in lines[-1]
    rows = [line.split("\t") for line in lines[:-1]]
    assert rows and all(r[0] == "0" and r[1].startswith("repository/acme/") for r in rows)
    assert all(r[2].isdigit() for r in rows)
    assert list(here.iterdir()) == []


# -- ls, diff, configure -------------------------------------------------------------------


def test_ls_lists_items_then_one_items_files(capsys, tmp_path):
    run = three_repository_run(tmp_path)
    code, out, _ = run_cli(capsys, "ls", str(run))
    assert code == 0 and [line.split("\t")[0] for line in out.splitlines()] == [
        "repository/acme/a", "repository/acme/b", "repository/acme/c"
    ]  # fmt: skip
    code, out, _ = run_cli(capsys, "ls", str(run), "--repo", "acme/b")
    files = [line.split("\t") for line in out.splitlines()]
    assert code == 0 and ["acme/b/repository.json"] == [p for _, p in files if p.endswith("json")]
    assert all(size.replace(",", "").isdigit() for size, _ in files)


def test_diff_of_two_run_zips_shows_added_removed_and_moved_refs(capsys, tmp_path):
    def item(name: str, source: Path, where: Path) -> Path:
        return write_item(where, BackupItem(kind="repository", full_name=name), source)

    kept, gone, new = (make_repo(tmp_path / n, files=1) for n in ("kept", "gone", "new"))
    (tmp_path / "z").mkdir()
    old = merge_zips(
        tmp_path / "old.zip", item("acme/kept", kept, tmp_path / "z/k1.zip"),
        item("acme/gone", gone, tmp_path / "z/g.zip"),
    )  # fmt: skip
    before = (tmp_path / "kept" / ".git" / "refs" / "heads" / "main").read_text().strip()
    (kept / "more.txt").write_text("more\n")
    from tests.test_restore import git

    git(kept, "add", ".")
    git(kept, "commit", "-q", "-m", "more")
    after = git(kept, "rev-parse", "HEAD").strip()
    newer = merge_zips(
        tmp_path / "new.zip", item("acme/kept", kept, tmp_path / "z/k2.zip"),
        item("acme/new", new, tmp_path / "z/n.zip"),
    )  # fmt: skip
    code, out, _ = run_cli(capsys, "diff", str(old), str(newer))
    lines = out.splitlines()
    assert code == 0
    assert "+ repository/acme/new" in lines and "- repository/acme/gone" in lines
    assert "M repository/acme/kept" in lines
    assert f"    repository refs/heads/main {before[:12]}..{after[:12]}" in lines


def test_diff_of_a_name_that_is_neither_a_file_nor_a_known_run_says_both(
    capsys, monkeypatch, tmp_path
):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("GHBACKUP_BUCKET", raising=False)
    code, _, err = run_cli(capsys, "diff", "run-a", "run-b")
    assert code == 2 and "run-a: no such file, and no deployed stack" in err


def test_configure_with_bucket_and_state_machine_writes_the_config(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:ghbackup"
    code, out, _ = run_cli(capsys, "configure", "--bucket", "acme-backups", "--state-machine", arn)
    saved = json.loads((tmp_path / "ghbackup" / "config.json").read_text())
    assert code == 0 and saved["bucket"] == "acme-backups" and saved["state_machine_arn"] == arn
    assert saved["region"] == "eu-west-1" and "acme-backups" in out
    code, _, err = run_cli(capsys, "configure", "--bucket", "s3://acme", "--state-machine", arn)
    assert code == 2 and "is not an S3 bucket name" in err
    code, _, err = run_cli(capsys, "configure", "--bucket", "acme-backups")
    assert code == 2 and "--state-machine" in err
