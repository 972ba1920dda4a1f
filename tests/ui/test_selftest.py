"""``sieve --selftest``: the real window, the embedded model, the bundled samples, a screenshot — from source."""

from __future__ import annotations

import csv
import json
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
    proc = subprocess.run([sys.executable, "-m", "app", "--selftest", str(out), "--size", "1280x800"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "selftest passed" in proc.stdout
    image = QImage(str(out))
    assert not image.isNull() and (image.width(), image.height()) == (1280, 800)
    samples = REPO / "resources" / "samples"
    rows = sum(1 for _ in (samples / "sentences.txt").open()) + sum(1 for _ in (samples / "reviews.jsonl").open())
    with (samples / "tweets.csv").open(newline="", encoding="utf-8") as fh:
        rows += sum(1 for _ in csv.reader(fh)) - 1
    assert f"{rows} rows labelled" in proc.stdout
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["window"] == {"width": 1280, "height": 800}
    assert {"#", "Label", "Confidence", "Gold", "Text"} <= set(report["results_columns_visible"])
    assert report["status_message"].startswith(f"Done: {rows} rows") and report["status_message_width_px"] > 300
    assert report["progress_text"].startswith(f"Done: {rows} rows")
    assert report["rows"] == report["rows_labelled"] == rows
    assert 0 < report["first_paint_s"] < report["first_prediction_s"]
