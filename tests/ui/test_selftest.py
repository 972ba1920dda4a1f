"""``sieve --selftest``: the real window, the embedded model, the bundled samples, a screenshot — from source."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_selftest_scores_every_sample_and_saves_a_screenshot(tmp_path, default_model) -> None:  # noqa: ANN001
    out = tmp_path / "shot.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([sys.executable, "-m", "app", "--selftest", str(out)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "selftest passed" in proc.stdout
    image = QImage(str(out))
    assert not image.isNull() and image.width() >= 800 and image.height() >= 600
    samples = REPO / "resources" / "samples"
    rows = sum(1 for _ in (samples / "sentences.txt").open()) + sum(1 for _ in (samples / "reviews.jsonl").open())
    with (samples / "tweets.csv").open(newline="", encoding="utf-8") as fh:
        rows += sum(1 for _ in csv.reader(fh)) - 1
    assert f"{rows} rows labelled" in proc.stdout
