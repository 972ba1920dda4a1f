"""A ``sieve score`` process killed outright (SIGKILL: no handler runs) leaves no output file where the output
belongs, and ``--resume`` finishes it into the same bytes an uninterrupted run writes.

(tests/cli/test_cli.py covers Ctrl+C inside the process; here nothing in the process gets a say.)
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time

import numpy as np
import pytest
from builders import WORDS

ROWS = 4_000


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory):
    rng = np.random.default_rng(3)
    path = tmp_path_factory.mktemp("big") / "big.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text", "note"])
        for i in range(ROWS):
            text = " ".join(rng.choice(WORDS, size=rng.integers(0, 30)))
            if i % 97 == 0:
                text = f'a "quoted", multi\nline text {text}'
            writer.writerow([i, text, "é ✓" if i % 5 == 0 else ""])
    return path


def sieve(*args, **kw):
    return subprocess.run([sys.executable, "-m", "app", *map(str, args)], capture_output=True, text=True,
                          timeout=300, **kw)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_killed_run_leaves_no_output_and_resumes_to_the_same_bytes(shared_bundle, big_csv, tmp_path, suffix):
    root, _, _ = shared_bundle
    args = ["score", big_csv, "--model", root, "--provider", "cpu", "--batch-size", "1", "--window", "16", "-q"]
    reference = tmp_path / f"reference{suffix}"
    done = sieve(*args, "-o", reference)
    assert done.returncode == 0, done.stderr

    out = tmp_path / f"out{suffix}"
    partial = tmp_path / f".out{suffix}.sieve-partial"
    record = tmp_path / f".out{suffix}.sieve-partial.json"
    proc = subprocess.Popen([sys.executable, "-m", "app", *map(str, args), "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (record.exists() and json.loads(record.read_text())["rows"] >= 100):
            assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read()!r}"
            assert time.monotonic() < deadline, "no checkpoint within 2 minutes"
            time.sleep(0.002)
        proc.kill()  # SIGKILL on POSIX: no cleanup, no flush, no atexit
    finally:
        proc.kill()
        proc.wait(30)
        proc.stderr.close()

    assert not out.exists()  # no half file where the output belongs
    saved = json.loads(record.read_text())
    assert 100 <= saved["rows"] < ROWS and partial.stat().st_size >= saved["bytes"]
    with open(partial, "ab") as fh:  # a torn write after the last checkpoint, as a kill mid-chunk leaves
        fh.write(b'4242,"half a row that was never fini')

    resumed = sieve(*args, "-o", out, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert out.read_bytes() == reference.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, reference.name])  # no partial left
