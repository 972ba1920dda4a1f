"""``--resume`` continues a partial output only under the options that wrote it (issue 11, item 5: resuming a JSONL
run with another ``--field`` wrote a file whose first rows scored one field and the rest another)."""

import json

import pytest

from app.cli import main
from app.engine import Classifier

WORDS = ["i", "love", "this", "great", "movie", "awful", "terrible", "bad", "the", "best", "day", "café"]


def interrupt_after(chunks: int):
    real_stream = Classifier.stream

    def stream_then_die(self, rows, **kw):
        for i, chunk in enumerate(real_stream(self, rows, **kw)):
            if i == chunks:
                raise KeyboardInterrupt
            yield chunk

    return stream_then_die


@pytest.fixture
def inputs(tmp_path):
    """The same 120 texts as JSONL (two text fields), as CSV (two text columns) and as latin-1 text."""
    texts = [" ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(1 + i % 9)) for i in range(120)]
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("".join(json.dumps({"text": t, "body": t[::-1]}) + "\n" for t in texts), encoding="utf-8")
    csv_path = tmp_path / "in.csv"
    csv_path.write_text("text,body\n" + "".join(f"{t},{t[::-1]}\n" for t in texts), encoding="utf-8")
    latin = tmp_path / "in.txt"
    latin.write_bytes("".join(t + "\n" for t in texts).encode("latin-1"))
    return {"jsonl": jsonl, "csv": csv_path, "txt": latin}


CHANGES = [
    pytest.param("jsonl", ["--field", "text"], ["--field", "body"], "--field", id="field"),
    pytest.param("csv", ["--column", "text"], ["--column", "body"], "--column", id="column"),
    pytest.param("txt", ["--encoding", "latin-1"], ["--encoding", "cp1252"], "--encoding", id="encoding"),
    pytest.param("txt", ["--encoding", "latin-1"], ["--encoding", "latin-1", "--strict-decoding"],
                 "--strict-decoding", id="strict-decoding"),
    pytest.param("txt", ["--encoding", "latin-1"], ["--encoding", "latin-1", "--max-length", "4"], "--max-length",
                 id="max-length"),
]


@pytest.mark.parametrize(("kind", "first", "then", "named"), CHANGES)
def test_resume_under_another_option_is_refused_and_keeps_the_partial(shared_bundle, inputs, tmp_path, monkeypatch,
                                                                      capsys, kind, first, then, named):
    root = str(shared_bundle[0])
    out = tmp_path / f"out.{'jsonl' if kind == 'jsonl' else 'csv'}"
    base = ["score", str(inputs[kind]), "-o", str(out), "--model", root, "--window", "16", "--batch-size", "4"]
    real_stream = Classifier.stream
    monkeypatch.setattr(Classifier, "stream", interrupt_after(2))
    assert main([*base, *first]) == 130
    monkeypatch.setattr(Classifier, "stream", real_stream)
    partial = tmp_path / f".{out.name}.sieve-partial"
    kept = partial.read_bytes()
    capsys.readouterr()
    assert main([*base, *then, "--resume"]) == 2
    assert f"was written with a different {named}" in capsys.readouterr().err
    assert partial.read_bytes() == kept and not out.exists()
    assert main([*base, *first, "--resume"]) == 0  # the first run's options still continue it
    reference = tmp_path / f"reference{out.suffix}"
    assert main([*base[:3], str(reference), *base[4:], *first]) == 0
    assert out.read_bytes() == reference.read_bytes()


def test_resume_with_another_model_labels_is_refused(shared_bundle, inputs, tmp_path, monkeypatch, capsys):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(shared_bundle[0], model)
    out = tmp_path / "out.csv"
    base = ["score", str(inputs["csv"]), "-o", str(out), "--model", str(model), "--window", "16", "--batch-size", "4"]
    real_stream = Classifier.stream
    monkeypatch.setattr(Classifier, "stream", interrupt_after(2))
    assert main(base) == 130
    monkeypatch.setattr(Classifier, "stream", real_stream)
    (model / "config.json").write_text(json.dumps({"id2label": {"0": "bad", "1": "meh", "2": "good"}}))
    capsys.readouterr()
    assert main([*base, "--resume"]) == 2
    assert "was written with a different model (labels)" in capsys.readouterr().err
