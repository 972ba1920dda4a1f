"""Where ``sieve score`` writes: never over an input, never two results on one path, never a folder's earlier outputs
as inputs, never two runs on one output, never a format the output's name contradicts (issue 11, items 1, 2, 4, 11).
"""

import csv
import io
import os
import subprocess
import sys
import time

import pytest

from app.cli import main
from app.engine.outputs import OutputLock, lock_path


def rows_of(path):
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


def names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_an_input_named_like_another_inputs_output_is_never_overwritten(shared_bundle, tmp_path):
    root = shared_bundle[0]
    (tmp_path / "x.txt").write_text("hello\n")
    precious = "id,text\n1,precious\n"
    (tmp_path / "x.scored.csv").write_text(precious)
    assert main(["score", str(tmp_path / "x.txt"), str(tmp_path / "x.scored.csv"), "--model", str(root), "-q"]) == 0
    assert (tmp_path / "x.scored.csv").read_text() == precious  # the input is untouched
    assert [r["text"] for r in rows_of(tmp_path / "x.txt.scored.csv")] == ["hello"]
    assert [(r["id"], r["text"]) for r in rows_of(tmp_path / "x.scored.scored.csv")] == [("1", "precious")]
    assert names(tmp_path) == ["x.scored.csv", "x.scored.scored.csv", "x.txt", "x.txt.scored.csv"]


def test_a_folder_with_same_named_files_keeps_every_result_and_skips_its_earlier_outputs(shared_bundle, tmp_path,
                                                                                          capsys):
    root = shared_bundle[0]
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "notes.txt").write_text("i love this\nawful\n")
    (folder / "notes.csv").write_text("id,text\n1,great movie\n")
    assert main(["score", str(folder), "--model", str(root), "-q"]) == 0
    assert names(folder) == ["notes.csv", "notes.csv.scored.csv", "notes.txt", "notes.txt.scored.csv"]
    assert [r["text"] for r in rows_of(folder / "notes.txt.scored.csv")] == ["i love this", "awful"]
    assert [(r["id"], r["text"]) for r in rows_of(folder / "notes.csv.scored.csv")] == [("1", "great movie")]
    first = {name: (folder / name).read_bytes() for name in names(folder)}

    capsys.readouterr()
    assert main(["score", str(folder), "--model", str(root)]) == 0  # again: the outputs are not inputs now
    err = capsys.readouterr().err
    assert "skipped notes.csv.scored.csv: an earlier Sieve output" in err
    assert "skipped notes.txt.scored.csv: an earlier Sieve output" in err
    assert {name: (folder / name).read_bytes() for name in names(folder)} == first  # no *.scored.scored.*


def test_same_named_inputs_from_two_folders_into_one_folder_are_refused_before_writing(shared_bundle, tmp_path,
                                                                                        capsys):
    root = shared_bundle[0]
    for name in ("x", "y", "o"):
        (tmp_path / name).mkdir()
    (tmp_path / "x" / "data.csv").write_text("text\ni love this\n")
    (tmp_path / "y" / "data.csv").write_text("text\nawful\n")
    argv = ["score", str(tmp_path / "x" / "data.csv"), str(tmp_path / "y" / "data.csv"), "-o", str(tmp_path / "o"),
            "--model", str(root)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "would both be written to" in err[0] and "different folders" in err[0]
    assert names(tmp_path / "o") == []


def test_stats_file_that_is_an_input_is_refused(shared_bundle, tmp_path, capsys):
    root = shared_bundle[0]
    data = tmp_path / "a.csv"
    data.write_text("id,text\n1,i love this\n")
    assert main(["score", str(data), "--stats", str(data), "--model", str(root)]) == 2
    assert "names an input or output of this run" in capsys.readouterr().err
    assert data.read_text() == "id,text\n1,i love this\n"


@pytest.mark.parametrize(("fmt", "name", "code"), [("jsonl", "x.csv", 2), ("csv", "x.jsonl", 2), ("csv", "x.csv", 0),
                                                   ("tsv", "x.tsv", 0)])
def test_a_format_that_contradicts_the_output_name_is_refused(shared_bundle, tmp_path, capsys, fmt, name, code):
    root = shared_bundle[0]
    (tmp_path / "in.txt").write_text("i love this\n")
    out = tmp_path / name
    assert main(["score", str(tmp_path / "in.txt"), "--format", fmt, "-o", str(out), "--model", str(root), "-q"]) == code
    if code:
        assert f"--format {fmt} contradicts the output name {name}" in capsys.readouterr().err
        assert not out.exists()
    else:
        assert out.exists()


def test_a_run_on_an_output_another_run_is_writing_is_refused(shared_bundle, tmp_path, capsys):
    root = shared_bundle[0]
    (tmp_path / "in.txt").write_text("i love this\n")
    out = tmp_path / "out.csv"
    argv = ["score", str(tmp_path / "in.txt"), "-o", str(out), "--model", str(root), "-q"]
    with OutputLock(out):  # as a run in another process holds it
        assert main(argv) == 2
        assert f"Another Sieve run (process {os.getpid()}) is writing {out}" in capsys.readouterr().err
        assert not out.exists() and not (tmp_path / ".out.csv.sieve-partial").exists()
    assert main(argv) == 0  # released: the next run goes ahead
    assert names(tmp_path) == ["in.txt", "out.csv"]  # and leaves no lock file behind


def test_a_lock_file_left_by_a_killed_run_does_not_block(shared_bundle, tmp_path):
    root = shared_bundle[0]
    (tmp_path / "in.txt").write_text("i love this\n")
    out = tmp_path / "out.csv"
    lock_path(out).write_text("999999\n")  # no process holds it: the kernel dropped the lock with its process
    assert main(["score", str(tmp_path / "in.txt"), "-o", str(out), "--model", str(root), "-q"]) == 0
    assert names(tmp_path) == ["in.txt", "out.csv"]


def test_two_processes_on_one_output_one_is_refused_the_other_finishes(shared_bundle, tmp_path):
    """The first run reads standard input, so it is still writing for as long as the test keeps the pipe open."""
    root = shared_bundle[0]
    out = tmp_path / "out.csv"
    first = subprocess.Popen([sys.executable, "-m", "app", "score", "-", "-o", str(out), "--model", str(root), "-q"],
                             stdin=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    try:
        first.stdin.write(b"i love this\nawful\n")
        first.stdin.flush()
        deadline = time.monotonic() + 120
        while not lock_path(out).exists():
            assert first.poll() is None, first.stderr.read()
            assert time.monotonic() < deadline, "the first run never took its output"
            time.sleep(0.01)
        (tmp_path / "other.txt").write_text("the weather today\n")
        second = subprocess.run([sys.executable, "-m", "app", "score", str(tmp_path / "other.txt"), "-o", str(out),
                                 "--model", str(root)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert second.returncode == 2
        assert second.stderr.strip() == (f"sieve: Another Sieve run (process {first.pid}) is writing {out}. "
                                         "Wait for it to finish, or choose another output with -o.")
        first.stdin.write(b"great movie\n")
        first.stdin.close()
        assert first.wait(120) == 0, first.stderr.read()
    finally:
        first.kill()
        first.wait(30)
        first.stderr.close()
    assert [r["text"] for r in rows_of(out)] == ["i love this", "awful", "great movie"]
    assert names(tmp_path) == ["other.txt", "out.csv"]
