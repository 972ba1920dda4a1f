"""5. Desktop: cold start beside a bare Qt window, memory, and whether the window stays responsive while it scores.

    python benchmarks/desktop.py [--quick] [--model DIR] [--rows N] [--repeats N] [--ref OTHER_CHECKOUT]

Every measurement runs in a fresh child process (``--child``), so start-up is cold for Python and Qt (the OS file
cache stays warm: this is the second launch of the day, not the first after boot). Three kinds of window are
started in turn, ``--repeats`` times each, interleaved:

* **bare**: a PySide6 ``QMainWindow`` with one label — the floor for any Qt app on this machine;
* **one plot**: a ``QMainWindow`` holding one pyqtgraph ``PlotWidget`` (what importing pyqtgraph costs);
* **Sieve**: the real main window, opened the way ``sieve`` opens it (``app.ui.open_window``).

For each: process start → the window's first frame (median wall time, and the process's CPU time by then, which a
busy machine disturbs less). ``--ref`` adds the window of another checkout (before/after). Sieve's window must
paint before numpy, pyqtgraph and ONNX Runtime are imported; the child records which were loaded at that moment.

Then one more Sieve child does the full run: first prediction (process start → the quick-classify answer), RSS
once the model is loaded, and the **longest stall**: a 5 ms heartbeat ``QTimer`` runs on the GUI thread while the
window scores N rows from a CSV; the longest gap between beats, minus 5 ms, is the longest time the window could
not respond. A watchdog thread notes where the GUI thread was during late beats.

Uses ``QT_QPA_PLATFORM=offscreen`` unless a ``DISPLAY`` is set (run it under ``xvfb-run`` for a real X server).
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEARTBEAT_MS = 5
KINDS = ("bare", "plot", "sieve")
WATCHED_MODULES = ("pyqtgraph", "onnxruntime", "tokenizers", "numpy")


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def first_paint_spy(app, out: dict, start: float, then=None):  # noqa: ANN001, ANN201
    """Watch every widget's paint events: the first one starts the window's first frame; the frame is on screen once
    the event loop is back (a single-shot timer), and that moment (seconds since ``start``) is what we report,
    with the modules loaded by then."""
    from PySide6.QtCore import QObject, QTimer

    def frame_done() -> None:
        import resource

        app.removeEventFilter(spy)  # a Python filter on every event would itself slow the window down
        out["window_shown_s"] = time.time() - start
        usage = resource.getrusage(resource.RUSAGE_SELF)
        out["cpu_s_at_first_paint"] = usage.ru_utime + usage.ru_stime  # all threads; robust to a busy machine
        out["loaded_at_first_paint"] = {m: m in sys.modules for m in WATCHED_MODULES}
        if then is not None:
            then()

    class PaintSpy(QObject):
        def eventFilter(self, obj, event) -> bool:  # noqa: ANN001, N802
            if event.type() == event.Type.Paint and "_painting" not in out:
                out["_painting"] = True
                QTimer.singleShot(0, frame_done)
            return False

    spy = PaintSpy()
    app.installEventFilter(spy)
    return spy


def child_cold_start(kind: str, model: str, start: float) -> None:
    """Start one kind of window, note its first paint, quit."""
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication, QLabel, QMainWindow

    app = QApplication(sys.argv[:1])
    out: dict = {"kind": kind}
    spy = first_paint_spy(app, out, start, then=app.quit)  # noqa: F841 - kept alive until the loop ends
    if kind == "bare":
        win = QMainWindow()
        win.setCentralWidget(QLabel("Hello"))
        win.resize(1280, 800)
    elif kind == "plot":
        import pyqtgraph as pg

        win = QMainWindow()
        win.setCentralWidget(pg.PlotWidget(title="one plot"))
        win.resize(1280, 800)
    else:
        settings = QSettings(tempfile.mktemp(suffix=".ini"), QSettings.Format.IniFormat)
        try:
            from app.ui import open_window
        except ImportError:  # a checkout from before open_window (--ref): start it the way its run_gui did
            from app.ui.main_window import MainWindow

            win = MainWindow(settings, interactive=False)
            win.resize(1280, 800)
            win.show()
            win.start_default(model)
        else:
            win = open_window(model, settings, interactive=False, size=(1280, 800))
    if kind != "sieve":
        win.show()
    QTimer.singleShot(60_000, app.quit)
    app.exec()
    if kind == "sieve":
        win.close()
    out.pop("_painting", None)
    print("RESULT " + json.dumps(out), flush=True)


class Window:
    """The window under test, this checkout's or an older one's (``--ref``), behind the few names the run uses."""

    def __init__(self, model: str, settings) -> None:  # noqa: ANN001
        try:
            from app.ui import open_window
        except ImportError:  # before the controller: the window owned the model and the runs
            from app.ui.main_window import MainWindow

            self.win = MainWindow(settings, interactive=False)
            self.win.resize(1280, 800)
            self.win.show()
            self.win.start_default(model)
            self.controller = None
            self.loaded, self.answered = self.win.model_loaded, self.win.bridge.answered
            self.run_finished = self.win.run_finished
        else:
            self.win = open_window(model, settings, interactive=False, size=(1280, 800))
            self.controller = c = self.win.controller
            self.loaded, self.answered, self.run_finished = c.model_settled, c.quick_answer, c.run_finished

    @property
    def store(self):  # noqa: ANN201
        return self.controller.store if self.controller is not None else self.win.store

    def quick_classify(self, text: str) -> None:
        (self.controller or self.win).quick_classify(text)


def child_run(model: str, csv_path: str, start: float) -> None:  # noqa: C901 - one measured session, start to end
    """Runs in the measured process: ``start`` is the parent's wall clock just before it launched us."""
    from PySide6.QtCore import QElapsedTimer, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv[:1])
    out: dict = {}
    settings = QSettings(tempfile.mktemp(suffix=".ini"), QSettings.Format.IniFormat)
    spy = first_paint_spy(app, out, start)  # noqa: F841 - kept alive until the loop ends
    w = Window(model, settings)
    win = w.win
    beats: list[int] = []
    busy: list[float] = []  # the GUI thread's CPU seconds at each beat
    clock = QElapsedTimer()

    def loaded() -> None:
        if "model_loaded_s" in out:
            return
        out["model_loaded_s"] = time.time() - start
        out["rss_after_load_mb"] = round(rss_mb(), 1)
        w.quick_classify("I absolutely love this, best day ever!")  # what the box does once typing pauses

    def answered(*args: object) -> None:
        if "first_prediction_s" in out or args[-1] is None:
            return
        out["first_prediction_s"] = time.time() - start
        QTimer.singleShot(200, begin_run)

    def begin_run() -> None:
        win.add_inputs([csv_path], ask=False)
        out["_redraws0"] = win.dashboard.redraws
        clock.start()
        beats.append(0)
        heartbeat.start()
        watchdog.start()
        out["_t0"] = time.perf_counter()
        win.run()

    def beat() -> None:
        beats.append(clock.elapsed())
        busy.append(time.thread_time())

    gc_pauses: list[tuple[int, float, float]] = []  # (generation, ms, seconds into the run) of each collection
    gc_started = [0.0]

    def on_gc(phase: str, info: dict) -> None:
        now = time.perf_counter()
        if phase == "start":
            gc_started[0] = now
        elif "_t0" in out:
            gc_pauses.append((info["generation"], (now - gc_started[0]) * 1000.0, now - out["_t0"]))

    gc.callbacks.append(on_gc)

    from watchdog import StallWatchdog

    watchdog = StallWatchdog(beats, clock)  # where the GUI thread is whenever a beat is 30 ms late

    def finished(outcome) -> None:  # noqa: ANN001
        heartbeat.stop()
        watchdog.stop()
        seconds = time.perf_counter() - out.pop("_t0")
        timed_gaps = sorted(((b - a, b / 1000.0) for a, b in zip(beats, beats[1:], strict=False)), reverse=True)
        gaps = sorted(g for g, _ in timed_gaps)
        out["longest_gaps"] = [{"ms": g, "at_s": round(t, 2)} for g, t in timed_gaps[:5]]
        out["gc"] = {f"gen{g}": {"collections": sum(1 for x in gc_pauses if x[0] == g),
                                 "max_ms": round(max((x[1] for x in gc_pauses if x[0] == g), default=0.0), 1)}
                     for g in (0, 1, 2)}
        longest = {g["at_s"] for g in out["longest_gaps"]}
        out["stall_samples"] = [x for x in watchdog.samples
                                if any(abs(x["at_s"] + x["late_ms"] / 1000.0 - t) < 0.5 for t in longest)][:10]
        work = sorted(b - a for a, b in zip(busy, busy[1:], strict=False))
        out["longest_gui_cpu_ms"] = round(work[-1] * 1000, 1) if work else None  # load on the machine hardly moves it
        out["p99_gui_cpu_ms"] = round(work[int(0.99 * (len(work) - 1))] * 1000, 1) if work else None
        out["gui_cpu_share"] = round((busy[-1] - busy[0]) / seconds, 3) if busy else None
        store = w.store
        out["rows"] = len(store)
        out["labelled"] = int((store.label_idx >= 0).sum())
        out["run_s"] = round(seconds, 2)
        out["texts_per_s"] = round(len(store) / seconds, 1)
        out["heartbeats"] = len(gaps)
        out["longest_stall_ms"] = max(0, gaps[-1] - HEARTBEAT_MS) if gaps else None
        out["p99_gap_ms"] = gaps[int(0.99 * (len(gaps) - 1))] if gaps else None
        out["plot_redraws_per_s"] = round((win.dashboard.redraws - out.pop("_redraws0")) / seconds, 1)
        out["peak_rss_mb"] = round(peak_rss_mb(), 1)
        out["cancelled"] = outcome.cancelled
        app.quit()

    heartbeat = QTimer()
    heartbeat.setInterval(HEARTBEAT_MS)
    heartbeat.timeout.connect(beat)
    w.loaded.connect(loaded)
    w.answered.connect(answered)
    w.run_finished.connect(finished)
    QTimer.singleShot(1_800_000, app.quit)
    app.exec()
    win.close()
    out.pop("_painting", None)
    print("RESULT " + json.dumps(out), flush=True)


def launch(args: list[str], env: dict) -> dict:
    start = time.time()
    proc = subprocess.run([sys.executable, __file__, *args, str(start)], env=env, capture_output=True, text=True,
                          timeout=2400)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"child failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return json.loads(line[len("RESULT "):])


def child_main(argv: list[str]) -> None:
    """A measured process: it imports nothing but Qt and what the window itself imports (not ``common``, which
    loads ONNX Runtime)."""
    p = argparse.ArgumentParser()
    p.add_argument("--model")
    p.add_argument("--child", nargs="+")
    p.add_argument("--ref")
    args, _ = p.parse_known_args(argv)
    sys.path.insert(0, str(Path(args.ref).resolve() if args.ref else REPO))
    if args.child[0] == "run":
        child_run(args.model, args.child[1], float(args.child[2]))
    else:
        child_cold_start(args.child[0], args.model, float(args.child[1]))


def main() -> None:
    import common
    from common import save, short_texts, table

    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=0, help="rows to score while measuring stalls (default 100k; quick 5k)")
    p.add_argument("--repeats", type=int, default=0, help="cold starts per kind of window (default 5; quick 1)")
    p.add_argument("--ref", metavar="CHECKOUT", help="also cold-start the window of another checkout (before/after)")
    args = p.parse_args()
    common.setup(args)
    rows = args.rows or (5_000 if args.quick else 100_000)
    repeats = args.repeats or (1 if args.quick else 5)
    env = dict(os.environ)
    if not env.get("DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    platform_name = "X11 (" + env["DISPLAY"] + ")" if env.get("DISPLAY") else "offscreen"

    kinds = (*KINDS, "ref") if args.ref else KINDS
    starts: dict[str, list[dict]] = {k: [] for k in kinds}
    for _ in range(repeats):  # interleaved, so load on the machine hits every kind alike
        for kind in kinds:
            extra = ["--ref", args.ref] if kind == "ref" else []
            starts[kind].append(launch(["--model", args.model, *extra, "--child", "sieve" if kind == "ref" else kind],
                                       env))
    paint = {k: statistics.median(r["window_shown_s"] for r in starts[k]) for k in kinds}
    cpu = {k: statistics.median(r["cpu_s_at_first_paint"] for r in starts[k]) for k in kinds}
    loaded = starts["sieve"][0]["loaded_at_first_paint"]

    texts = short_texts(rows)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["text"])
            w.writerows([t] for t in texts)
        r = launch(["--model", args.model, "--child", "run", str(path)], env)
        ref = launch(["--model", args.model, "--ref", args.ref, "--child", "run", str(path)], env) if args.ref else None

    print(f"Desktop, {platform_name}: cold starts (median of {repeats}, interleaved), then {rows:,} rows scored "
          f"from a CSV while a {HEARTBEAT_MS} ms heartbeat runs\n")
    names = {"bare": "bare PySide6 QMainWindow", "plot": "QMainWindow with one pyqtgraph plot",
             "sieve": "Sieve's main window (real layout)", "ref": f"Sieve's window in {args.ref}"}
    print(table(["window: process start → first frame", "wall ms", "× bare", "CPU ms (all threads)", "× bare"],
                [[names[k], f"{paint[k] * 1000:,.0f}", f"{paint[k] / paint['bare']:.2f}", f"{cpu[k] * 1000:,.0f}",
                  f"{cpu[k] / cpu['bare']:.2f}"] for k in kinds]))
    print("target: Sieve's first paint ≤ 2× the bare window's")
    print("\nloaded when Sieve's window first painted: "
          + ", ".join(f"{m} {'yes' if v else 'no'}" for m, v in loaded.items()))
    measures = [  # (what, key, format, target)
        ("first prediction (process start → quick-classify answer)", "first_prediction_s", "{:,.0f} ms", "< 2000 ms"),
        ("RSS after the model is loaded", "rss_after_load_mb", "{:,.0f} MB", "< 400 MB"),
        (f"longest GUI stall while scoring {r['rows']:,} rows", "longest_stall_ms", "{} ms", "< 50 ms"),
        ("99th percentile heartbeat gap", "p99_gap_ms", "{} ms", ""),
        ("longest GUI-thread CPU time between two beats", "longest_gui_cpu_ms", "{} ms", ""),
        ("99th percentile GUI-thread CPU time between beats", "p99_gui_cpu_ms", "{} ms", ""),
        ("GUI thread's share of one core during the run", "gui_cpu_share", "{:.0%}", ""),
        ("plot redraws per second during the run", "plot_redraws_per_s", "{}", "10–20"),
        ("scoring throughput in the app", "texts_per_s", "{:,.0f} texts/s", ""),
        ("peak RSS during the run", "peak_rss_mb", "{:,.0f} MB", ""),
        ("rows with a label", "labelled", "{:,}", "all"),
    ]

    def shown(result: dict, key: str, fmt: str) -> str:
        value = result.get(key)
        if value is None:
            return ""
        return fmt.format(value * 1000 if key == "first_prediction_s" else value)

    rows_out = [[what, shown(r, key, fmt), *([shown(ref, key, fmt)] if ref else []), target]
                for what, key, fmt, target in measures]
    print()
    print(table(["measure", "this checkout", *(["--ref"] if ref else []), "target"], rows_out))
    print("\nlongest heartbeat gaps (ms @ s into the run): "
          + ", ".join(f"{g['ms']} @ {g['at_s']}" for g in r["longest_gaps"]))
    print("garbage collections during the run: " + ", ".join(
        f"{gen} {v['collections']} (longest {v['max_ms']} ms)" for gen, v in r["gc"].items()))
    for x in r.get("stall_samples", []):
        where = " < ".join(reversed(x["where"])) if x["where"] else "(no Python frame)"
        print(f"  GUI thread {x['late_ms']} ms late after the beat at {x['at_s']} s, in: {where}")
    save("desktop", {"rows": rows, "repeats": repeats, "platform": platform_name, "model": args.model,
                     "first_paint_s": paint, "first_paint_ratio_to_bare": paint["sieve"] / paint["bare"],
                     "cpu_at_first_paint_s": cpu, "cpu_ratio_to_bare": cpu["sieve"] / cpu["bare"],
                     "cold_starts": starts, "loaded_at_first_paint": loaded, "ref_run": ref, **r}, args.json)


if __name__ == "__main__":
    if "--child" in sys.argv:
        child_main(sys.argv[1:])
    else:
        main()
