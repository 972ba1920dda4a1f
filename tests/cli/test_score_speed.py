"""What ``sieve score`` does to keep its whole process as fast as a careful hand loop (docs/PERFORMANCE.md, 7.)."""

import csv
import io
import subprocess
import sys
from pathlib import Path

import numpy as np

from app.cli import main
from app.engine import BatchPolicy, plan_batches

REPO = Path(__file__).resolve().parents[2]
WORDS = ["i", "love", "this", "great", "movie", "awful", "terrible", "bad", "boring", "the", "best", "day", "table"]


def write_texts(path: Path, n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, size=rng.integers(1, 40))) for _ in range(n)]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text"])
        w.writerows(enumerate(texts))
    return texts


def padded_tokens(stats_csv: Path) -> int:
    with open(stats_csv, newline="", encoding="utf-8") as fh:
        return sum(int(r["rows"]) * int(r["padded_len"]) for r in csv.DictReader(fh))


def test_a_file_of_a_few_thousand_rows_is_sorted_as_one(shared_bundle, tmp_path):
    """A 3,000-row file pads exactly as a sort of the whole file would (1,024-row windows padded more)."""
    root, _, tok = shared_bundle
    texts = write_texts(tmp_path / "in.csv", 3000)
    proc = subprocess.run([sys.executable, "-m", "app", "score", str(tmp_path / "in.csv"), "-o", str(tmp_path / "o.csv"),
                           "--model", str(root), "--quiet", "--stats", str(tmp_path / "stats.csv")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lengths = np.array([len(e.ids) for e in tok.encode_batch(texts)])

    def plan(window: int) -> int:
        return sum(len(b) * int(lengths[b].max()) for b in plan_batches(lengths, BatchPolicy(window=window)))

    assert plan(1024) > plan(len(texts))  # the data is such that windows matter
    assert padded_tokens(tmp_path / "stats.csv") == plan(len(texts))


def test_no_progress_bar_means_no_tqdm_import_and_no_line_count(shared_bundle, tmp_path):
    root, _, _ = shared_bundle
    write_texts(tmp_path / "in.csv", 50)
    code = ("import sys; from app.cli import main; from app.engine import io; "
            "io.TextSource.estimate_rows = lambda self: sys.exit('the input was counted for a bar nobody sees'); "
            f"rc = main(['score', {str(tmp_path / 'in.csv')!r}, '-o', {str(tmp_path / 'o.csv')!r}, "
            f"'--model', {str(root)!r}]); "
            "sys.exit(rc or ('tqdm' in sys.modules and 'tqdm was imported'))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr  # stderr is a pipe here, as when the output is redirected


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_still_gets_the_progress_bar(shared_bundle, tmp_path, monkeypatch):
    root, _, _ = shared_bundle
    write_texts(tmp_path / "in.csv", 50)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["score", str(tmp_path / "in.csv"), "-o", str(tmp_path / "o.csv"), "--model", str(root)]) == 0
    assert "in.csv:" in terminal.getvalue() and "/50 [" in terminal.getvalue()  # tqdm's description and total
