"""The CLI turns bad input into one line and a non-zero exit, never a traceback."""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import uuid
import zipfile

import pytest

from cli import main as cli


def one_line(capsys, argv: list[str]) -> tuple[int, str]:
    code = cli.main(argv)
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert "\n" not in err, err
    return code, err


@pytest.fixture
def token(monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_cli_test_token_0123456789")
    monkeypatch.delenv("GITHUB_API_URL", raising=False)


@pytest.fixture
def archive(tmp_path):
    path = tmp_path / "run.zip"
    with zipfile.ZipFile(path, "w"):
        pass
    return path


@contextlib.contextmanager
def tmpfs(path, *options: str):
    """A small tmpfs at ``path``: only where this user may mount (root), else skip."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", ",".join(["size=1m", *options]), "tmpfs", str(path)],
        capture_output=True,
        timeout=30,
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], capture_output=True, timeout=30, check=True)


def test_restore_to_a_path_under_a_file_is_one_line(capsys, tmp_path, archive):
    (tmp_path / "notes.txt").write_text("a file")
    code, err = one_line(
        capsys, ["restore", str(archive), "--to", str(tmp_path / "notes.txt" / "restored")]
    )
    assert code == 2 and "notes.txt" in err and "is a file" in err


def test_restore_on_a_read_only_filesystem_is_one_line(capsys, tmp_path, archive):
    with tmpfs(tmp_path / "ro", "ro") as mount:
        code, err = one_line(capsys, ["restore", str(archive), "--to", str(mount / "restored")])
    assert code == 2 and "cannot write" in err and str(mount) in err


def test_restore_onto_an_empty_mount_point_is_one_line(capsys, tmp_path, archive):
    with tmpfs(tmp_path / "mnt") as mount:
        code, err = one_line(capsys, ["restore", str(archive), "--to", str(mount)])
        assert not list(mount.iterdir())
    assert code == 2 and "mount point" in err and "folder inside it" in err


def test_run_input_file_that_is_missing_is_one_line(capsys, tmp_path, token):
    code, err = one_line(
        capsys, ["run", "--local", "--input", str(tmp_path / "nope.json"), "--out", str(tmp_path)]
    )
    assert code == 2 and "nope.json" in err and "No such file" in err


def test_run_input_file_that_is_not_json_is_one_line(capsys, tmp_path, token):
    bad = tmp_path / "input.json"
    bad.write_text('{"orgs": ["acme"],\n  oops}')
    code, err = one_line(capsys, ["run", "--local", "--input", str(bad), "--out", str(tmp_path)])
    assert code == 2 and "input.json is not JSON" in err and "line 2" in err


@pytest.mark.parametrize("command", [["run", "--local"], ["backup-item", "--repo", "acme/api"]])
@pytest.mark.parametrize(
    "url", ["not a url", "ftp://api.example.com", "https://", "api.github.com"]
)
def test_an_api_url_that_is_not_an_http_url_is_one_line(capsys, tmp_path, token, command, url):
    code, err = one_line(capsys, [*command, "--api-url", url, "--out", str(tmp_path)])
    assert code == 2 and "--api-url" in err and "http" in err
    assert not list(tmp_path.iterdir())


def test_a_run_id_whose_folder_holds_its_archive_is_refused(capsys, tmp_path, token):
    run_id = f"run-{uuid.uuid4().hex[:8]}"
    (tmp_path / run_id).mkdir()
    (tmp_path / run_id / f"ghbackup-{run_id}.zip").write_bytes(b"PK")
    code, err = one_line(
        capsys,
        ["run", "--local", "--org", "acme", "--out", str(tmp_path), "--run-id", run_id,
         "--api-url", "http://127.0.0.1:9"],
    )  # fmt: skip
    assert code == 2 and f"run {run_id} already exists or is running" in err


def test_an_unexpected_os_error_is_one_line_naming_the_file(capsys, monkeypatch, tmp_path):
    import errno

    from ghbackup import restore

    def failing(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error", str(tmp_path / "[disk]" / "x"))

    monkeypatch.setattr(restore, "verify_archive", failing)
    code, err = one_line(capsys, ["verify", str(tmp_path / "run.zip")])
    assert code == 1 and err == f"ghbackup: Input/output error: {tmp_path}/[disk]/x"


def test_a_message_quoting_brackets_is_printed_as_written(capsys, tmp_path, token):
    code, err = one_line(capsys, ["backup-item", "--repo", "acme/[bold]x", "--out", str(tmp_path)])
    assert code == 2 and err.endswith("got 'acme/[bold]x'")


def test_backup_item_that_cannot_even_store_its_result_is_one_line(
    capsys, monkeypatch, tmp_path, token
):
    import errno

    from ghbackup import backup, store

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(backup, "capture_item", no_space)
    monkeypatch.setattr(store, "_write_atomically", no_space)
    code, err = one_line(capsys, ["backup-item", "--repo", "acme/api", "--out", str(tmp_path)])
    assert code == 5 and err.startswith("ghbackup: StorageError: cannot write")
    assert "result.json" in err and "(StorageError: scratch space ran out" in err


def test_every_command_has_help_with_examples_and_no_markup(capsys):
    parser = cli._parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in commands.choices.items():
        text = command.format_help()
        assert "examples:" in text, name
        assert "``" not in text, name
    assert "``" not in parser.format_help()
