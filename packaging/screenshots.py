"""Screenshots of the real window for the README: mid-run (progress, ETA, live plots) and after a run with gold labels.

    xvfb-run -s "-screen 0 1280x800x24" python packaging/screenshots.py --size 1280x800 --out docs/

Loads the embedded model, scores a generated file of short texts and grabs the window while it runs (the
throughput by then covers several seconds), then scores ``resources/samples/tweets.csv`` (which has a gold column)
and grabs the evaluation with one confusion-matrix cell chosen. PNGs are written as ``window-WxH-running.png`` and
``window-WxH-evaluation.png``.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORDS = ["great", "service", "fast", "delivery", "awful", "support", "slow", "refund", "happy", "customer", "broken", "screen", "lovely", "staff", "late", "again", "never", "recommend", "perfect", "fit", "cold", "food", "friendly", "helpful", "terrible", "noisy", "clean"]


def make_texts(path: Path, n: int) -> None:
    rng = random.Random(7)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text"])
        for _ in range(n):
            writer.writerow([" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 18)))])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", default="1280x800")
    p.add_argument("--out", default=str(ROOT / "docs"))
    p.add_argument("--rows", type=int, default=20_000)
    p.add_argument("--grab-after", type=float, default=12.0, help="seconds into the run for the mid-run shot")
    args = p.parse_args()
    w, h = (int(x) for x in args.size.split("x"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv[:1])
    from app.ui import open_window

    tmp = Path(tempfile.mkdtemp())
    settings = QSettings(str(tmp / "sieve.ini"), QSettings.Format.IniFormat)
    window = open_window(None, settings, interactive=False, size=(w, h))
    c = window.controller
    big = tmp / "support-tickets.csv"
    make_texts(big, args.rows)
    stage = {"n": 0}

    def save(name: str) -> None:
        window.dashboard.refresh(full=True)
        app.processEvents()
        path = out / f"window-{w}x{h}-{name}.png"
        window.grab().save(str(path))
        print(f"wrote {path}", flush=True)

    def loaded() -> None:
        if stage["n"]:
            return
        stage["n"] = 1
        window.input_panel.quick.setText("The delivery was late but the staff were lovely")
        window.add_inputs([str(big)], ask=False)
        window.run()
        QTimer.singleShot(int(args.grab_after * 1000), mid_run)

    def mid_run() -> None:
        save("running")
        c.cancel()

    def finished(_outcome) -> None:  # noqa: ANN001
        if stage["n"] == 1:
            stage["n"] = 2
            c.clear_inputs()
            window.add_inputs([str(ROOT / "resources" / "samples" / "tweets.csv")], ask=False)
            QTimer.singleShot(300, window.run)
        elif stage["n"] == 2:
            stage["n"] = 3
            QTimer.singleShot(500, evaluation)

    def evaluation() -> None:
        labels = c.store.labels
        window.show_cell(labels.index("negative"), labels.index("positive"))
        window.results.table.selectRow(0)
        save("evaluation")
        app.quit()

    c.model_settled.connect(loaded)
    c.run_finished.connect(finished)
    QTimer.singleShot(600_000, app.quit)
    app.exec()
    window.close()


if __name__ == "__main__":
    main()
