"""Loading a model never runs code from it, and file names are data, never shell.

External data outside the model's folder and custom-op domains are catalogue cases (external-data-*,
model-custom-op in catalogue.py); this file covers what is not a bad-input refusal.
"""

from __future__ import annotations

import csv
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app.engine import Classifier
from reliability.catalogue import write_pickle_bomb

APP = Path(__file__).resolve().parents[2] / "app"
PICKLE_NAMES = ("pytorch_model.bin", "model.pkl", "training_args.bin", "optimizer.pt", "model.joblib")


def sieve(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def test_the_pickle_bomb_is_armed(tmp_path):
    """The payload used below really runs when unpickled, so its marker staying absent means something."""
    write_pickle_bomb(tmp_path / "bomb.pkl", tmp_path / "BOOM")
    pickle.loads((tmp_path / "bomb.pkl").read_bytes())  # noqa: S301 - our own payload, on purpose
    assert (tmp_path / "BOOM").exists()


def test_pickles_in_a_model_folder_are_never_loaded(tiny_bundle, tmp_path):
    root, _, _ = tiny_bundle
    marker = tmp_path / "PWNED"
    for name in PICKLE_NAMES:
        write_pickle_bomb(root / name, marker)
    texts = tmp_path / "texts.txt"
    texts.write_text("i love this\nawful\n", encoding="utf-8")

    assert [p.label is not None for p in Classifier.load(root).predict(["i love this", "awful"])] == [True, True]
    assert sieve("info", "--model", root, cwd=tmp_path).returncode == 0
    assert sieve("score", texts, "--model", root, "-o", tmp_path / "out.csv", cwd=tmp_path).returncode == 0
    by_file = sieve("score", texts, "--model", root / "model.onnx", "-o", tmp_path / "out.csv", cwd=tmp_path)
    assert by_file.returncode == 0
    assert not marker.exists()


# Ways to run code or load native code that the app must not use on anything a user opens.
FORBIDDEN = {
    r"\bimport pickle\b|\bpickle\.load": "pickle",
    r"\bcPickle\b|\bdill\b|\bjoblib\b|\bshelve\b|\bmarshal\.load": "another unpickler",
    r"\btorch\.load\b": "torch.load (a pickle)",
    r"allow_pickle\s*=\s*True": "np.load with pickles",
    r"(?<![.\w])eval\(|(?<![.\w])exec\(": "eval/exec",
    r"\bos\.system\(|\bos\.popen\(|shell\s*=\s*True": "a shell",
    r"register_custom_ops_library|RegisterCustomOpsLibrary": "a custom-op library",
    r"trust_remote_code\s*=\s*True": "remote code from a checkpoint",
}


@pytest.mark.parametrize("pattern", FORBIDDEN, ids=list(FORBIDDEN.values()))
def test_the_app_has_no_way_to_run_code_from_files(pattern):
    hits = [f"{path.relative_to(APP.parent)}:{n}: {line.strip()}"
            for path in sorted(APP.rglob("*.py"))
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if re.search(pattern, line) and not line.lstrip().startswith("#")]
    assert hits == []


WEIRD_NAMES = ["a;touch pwned.txt", "$(touch x).txt", "`touch y`.csv", "it's \"quoted\" & <odd> | more.jsonl",
               "spaces  and\ttab.txt", "-starts-with-dash.txt"]


def write_input(path: Path) -> None:
    if path.suffix == ".csv":
        path.write_text("text\ni love this\nawful\n", encoding="utf-8")
    elif path.suffix == ".jsonl":
        path.write_text('{"text": "i love this"}\n{"text": "awful"}\n', encoding="utf-8")
    else:
        path.write_text("i love this\nawful\n", encoding="utf-8")


posix_names = pytest.mark.skipif(sys.platform == "win32", reason="Windows forbids some of these characters in names")


@posix_names
@pytest.mark.parametrize("name", WEIRD_NAMES)
def test_file_names_are_data_not_shell(shared_bundle, tmp_path, name):
    root, _, _ = shared_bundle
    (tmp_path / "in").mkdir()
    source = tmp_path / "in" / name
    write_input(source)
    out = tmp_path / "in" / f"{name}.scored.csv"
    before = set((tmp_path / "in").iterdir())
    result = sieve("score", "--model", root, "-q", "-o", out, "--", source, cwd=tmp_path / "in")
    assert result.returncode == 0, result.stderr
    with open(out, newline="", encoding="utf-8") as fh:
        assert [r["label"] != "" for r in csv.DictReader(fh)] == [True, True]
    assert set((tmp_path / "in").iterdir()) == before | {out}  # nothing else appeared: no pwned.txt, x, y
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


@posix_names
def test_a_folder_of_weird_names_is_scored_file_by_file(shared_bundle, tmp_path):
    root, _, _ = shared_bundle
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    out.mkdir()
    for name in WEIRD_NAMES:
        write_input(folder / name)
    result = sieve("score", folder, "--model", root, "-q", "-o", out, cwd=folder)
    assert result.returncode == 0, result.stderr
    expected = {f"{Path(n).stem}.scored.{'jsonl' if n.endswith('.jsonl') else 'csv'}" for n in WEIRD_NAMES}
    assert {p.name for p in out.iterdir()} == expected
    assert {p.name for p in folder.iterdir()} == set(WEIRD_NAMES)
