"""Screenshots of the real window for the README: mid-run (progress, ETA, live plots), after a run with gold labels,
and the Serve tab after a rate sweep comparing two server settings.

    xvfb-run -s "-screen 0 1280x800x24" python packaging/screenshots.py --size 1280x800 --out docs/
    xvfb-run -s "-screen 0 1920x1080x24" python packaging/screenshots.py --size 1920x1080 --shots serve

Loads the embedded model, scores a generated file of short texts and grabs the window while it runs (the
throughput by then covers several seconds), then scores ``resources/samples/tweets.csv`` (which has a gold column)
and grabs the evaluation with one confusion-matrix cell chosen. Then, in the Serve tab (the model dock hidden and
the tab dragged to its tallest, as a user would), it sweeps a local ``sieve serve`` of the embedded model with
``--max-wait-ms 0`` and ``5`` (one thread each; six rates from 25 % to 120 % of each one's measured capacity,
``--sweep-seconds`` each) and grabs both curves, the knees and the table. PNGs: ``window-WxH-running.png``,
``window-WxH-evaluation.png``, ``window-WxH-serve.png``. The sweep's figures depend on how busy the machine is.
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
    p.add_argument("--rows", type=int, default=100_000, help="rows in the file scored for the mid-run shot "
                   "(cancelled at --grab-after, so a fast machine is still mid-run)")
    p.add_argument("--grab-after", type=float, default=12.0, help="seconds into the run for the mid-run shot")
    p.add_argument("--shots", default="running,evaluation,serve", help="which screenshots (comma-separated)")
    p.add_argument("--sweep-seconds", type=float, default=4.0, help="seconds of load per rate in the serve shot")
    args = p.parse_args()
    shots = set(args.shots.split(","))
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
        if "running" not in shots and "evaluation" not in shots:
            stage["n"] = 3
            serve_sweep()
            return
        stage["n"] = 1
        window.input_panel.quick.setText("The delivery was late but the staff were lovely")
        window.add_inputs([str(big)], ask=False)
        window.run()
        QTimer.singleShot(int(args.grab_after * 1000), mid_run)

    def mid_run() -> None:
        if stage["n"] != 1:  # the run already ended (a fast machine): never cancel a later one
            return
        if "running" in shots:
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
        if "evaluation" in shots:
            save("evaluation")
        if "serve" in shots:
            serve_sweep()
        else:
            app.quit()

    def serve_sweep() -> None:
        panel = window.serve
        form = panel.form
        window.model_dock.hide()
        window.tabs.setCurrentWidget(panel)
        window.main_split.setSizes([0, 0, h])  # each keeps its minimum; the tab gets the rest
        form.local.setChecked(True)
        form.threads.setText("1")
        form.max_batch.setText("32")
        form.max_wait.setText("0, 5")
        form.mode.setCurrentIndex(form.mode.findData("sweep"))
        form.sweep_from.setValue(25)
        form.sweep_to.setValue(120)
        form.sweep_steps.setValue(6)
        form.seconds.setValue(args.sweep_seconds)
        form.target.setValue(50)
        form.texts.setCurrentIndex(form.texts.findData("samples"))
        c.serve.run_finished.connect(lambda _record: QTimer.singleShot(500, serve_done))
        window.run_serve()

    def serve_done() -> None:
        record = c.serve.record
        for line in [record.recommendation_text(), *record.errors()]:
            print(line, flush=True)
        window.serve.table.selectRow(-1)
        window.grab().save(str(out / f"window-{w}x{h}-serve.png"))
        print(f"wrote {out / f'window-{w}x{h}-serve.png'}", flush=True)
        app.quit()

    c.model_settled.connect(loaded)
    c.run_finished.connect(finished)
    QTimer.singleShot(600_000, app.quit)
    app.exec()
    window.close()


if __name__ == "__main__":
    main()
