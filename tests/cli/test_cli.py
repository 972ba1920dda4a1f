"""The ``sieve`` command, run as a user runs it: a real process for the main paths, ``main()`` for the rest."""

import csv
import io
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from app.cli import main
from app.engine import Classifier


def sieve(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "app", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


@pytest.fixture
def texts_csv(tmp_path):
    rng = np.random.default_rng(1)
    words = ["i", "love", "this", "great", "movie", "awful", "terrible", "bad", "boring", "the", "best", "day", "ever", "table"]
    rows = [(str(i), " ".join(rng.choice(words, size=rng.integers(1, 12)))) for i in range(200)]
    rows[7] = ("7", 'a "quoted", multi\nline text')
    path = tmp_path / "reviews.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text"])
        writer.writerows(rows)
    return path, rows


def test_score_csv_keeps_order_and_uses_config_labels(shared_bundle, texts_csv, tmp_path):
    root, _, _ = shared_bundle
    path, rows = texts_csv
    out = tmp_path / "out.csv"
    result = sieve("score", path, "-o", out, "--model", root, "--batch-size", "8")
    assert result.returncode == 0, result.stderr
    got = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"), newline="")))
    assert [(r["id"], r["text"]) for r in got] == rows  # one row per input row, input order
    expected = [p.label for p in Classifier.load(root).predict([t for _, t in rows])]
    assert [r["label"] for r in got] == expected
    assert {r["label"] for r in got} <= {"negative", "neutral", "positive"}
    assert "texts/s" in result.stderr and "p95" in result.stderr  # the latency summary


def test_info_names_labels_io_and_provider(shared_bundle):
    root, _, _ = shared_bundle
    result = sieve("info", "--model", root)
    assert result.returncode == 0, result.stderr
    assert "negative, neutral, positive" in result.stdout
    assert "input_ids" in result.stdout and "CPUExecutionProvider" in result.stdout


def test_info_json(shared_bundle, capsys):
    root, _, _ = shared_bundle
    assert main(["info", "--model", str(root), "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["labels"] == ["negative", "neutral", "positive"] and card["logits_output"] == "logits"


def test_bench_prints_table_and_writes_json(shared_bundle, tmp_path, capsys):
    root, _, _ = shared_bundle
    out = tmp_path / "bench.json"
    code = main(["bench", "--model", str(root), "--batch-sizes", "1,4", "--seq-lens", "8,16", "--providers", "cpu",
                 "--repeats", "3", "--json", str(out)])
    assert code == 0
    table = capsys.readouterr().out
    assert "texts/s" in table and len([line for line in table.splitlines() if line.startswith("CPU")]) == 4
    data = json.loads(out.read_text())
    assert [(p["batch_size"], p["seq_len"]) for p in data["points"]] == [(1, 8), (4, 8), (1, 16), (4, 16)]
    assert all(p["p50_ms"] > 0 and p["runs"] == 3 for p in data["points"])
    assert data["machine"]["onnxruntime"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--column", "body"], "no column 'body'"),
        (["--model", "/nonexistent/model"], "No model at"),
        (["--encoding", "klingon"], "Unknown text encoding"),
        (["-o", "out.docx"], "Cannot write .docx"),
    ],
)
def test_bad_input_exits_2_without_traceback(shared_bundle, texts_csv, capsys, monkeypatch, tmp_path, args, message):
    monkeypatch.chdir(tmp_path)
    root, _, _ = shared_bundle
    argv = ["score", str(texts_csv[0]), "--model", str(root), *args] if "--model" not in args else [
        "score", str(texts_csv[0]), *args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_stdout_jsonl_and_folder_outputs(shared_bundle, tmp_path, capsys):
    root, _, _ = shared_bundle
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("i love this\nawful\n")
    (tmp_path / "in" / "b.jsonl").write_text('{"text": "great movie", "id": 1}\n')
    (tmp_path / "in" / "notes.md").write_text("# not texts")
    (tmp_path / "out").mkdir()
    assert main(["score", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--model", str(root)]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.scored.csv", "b.scored.jsonl"]
    assert "skipped notes.md" in capsys.readouterr().err
    assert main(["score", str(tmp_path / "in" / "a.txt"), "-o", "-", "--format", "jsonl", "-q", "--model", str(root)]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["text"] for x in lines] == ["i love this", "awful"] and all("label" in x for x in lines)


def test_strict_decoding_names_the_line(shared_bundle, tmp_path, capsys):
    root, _, _ = shared_bundle
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"fine\nna\xefve\n")
    assert main(["score", str(path), "--strict-decoding", "--model", str(root)]) == 2
    assert "line 2 is not valid utf-8" in capsys.readouterr().err
    assert main(["score", str(path), "--model", str(root)]) == 0
    assert "1 lines were not valid text" in capsys.readouterr().err


def interrupt_after(chunks: int):
    """A ``Classifier.stream`` that yields ``chunks`` chunks and then acts as if Ctrl+C was pressed."""
    real_stream = Classifier.stream

    def stream_then_die(self, rows, **kw):
        for i, chunk in enumerate(real_stream(self, rows, **kw)):
            if i == chunks:
                raise KeyboardInterrupt
            yield chunk

    return stream_then_die


def test_interrupted_run_resumes_to_the_same_output(shared_bundle, texts_csv, tmp_path, monkeypatch, capsys):
    root, _, _ = shared_bundle
    path, _ = texts_csv
    reference = tmp_path / "reference.csv"
    base = ["score", str(path), "--model", str(root), "--window", "16", "--batch-size", "4"]
    assert main([*base, "-o", str(reference)]) == 0

    out = tmp_path / "out.csv"
    real_stream = Classifier.stream
    monkeypatch.setattr(Classifier, "stream", interrupt_after(5))
    assert main([*base, "-o", str(out)]) == 130
    assert not out.exists()  # no half file where the output belongs
    assert "rerun with --resume" in capsys.readouterr().err
    monkeypatch.setattr(Classifier, "stream", real_stream)
    assert main([*base, "-o", str(out), "--resume"]) == 0
    assert out.read_bytes() == reference.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv", "reference.csv", "reviews.csv"]


def test_resume_refuses_a_partial_from_another_input(shared_bundle, texts_csv, tmp_path, capsys):
    root, _, _ = shared_bundle
    path, _ = texts_csv
    out = tmp_path / "out.csv"
    (tmp_path / ".out.csv.sieve-partial").write_text("id,text\n")
    (tmp_path / ".out.csv.sieve-partial.json").write_text(json.dumps({"identity": {"input": "other"}, "rows": 1, "bytes": 8}))
    assert main(["score", str(path), "-o", str(out), "--resume", "--model", str(root)]) == 2
    assert "different input" in capsys.readouterr().err


@pytest.mark.parametrize("change", ["model", "max_length"])
def test_resume_refuses_a_partial_from_another_model_or_length(shared_bundle, texts_csv, tmp_path, monkeypatch, capsys,
                                                                change):
    root, _, _ = shared_bundle
    path, _ = texts_csv
    base = ["score", str(path), "--window", "16", "--batch-size", "4"]
    out = tmp_path / "out.csv"
    real_stream = Classifier.stream
    monkeypatch.setattr(Classifier, "stream", interrupt_after(2))
    assert main([*base, "--model", str(root), "-o", str(out)]) == 130
    monkeypatch.setattr(Classifier, "stream", real_stream)
    partial = tmp_path / ".out.csv.sieve-partial"
    assert partial.exists()
    if change == "model":
        other = tmp_path / "other-model"
        shutil.copytree(root, other)
        resumed = [*base, "--model", str(other)]
    else:
        resumed = [*base, "--model", str(root), "--max-length", "8"]
    capsys.readouterr()
    assert main([*resumed, "-o", str(out), "--resume"]) == 2
    assert f"written with a different {'model' if change == 'model' else '--max-length'}" in capsys.readouterr().err
    assert partial.exists() and not out.exists()  # the finished rows are still there


def test_help_and_version():
    result = sieve("--help")
    assert result.returncode == 0 and "score" in result.stdout and "bench" in result.stdout
    assert "130 interrupted" in " ".join(result.stdout.split())  # every exit code is listed
    assert sieve("--version").stdout.startswith("sieve ")


def test_a_record_temp_left_by_a_kill_is_removed_when_the_run_completes(shared_bundle, texts_csv, tmp_path):
    # SIGKILL while the resume record is being replaced leaves its temporary file (atomic write: temp + rename)
    root, _, _ = shared_bundle
    path, _ = texts_csv
    out = tmp_path / "out.csv"
    stale = tmp_path / "..out.csv.sieve-partial.json.k9x2ab7q.tmp"
    stale.write_text('{"identity": {')
    unrelated = tmp_path / "..other.csv.sieve-partial.json.k9x2ab7q.tmp"
    unrelated.write_text("{}")
    assert main(["score", str(path), "-o", str(out), "--model", str(root), "-q"]) == 0
    assert out.exists() and not stale.exists()
    assert unrelated.exists()  # another output's files are not ours to delete


def test_score_reads_standard_input(shared_bundle, tmp_path):
    root, _, _ = shared_bundle
    data = "i love this\r\nawful\n\nthe weather today"
    to_stdout = subprocess.run([sys.executable, "-m", "app", "score", "-", "--model", str(root), "-q"],
                               input=data, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert to_stdout.returncode == 0, to_stdout.stderr
    rows = list(csv.DictReader(io.StringIO(to_stdout.stdout, newline="")))
    assert [r["text"] for r in rows] == ["i love this", "awful", "", "the weather today"]
    expected = Classifier.load(root).predict(["i love this", "awful", "", "the weather today"])
    assert [r["label"] for r in rows] == [p.label for p in expected]
    out = tmp_path / "out.jsonl"
    to_file = subprocess.run([sys.executable, "-m", "app", "score", "-", "-o", str(out), "--model", str(root)],
                             input=data, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert to_file.returncode == 0, to_file.stderr
    assert [json.loads(x)["label"] for x in out.read_text().splitlines()] == [p.label for p in expected]
    assert f"wrote {out} (4 rows)" in to_file.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


@pytest.mark.parametrize(("args", "message"), [
    (["-", "--resume", "-o", "out.csv"], "--resume needs an input file"),
    (["-", "other.txt"], "Standard input (-) can only be scored on its own"),
])
def test_standard_input_refusals(shared_bundle, tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "other.txt").write_text("x\n")
    assert main(["score", *args, "--model", str(shared_bundle[0])]) == 2
    assert message in capsys.readouterr().err


def test_standard_input_into_a_folder_is_named_stdin(shared_bundle, tmp_path):
    (tmp_path / "out").mkdir()
    done = subprocess.run([sys.executable, "-m", "app", "score", "-", "-o", str(tmp_path / "out"), "--model",
                           str(shared_bundle[0]), "-q"], input="i love this\n", capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["stdin.scored.csv"]
