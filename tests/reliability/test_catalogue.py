"""Every catalogued bad input, through the engine and through the ``sieve`` command run as a real process.

A refusal must be the right :class:`SieveError` with a message that names the problem and a hint that says what to
do; the CLI must exit 2 with exactly that one line on stderr and write nothing. A messy-but-readable input must give
one output row per input row, the unreadable rows marked with their error, every other row scored, and the bad lines
reported by number.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.engine import Classifier, SieveError, open_source
from app.engine.io import expand_inputs
from reliability.catalogue import CASES, Case, Refusal, Result, Setup, good_input

PARAMS = [pytest.param(case, id=case.id) for case in CASES]
MODEL_REFUSALS = [pytest.param(case, id=case.id) for case in CASES if case.about_model]


def sieve(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


@pytest.fixture(scope="module")
def good_model(shared_bundle) -> Path:
    return shared_bundle[0]


@pytest.fixture(scope="module")
def reference(good_model) -> Classifier:
    return Classifier.load(good_model, provider="cpu")


def build(case: Case, tmp_path: Path, good_model: Path) -> tuple[Setup, Path, tuple[Path, ...]]:
    setup = case.build(tmp_path)
    return setup, setup.model or good_model, setup.inputs or (good_input(tmp_path),)


def files_in(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*")}


# ---------------------------------------------------------------------- engine
def score_with_engine(model: Path, inputs: tuple[Path, ...], column: str | None):
    """What a caller of the engine does: load, expand folders, open every file first, stream each."""
    clf = Classifier.load(model, provider="cpu")
    files, skipped = expand_inputs(inputs)
    sources = [open_source(f, column=column) for f in files]
    chunks = [chunk for src in sources for chunk in clf.stream(src)]
    told = [f"skipped {note}" for note in skipped] + [m for src in sources for m in src.issues.messages(src.name)]
    return chunks, told


@pytest.mark.parametrize("case", PARAMS)
def test_engine(case: Case, tmp_path, good_model, reference):
    setup, model, inputs = build(case, tmp_path, good_model)
    expect = case.expect
    if isinstance(expect, Refusal):
        with pytest.raises(SieveError) as err:
            score_with_engine(model, inputs, setup.column)
        exc = err.value
        assert type(exc) is expect.error, f"{type(exc).__name__}: {exc}"
        for fragment in expect.says:
            assert fragment in exc.message
        assert exc.hint and expect.advice in exc.hint  # what to do, not only what is wrong
        assert "\n" not in str(exc) and "Traceback" not in str(exc)
    else:
        chunks, told = score_with_engine(model, inputs, setup.column)
        rows = [row for c in chunks for row in c.rows]
        label_idx = np.concatenate([c.label_idx for c in chunks]) if chunks else np.zeros(0, dtype=int)
        errors = [e for c in chunks for e in c.errors]
        assert len(rows) == expect.rows
        failed = tuple(np.flatnonzero(label_idx < 0).tolist())
        assert failed == expect.failed
        assert all(errors[i] for i in failed) and not any(errors[i] for i in range(len(rows)) if i not in failed)
        good = [i for i in range(len(rows)) if i not in failed]
        if good:  # the readable rows get the same scores as when scored on their own
            probs = np.concatenate([c.probs for c in chunks])[good]
            np.testing.assert_allclose(probs, reference.score([rows[i].text for i in good]).probs, atol=1e-6)
        for fragment in expect.reported:
            assert any(fragment in message for message in told), (fragment, told)
    assert not (tmp_path / "PWNED").exists()


# ---------------------------------------------------------------------- CLI
def read_output(path: Path) -> list[dict]:
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def assert_one_sentence(result: subprocess.CompletedProcess, expect: Refusal) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sieve: ")
    for fragment in (*expect.says, expect.advice):
        assert fragment in lines[0]


@pytest.mark.parametrize("case", PARAMS)
def test_cli_score(case: Case, tmp_path, good_model, reference):
    setup, model, inputs = build(case, tmp_path, good_model)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    folder_input = len(inputs) == 1 and inputs[0].is_dir()
    out = out_dir if folder_input else out_dir / "scored.csv"
    args = ["score", *inputs, "--model", model, "--provider", "cpu", "-o", out]
    if setup.column:
        args += ["--column", setup.column]
    before = files_in(tmp_path)
    result = sieve(*args, cwd=tmp_path)
    expect = case.expect
    if isinstance(expect, Refusal):
        assert_one_sentence(result, expect)
        assert files_in(tmp_path) == before  # no output, no partial file, nothing else
    else:
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        outputs = [out_dir / name for name in expect.outputs] if folder_input else [out]
        assert sorted(p.name for p in out_dir.iterdir()) == sorted(p.name for p in outputs)  # no partial left
        rows = [row for path in outputs for row in read_output(path)]
        assert len(rows) == expect.rows
        failed = tuple(i for i, row in enumerate(rows) if row.get("error"))
        assert failed == expect.failed
        assert all(not rows[i]["label"] for i in failed)
        good = [rows[i] for i in range(len(rows)) if i not in failed]
        if good:
            assert [row["label"] for row in good] == [p.label for p in reference.predict([r["text"] for r in good])]
        for fragment in expect.reported:
            assert fragment in result.stderr
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("case", MODEL_REFUSALS)
def test_cli_info(case: Case, tmp_path, good_model):
    setup, model, _ = build(case, tmp_path, good_model)
    assert_one_sentence(sieve("info", "--model", model, "--provider", "cpu", cwd=tmp_path), case.expect)
    assert not (tmp_path / "PWNED").exists()


def test_catalogue_covers_the_issue_list():
    """The cases the reliability issue names, each present at least once."""
    from reliability.catalogue import BY_ID

    named = ["model-not-onnx", "model-truncated", "model-ir-too-new", "model-no-text-inputs",
             "model-embedding-hidden-states", "tokenizer-mismatch", "config-label-count", "input-header-only",
             "csv-chosen-column-missing", "input-invalid-utf8", "csv-ragged-rows", "jsonl-bad-lines",
             "input-0-bytes", "folder-mixed", "external-data-parent", "model-custom-op"]
    assert [n for n in named if n not in BY_ID] == []
    assert all(isinstance(c.expect, (Refusal, Result)) for c in CASES)


def test_docs_list_every_case():
    docs = (Path(__file__).resolve().parents[2] / "docs" / "RELIABILITY.md").read_text(encoding="utf-8")
    assert [case.id for case in CASES if f"| `{case.id}` |" not in docs] == []
