"""10. The Serve tab: does the window stay responsive while it load-tests a server? The load generator in a child
process (Sieve's choice) against the same generator on a thread of the window's process.

    python benchmarks/serve_tab.py [--quick] [--model DIR | --tiny] [--repeats N] [--rates N] [--seconds S]

Each measurement is a fresh window process (``--child``) that loads the model, starts a local ``sieve serve``
(one thread) from its Serve tab and runs a rate sweep (capacity first, then ``--rates`` rates from 25 % to 120 %
of it, ``--seconds`` each) while a 5 ms heartbeat ``QTimer`` runs on the GUI thread. The longest gap between beats,
minus 5 ms, is the longest time the window could not respond (target: under 50 ms). Modes, interleaved:

* **process**: each load step is ``sieve loadgen --events`` in a child process; the window reads one JSON line a
  second (what the Serve tab does);
* **thread**: the same load generator (asyncio + aiohttp on uvloop) on a thread of the window's process, sharing
  the GIL with the GUI thread.

Also reported: the GUI thread's share of a core, and what each sweep measured (the knee and the top rate
answered): a load generator that has to share its process with the window may also measure the server worse.
``--tiny`` serves a tiny test model (``tests/builders.py``) instead, so the server answers thousands of requests a
second and the load generator, not the model, is the busy part.
"""

from __future__ import annotations

import argparse
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
MODES = ("process", "thread")


def child(mode: str, model: str, rates: int, seconds: float) -> None:
    """One measured window: sweep a local server from the Serve tab with a heartbeat on the GUI thread."""
    from PySide6.QtCore import QElapsedTimer, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    sys.path.insert(0, str(REPO))
    app = QApplication(sys.argv[:1])
    from app.ui import open_window

    settings = QSettings(tempfile.mktemp(suffix=".ini"), QSettings.Format.IniFormat)
    win = open_window(model, settings, interactive=False, size=(1280, 800))
    c = win.controller
    c.serve.load_in = mode
    panel = win.serve
    form = panel.form
    out: dict = {"mode": mode}
    beats: list[int] = []
    busy: list[float] = []
    clock = QElapsedTimer()
    heartbeat = QTimer()
    heartbeat.setInterval(HEARTBEAT_MS)

    def beat() -> None:
        beats.append(clock.elapsed())
        busy.append(time.thread_time())

    heartbeat.timeout.connect(beat)

    from watchdog import StallWatchdog

    watchdog = StallWatchdog(beats, clock, depth=6)

    def loaded() -> None:
        if "started" in out:
            return
        out["started"] = True
        win.build_plots()
        win.tabs.setCurrentWidget(panel)
        form.threads.setText("1")
        form.max_wait.setText("0")
        form.mode.setCurrentIndex(form.mode.findData("sweep"))
        form.sweep_steps.setValue(rates)
        form.seconds.setValue(seconds)
        QTimer.singleShot(1000, begin)  # the tab is on screen, as when a person clicks Run

    def begin() -> None:
        out["t0"] = time.perf_counter()
        clock.start()
        heartbeat.start()
        watchdog.start()
        win.run_serve()

    def finished(record) -> None:  # noqa: ANN001 - InspectionRecord
        heartbeat.stop()
        watchdog.stop()
        elapsed = time.perf_counter() - out.pop("t0")
        timed = sorted(((b - a, b / 1000.0) for a, b in zip(beats, beats[1:], strict=False)), reverse=True)
        gaps = sorted(g for g, _ in timed)
        work = sorted(b - a for a, b in zip(busy, busy[1:], strict=False))
        t = record.targets[0]
        knee = record.knee(0)
        out.pop("started")
        out.update(
            seconds=round(elapsed, 1), heartbeats=len(gaps),
            longest_stall_ms=max(0, gaps[-1] - HEARTBEAT_MS) if gaps else None,
            p99_gap_ms=gaps[int(0.99 * (len(gaps) - 1))] if gaps else None,
            longest_gui_cpu_ms=round(work[-1] * 1000, 1) if work else None,
            gui_cpu_share=round((busy[-1] - busy[0]) / elapsed, 3) if busy else None,
            knee_per_s=knee.offered_per_s if knee else None, knee_p99_ms=knee.p99_ms if knee else None,
            capacity_per_s=t.capacity_per_s, max_answered_per_s=t.max_achieved(), error=t.error,
            redraws=record.version, longest_gaps=[{"ms": g, "at_s": round(t, 2)} for g, t in timed[:5]],
            stall_samples=watchdog.samples[:12])
        app.quit()

    c.model_settled.connect(loaded)
    c.serve.run_finished.connect(finished)
    QTimer.singleShot(1_800_000, app.quit)
    app.exec()
    win.close()
    print("RESULT " + json.dumps(out), flush=True)


def launch(mode: str, args: argparse.Namespace, env: dict) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", mode, "--model", args.model, "--rates",
                           str(args.rates), "--seconds", str(args.seconds)], env=env, capture_output=True, text=True,
                          timeout=1800)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"child failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return json.loads(line[len("RESULT "):])


def main() -> None:
    import common
    from common import save, table

    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=0, help="sweeps per mode, interleaved (default 3; quick 1)")
    p.add_argument("--rates", type=int, default=0, help="rates per sweep (default 6; quick 2)")
    p.add_argument("--seconds", type=float, default=0.0, help="seconds per rate (default 4; quick 1)")
    p.add_argument("--tiny", action="store_true", help="serve a tiny test model (thousands of requests/s)")
    args = p.parse_args()
    common.setup(args)
    if args.tiny:
        sys.path.insert(0, str(REPO / "tests"))
        from builders import make_bundle

        args.model = str(make_bundle(Path(tempfile.mkdtemp(prefix="sieve-tiny-")) / "model")[0])
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.rates = args.rates or (2 if args.quick else 6)
    args.seconds = args.seconds or (1.0 if args.quick else 4.0)
    env = dict(os.environ)
    if not env.get("DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    runs: dict[str, list[dict]] = {m: [] for m in MODES}
    for _ in range(args.repeats):
        for mode in MODES:
            runs[mode].append(launch(mode, args, env))

    def med(mode: str, key: str) -> float | None:
        values = [r[key] for r in runs[mode] if r.get(key) is not None]
        return statistics.median(values) if values else None

    keys = [("longest GUI stall (ms)", "longest_stall_ms"), ("99th percentile heartbeat gap (ms)", "p99_gap_ms"),
            ("longest GUI-thread CPU between beats (ms)", "longest_gui_cpu_ms"),
            ("GUI thread's share of a core", "gui_cpu_share"), ("capacity measured (req/s)", "capacity_per_s"),
            ("knee: highest rate with p99 ≤ 50 ms (req/s)", "knee_per_s"),
            ("most requests/s answered", "max_answered_per_s")]
    rows = []
    for what, key in keys:
        a, b = med("process", key), med("thread", key)
        ratio = f"{b / a:.2f}" if a and b is not None else ""
        rows.append([what, "" if a is None else a, "" if b is None else b, ratio])
    print(f"Serve tab: a rate sweep of a local sieve serve ({args.rates} rates × {args.seconds:g} s after a capacity "
          f"step) from the window, {HEARTBEAT_MS} ms heartbeat on the GUI thread; median of {args.repeats} "
          f"(interleaved); load average now {os.getloadavg()[0]:.1f}\n")
    print(table(["measure", "load in a child process", "load on a thread", "thread ÷ process"], rows))
    print("target: longest stall < 50 ms")
    for mode in MODES:
        for r in runs[mode]:
            print(f"{mode}: longest gaps (ms @ s) " + ", ".join(f"{g['ms']} @ {g['at_s']}" for g in r["longest_gaps"]))
            for x in r["stall_samples"]:
                print(f"  {x['late_ms']} ms late after {x['at_s']} s, in: " + " < ".join(reversed(x["where"])))
    errors = [r["error"] for m in MODES for r in runs[m] if r.get("error")]
    if errors:
        print("errors: " + "; ".join(errors))
    save("serve_tab", {"repeats": args.repeats, "tiny_model": args.tiny, "rates": args.rates, "seconds_per_rate": args.seconds,
                       "model": args.model, "runs": runs,
                       "medians": {m: {k: med(m, k) for _, k in keys} for m in MODES}}, args.json)


if __name__ == "__main__":
    if "--child" in sys.argv:
        a = argparse.ArgumentParser()
        a.add_argument("--child")
        a.add_argument("--model")
        a.add_argument("--rates", type=int)
        a.add_argument("--seconds", type=float)
        ns, _ = a.parse_known_args()
        child(ns.child, ns.model, ns.rates, ns.seconds)
    else:
        main()
