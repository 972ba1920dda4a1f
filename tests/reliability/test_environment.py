"""Failures of the machine, not of the data, are sentences with exit 2, never "internal error" (issue 11, item 8):
a read-only output folder, a full disk (which also removes its partial file), standard output closed or full, a
config.json nested past Python's recursion limit (tests/reliability/catalogue.py: ``config-deeply-nested``).

The disk cases run for real where the kernel lets an unprivileged process mount a small tmpfs in a private mount
namespace (``unshare``), and again, everywhere, with the failure injected at the file object Sieve writes the
output through (``open`` as ``app.engine.io`` sees it), so they never go untested.
"""

from __future__ import annotations

import errno
import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import app.engine.io as engine_io
from app.cli import main

ROWS = 3000  # about 160 kB of CSV output: more than the 64 kB disk below holds


@pytest.fixture(scope="module")
def many_texts(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("texts") / "texts.txt"
    path.write_text("".join(f"i love this great movie number {i}\n" for i in range(ROWS)), encoding="utf-8")
    return path


@functools.cache
def _unshare_prefix() -> tuple[str, ...] | None:
    """How to run a command in its own mount namespace here, or None when the kernel or the sandbox forbids it."""
    if shutil.which("unshare") is None or not sys.platform.startswith("linux"):
        return None
    for prefix in (("unshare", "--user", "--map-root-user", "--mount"), ("unshare", "--mount")):
        try:
            probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=30)
        except OSError:
            continue
        if probe.returncode == 0:
            return prefix
    return None


def on_small_disk(disk: Path, report: Path, sieve_args: list[str], *, options: str) -> tuple[int, str, list[str]]:
    """Run ``sieve`` with ``disk`` replaced by a fresh tmpfs mounted with ``options``, visible to that process only.

    Returns sieve's exit code, its stderr and what was left on the disk afterwards (the tmpfs vanishes with it).
    """
    prefix = _unshare_prefix()
    if prefix is None:
        pytest.skip("no private mount namespace here (unshare); the injected-failure tests cover this case")
    script = ('mount -t tmpfs -o "$1" sieve-test "$2" || exit 90; shift 2; '
              '"$@" 2>"$REPORT/stderr"; echo $? >"$REPORT/rc"; ls -A "$DISK" >"$REPORT/left"')
    disk.mkdir()
    report.mkdir()
    env = {**os.environ, "REPORT": str(report), "DISK": str(disk)}
    done = subprocess.run([*prefix, "sh", "-c", script, "sh", options, str(disk), sys.executable, "-m", "app",
                           *sieve_args], capture_output=True, text=True, timeout=300, env=env)
    if done.returncode == 90:
        pytest.skip(f"tmpfs cannot be mounted here: {done.stderr.strip()}")
    return (int((report / "rc").read_text()), (report / "stderr").read_text(),
            (report / "left").read_text().split())


def one_sentence(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("sieve: ") and "Traceback" not in stderr and "internal error" not in stderr
    return lines[0]


# ---------------------------------------------------------------------- real: a tmpfs of 64 kB, read-only or full
def test_a_full_disk_is_a_sentence_and_removes_the_partial_file(shared_bundle, many_texts, tmp_path):
    disk = tmp_path / "disk"
    rc, err, left = on_small_disk(disk, tmp_path / "report", [
        "score", str(many_texts), "-o", str(disk / "out.csv"), "--model", str(shared_bundle[0]), "--window", "64",
        "-q"], options="size=64k")
    assert rc == 2
    line = one_sentence(err)
    assert f"The disk holding {disk} is full" in line and "was removed" in line
    assert left == []  # no output, no partial file, no resume record, no lock


def test_a_read_only_output_folder_is_a_sentence(shared_bundle, many_texts, tmp_path):
    disk = tmp_path / "disk"
    rc, err, left = on_small_disk(disk, tmp_path / "report", [
        "score", str(many_texts), "-o", str(disk / "out.csv"), "--model", str(shared_bundle[0]), "-q"],
        options="ro,size=64k")
    assert rc == 2
    assert f"{disk} is on a read-only file system. Choose a folder you can write to (-o)." in one_sentence(err)
    assert left == []


# ---------------------------------------------------------------------- injected at the output's file object
class FillingFile:
    """The real output file, except that it takes only ``room`` characters before failing with ENOSPC."""

    def __init__(self, fh, room: int) -> None:
        self._fh, self._room = fh, room

    def write(self, text: str) -> int:
        self._room -= len(text)
        if self._room < 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self._fh.write(text)

    def __getattr__(self, name: str):
        return getattr(self._fh, name)


def test_a_full_disk_injected_at_the_output_file(shared_bundle, many_texts, tmp_path, monkeypatch, capsys):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    monkeypatch.setattr(engine_io, "open", lambda *a, **k: FillingFile(open(*a, **k), 50_000), raising=False)  # noqa: SIM115
    code = main(["score", str(many_texts), "-o", str(out_dir / "out.csv"), "--model", str(shared_bundle[0]),
                 "--window", "64", "-q"])
    assert code == 2
    line = one_sentence(capsys.readouterr().err)
    assert f"The disk holding {out_dir} is full" in line and "rows) was removed" in line
    assert list(out_dir.iterdir()) == []


def test_permission_denied_on_the_output_folder_injected_at_the_os(shared_bundle, many_texts, tmp_path, monkeypatch,
                                                                   capsys):
    out_dir = tmp_path / "locked"
    out_dir.mkdir()
    real_open = os.open

    def refuse_in_folder(path, flags, *args, **kwargs):
        if Path(path).parent == out_dir and flags & os.O_CREAT:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse_in_folder)
    assert main(["score", str(many_texts), "-o", str(out_dir / "out.csv"), "--model", str(shared_bundle[0])]) == 2
    monkeypatch.undo()
    line = one_sentence(capsys.readouterr().err)
    assert f"Sieve may not write to {out_dir} (permission denied). Choose a folder you can write to" in line
    assert list(out_dir.iterdir()) == []


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write to any folder")
def test_a_folder_without_write_permission_is_a_sentence(shared_bundle, many_texts, tmp_path):
    out_dir = tmp_path / "locked"
    out_dir.mkdir()
    out_dir.chmod(0o555)
    try:
        done = subprocess.run([sys.executable, "-m", "app", "score", str(many_texts), "-o", str(out_dir / "o.csv"),
                               "--model", str(shared_bundle[0])], capture_output=True, text=True, timeout=120)
    finally:
        out_dir.chmod(0o755)
    assert done.returncode == 2
    assert "permission denied" in one_sentence(done.stderr)


# ---------------------------------------------------------------------- standard output
@pytest.fixture
def small_input(tmp_path) -> Path:
    path = tmp_path / "in.txt"
    path.write_text("i love this\nawful\n" * 200)
    return path


def test_writing_to_a_closed_standard_output_is_a_sentence(shared_bundle, small_input):
    done = subprocess.run(["sh", "-c", 'exec "$@" >&-', "sh", sys.executable, "-m", "app", "score", str(small_input),
                           "-o", "-", "--model", str(shared_bundle[0])], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert one_sentence(done.stderr) == ("sieve: Standard output is closed. Redirect it to a file, or name an output "
                                         "file with -o.")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_writing_to_a_full_standard_output_is_a_sentence(shared_bundle, small_input):
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "app", "score", str(small_input), "-o", "-", "--model",
                               str(shared_bundle[0])], stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 2
    assert one_sentence(done.stderr) == "sieve: Standard output's device is full. Write to a file with free space (-o FILE)."


def test_a_jsonl_line_nested_too_deeply_is_a_failed_row(shared_bundle, tmp_path):
    path = tmp_path / "deep.jsonl"
    path.write_text('{"text": "i love this"}\n{"text": ' + "[" * 100_000 + "]" * 100_000 + '}\n{"text": "awful"}\n')
    out = tmp_path / "out.jsonl"
    assert main(["score", str(path), "-o", str(out), "--model", str(shared_bundle[0]), "-q"]) == 0
    import json

    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["label"] is None for r in rows] == [False, True, False]
    assert rows[1]["error"] == "line 2 nests JSON values too deeply to be read"
