"""Dashboard frame cost: what one redraw of the live latency dashboard costs the GUI thread (refresh + paint).

    python benchmarks/dashboard.py [--quick] [--records N] [--ref OTHER_CHECKOUT]

The dashboard redraws at 15 Hz while a run is going, on the GUI thread, so its frame cost is time the window cannot
answer the user. This fills a stats recorder with N batch records (seeded, shaped like a real run: batch sizes 1-64,
latencies of a few to a few hundred ms), then times, for each frame, one new record + ``refresh()`` + a paint of the
widget (``grab()``), at 1200x800. ``--ref`` loads ``app/ui/dashboard.py`` from another checkout (for example a
``git worktree`` of an older commit) and times both versions interleaved in the same process, for before/after
figures on the same machine.
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

import common
import numpy as np
from common import median, save, table

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def load_dashboard(ref: str | None):
    if ref is None:
        from app.ui import dashboard

        return dashboard
    path = Path(ref) / "app" / "ui" / "dashboard.py"
    spec = importlib.util.spec_from_file_location("app.ui.dashboard_ref", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def filled_recorder(n: int, seed: int):
    from app.engine.stats import StatsRecorder

    rng = np.random.default_rng(seed)
    rec = StatsRecorder()
    for _ in range(n):
        add_record(rec, rng)
    return rec, rng


def add_record(rec, rng) -> None:
    rows = int(rng.choice([1, 4, 8, 16, 32, 64]))
    padded = int(rng.integers(16, 129))
    infer = float(rng.gamma(4.0, 2.0) * rows)
    rec.add(rows=rows, padded_len=padded, real_tokens=int(rows * padded * rng.uniform(0.6, 1.0)),
            queue_ms=float(rng.exponential(2.0)), encode_ms=float(rng.gamma(2.0, 0.3) * rows ** 0.5),
            infer_ms=infer, post_ms=float(rng.uniform(0.05, 0.3)))


def main() -> None:
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--records", type=int, default=5000, help="batch records already in the recorder (default 5000)")
    p.add_argument("--frames", type=int, default=0, help="frames timed per version (default 150; quick 30)")
    p.add_argument("--ref", metavar="CHECKOUT", help="also time app/ui/dashboard.py from this checkout (before/after)")
    args = p.parse_args()
    common.setup(args)
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    frames = args.frames or (30 if args.quick else 150)
    versions = {"this checkout": load_dashboard(None)}
    if args.ref:
        versions[f"--ref {args.ref}"] = load_dashboard(args.ref)
    setups = {}
    for name, module in versions.items():
        widget = module.LatencyDashboard()
        widget.resize(1200, 800)
        widget.show()
        if hasattr(widget, "build"):  # plots are created after the window's first paint
            widget.build()
            widget.timer.stop()
        rec, rng = filled_recorder(args.records, seed=0)
        widget.set_recorder(rec)
        app.processEvents()
        setups[name] = (widget, rec, rng, [])
    for _ in range(frames):  # interleaved: every frame of one version is followed by a frame of the other
        for widget, rec, rng, times in setups.values():
            add_record(rec, rng)
            t0 = time.perf_counter()
            widget.refresh()
            widget.grab()
            times.append((time.perf_counter() - t0) * 1000.0)
            app.processEvents()
    rows, figures = [], {}
    for name, (_w, _r, _g, times) in setups.items():
        p50, p95 = median(times), float(np.percentile(times, 95))
        figures[name] = {"p50_ms": p50, "p95_ms": p95, "frames": len(times)}
        rows.append([name, p50, p95, 1000.0 / p50])
    print(f"{args.records:,} records in the recorder, {frames} frames per version, 1200x800, "
          f"{os.environ.get('QT_QPA_PLATFORM', 'default')} platform\n")
    print(table(["dashboard", "ms per frame (median)", "ms per frame (p95)", "max frames/s"], rows))
    if len(rows) == 2:
        print(f"\nthis checkout / ref, median frame cost: {rows[0][1] / rows[1][1]:.2f}")
    save("dashboard", {"records": args.records, "frames": frames, "figures": figures}, args.json)


if __name__ == "__main__":
    main()
