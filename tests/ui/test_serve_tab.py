"""The Serve tab against real servers on 127.0.0.1 ephemeral ports: a local sieve serve started from the tab, a
rate sweep on a server slowed on purpose, servers that fail in the ways servers fail, and no server left behind."""

from __future__ import annotations

import http.server
import os
import signal
import threading
import time
from pathlib import Path

from builders import make_slow_bundle

from app.serve.inspection import SnapshotTaken

from .conftest import load


def serve_run(qtbot, win, timeout: int = 90_000):  # noqa: ANN001, ANN201
    with qtbot.waitSignal(win.controller.serve.run_finished, timeout=timeout) as blocker:
        win.serve.form.run_button.click()
    return blocker.args[0]


def start_server(qtbot, win) -> None:  # noqa: ANN001
    sc = win.controller.serve
    with qtbot.waitSignal(sc.server_changed, timeout=60_000,
                          check_params_cb=lambda status: status.state in ("running", "failed")):
        win.serve.form.start_button.click()
    assert sc.status.running, sc.status.text()


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_local_server_started_from_the_tab_is_measured_and_stopped_with_the_window(qtbot, window, shared_bundle):  # noqa: ANN001
    load(qtbot, window, shared_bundle[0])
    window.build_plots()
    window.tabs.setCurrentWidget(window.serve)
    panel, form = window.serve, window.serve.form
    form.threads.setText("1")
    start_server(qtbot, window)
    server = window.controller.serve.server
    pid = server.pid
    assert "Listening on http://127.0.0.1:" in form.server_state.text()
    assert any("ready:" in line for line in form.log.toPlainText().splitlines())

    form.mode.setCurrentIndex(form.mode.findData("rate"))
    form.rate.setValue(20)
    form.seconds.setValue(2)
    record = serve_run(qtbot, window)
    assert window.controller.serve.server.pid == pid  # the running server was measured, not replaced
    target = record.targets[0]
    assert target.error is None and target.url == server.url
    report = target.steps[0].report
    assert report.sent == 40 and report.ok == 40

    plots = panel.plots
    items = plots.items[0]
    x, p99 = items["p99"].xData, items["p99"].yData
    assert len(x) >= 2 and list(x) == sorted(x) and (p99 > 0).all()  # one point per second, in order
    tail = sum(s.ok_per_s for s in report.snapshots if s.second >= 2)  # answers after the last whole second
    assert sum(items["achieved"].yData) == 40 - tail  # every answer of every whole second is in the rate plot
    assert set(items["offered"].yData[:-1]) == {20.0}
    curve_x, curve_y = items["curve_p99"].xData, items["curve_p99"].yData
    assert list(curve_x) == [20.0] and curve_y[0] == report.latency_ms["p99"]
    assert sum(len(b.opts["x"]) for b in items["bars"].values()) == 3 * len(x)  # stage bars for every second
    assert panel.table.rowCount() == 1
    assert panel.table.item(0, 0).text() == "A" and panel.table.item(0, 8).text() != "—"  # cold start known
    assert float(panel.table.item(0, 7).text().replace(",", "")) > 10  # RSS in MB

    # Cancel stops the load at once and keeps the seconds measured
    form.mode.setCurrentIndex(form.mode.findData("closed"))
    form.connections.setValue(2)
    form.seconds.setValue(600)
    sc = window.controller.serve
    cancel_after_a_second = lambda event: isinstance(event, SnapshotTaken) and form.cancel_button.click()  # noqa: E731
    sc.run_changed.connect(cancel_after_a_second)
    record = serve_run(qtbot, window)
    sc.run_changed.disconnect(cancel_after_a_second)
    assert record.cancelled
    step = record.targets[0].steps[0]
    assert step.report is not None and step.report.cancelled and step.report.ok > 0
    assert step.report.elapsed_s < step.report.plan["duration_s"]  # stopped, not run to its end
    assert len(panel.plots.items[0]["p99"].xData) >= 1 and "Cancelled" in form.state.text()
    assert form.run_button.isEnabled() and not form.cancel_button.isEnabled()

    window.close()
    deadline = time.monotonic() + 30
    while not gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(pid)


def test_a_sweep_finds_the_knee_of_a_server_slowed_on_purpose(qtbot, window, tmp_path):  # noqa: ANN001
    """Each text costs the model ~20 ms and batching does not help: p99 leaves the target past the capacity."""
    root, _, _ = make_slow_bundle(tmp_path / "slow", rounds=250)
    load(qtbot, window, root)
    window.build_plots()
    window.tabs.setCurrentWidget(window.serve)
    panel, form = window.serve, window.serve.form
    window.input_panel.paste.setPlainText("\n".join(["slow one", "slow and steady", "slow down"] * 3))
    form.texts.setCurrentIndex(form.texts.findData("pasted"))
    form.threads.setText("1")
    form.mode.setCurrentIndex(form.mode.findData("sweep"))
    form.sweep_from.setValue(20)
    form.sweep_to.setValue(250)
    form.sweep_steps.setValue(4)
    form.seconds.setValue(1.5)
    form.target.setValue(250)
    record = serve_run(qtbot, window)

    target = record.targets[0]
    assert target.error is None, target.error
    assert [s.kind for s in target.steps] == ["capacity", "open", "open", "open", "open"]
    curve = target.curve()
    offered = [p.offered_per_s for p in curve]
    capacity = target.capacity_per_s
    assert offered == sorted(offered) and offered[0] < capacity < offered[-1]
    assert curve[-1].p99_ms > 250  # 2.5 × capacity: the queue grows all step long
    knee = record.knee(0)
    assert knee is not None and knee.offered_per_s < offered[-1] and knee.p99_ms <= 250
    assert all(p.p99_ms > 250 or p.failed for p in curve if p.offered_per_s > knee.offered_per_s)

    items = panel.plots.items[0]
    assert list(items["curve_p99"].xData) == offered
    assert list(items["curve_p99"].yData) == [p.p99_ms for p in curve]
    assert list(items["knee"].xData) == [knee.offered_per_s] and items["knee_line"].isVisible()
    assert items["knee_line"].value() == knee.offered_per_s
    assert len(items["bars"]["queue"].opts["x"]) == 4  # one stacked bar per rate
    assert panel.table.item(0, 2).text() == f"{knee.offered_per_s:,.0f}"
    assert "--threads 1" in panel.command.text() and panel.command.text().startswith("sieve serve ")
    assert f"{knee.offered_per_s:,.0f} requests/s" in panel.recommendation.text()


class Answers500(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(500)
        self.send_header("content-type", "text/plain")
        self.end_headers()
        self.wfile.write(b"Internal Server Error")

    def log_message(self, *args) -> None:  # noqa: ANN002
        pass


def test_servers_that_fail_give_a_sentence_and_keep_the_points_so_far(qtbot, window, shared_bundle):  # noqa: ANN001
    load(qtbot, window, shared_bundle[0])
    window.build_plots()
    window.tabs.setCurrentWidget(window.serve)
    panel, form = window.serve, window.serve.form
    form.threads.setText("1")
    form.mode.setCurrentIndex(form.mode.findData("rate"))
    form.rate.setValue(20)
    form.seconds.setValue(1)

    # not a URL: refused before anything runs
    form.compare.setChecked(True)
    form.compare_url.setText("localhost:9000/predict")
    form.run_button.click()
    assert "is not an http:// or https:// URL" in window.last_error and not window.controller.serve.running

    # A is measured, then B answers 500: B gets a sentence, A's points stay
    bad = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answers500)
    threading.Thread(target=bad.serve_forever, daemon=True).start()
    try:
        form.compare_url.setText(f"http://127.0.0.1:{bad.server_address[1]}")
        record = serve_run(qtbot, window)
    finally:
        bad.shutdown()
        bad.server_close()
    a, b = record.targets
    assert a.error is None and a.steps[0].report.ok == 20
    assert "answered a test request with 500" in b.error and "500" in window.last_error
    assert len(panel.plots.items[0]["p99"].xData) >= 1 and panel.table.rowCount() == 2
    assert "500" in panel.table.item(1, 1).text() and panel.table.item(0, 4).text() != "—"

    # B is a port nobody listens on
    with socket_nobody_listens_on() as port:
        form.compare_url.setText(f"http://127.0.0.1:{port}")
        record = serve_run(qtbot, window)
    assert "Nothing answers at" in record.targets[1].error and "connection refused" in window.last_error
    assert record.targets[0].steps[0].report.ok == 20

    # the local server dies mid-run: the run stops at once with a sentence, the seconds before stay
    form.compare.setChecked(False)
    form.seconds.setValue(60)
    sc = window.controller.serve

    def kill_after_first_second(event) -> None:  # noqa: ANN001
        if isinstance(event, SnapshotTaken) and sc.server is not None and sc.server.alive:
            os.kill(sc.server.pid, signal.SIGKILL)

    sc.run_changed.connect(kill_after_first_second)
    record = serve_run(qtbot, window)
    target = record.targets[0]
    assert "The local server stopped (exit code -9)" in target.error
    assert "The local server stopped" in window.last_error
    report = target.steps[0].report
    assert report is not None and report.ok >= 1
    assert report.elapsed_s < report.plan["duration_s"]  # the step stopped, not the 60 s asked for
    assert len(panel.plots.items[0]["p99"].xData) >= 1
    assert sc.status.state == "exited" and "exited by itself" in form.server_state.text()


class socket_nobody_listens_on:  # noqa: N801
    def __enter__(self) -> int:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        pass


def test_the_form_is_remembered_but_not_the_api_keys(qtbot, settings):  # noqa: ANN001
    from app.ui.main_window import MainWindow

    first = MainWindow(settings)
    qtbot.addWidget(first)
    form = first.serve.form
    form.remote.setChecked(True)
    form.url.setText("http://127.0.0.1:9123")
    form.api_key.setText("secret")
    form.max_wait.setText("0, 5")
    form.mode.setCurrentIndex(form.mode.findData("closed"))
    form.connections.setValue(12)
    form.target.setValue(80)
    first.close()
    again = MainWindow(settings)
    qtbot.addWidget(again)
    form = again.serve.form
    assert form.remote.isChecked() and form.url.text() == "http://127.0.0.1:9123" and form.api_key.text() == ""
    assert form.max_wait.text() == "0, 5" and form.mode.currentData() == "closed"
    assert form.connections.value() == 12 and form.target.value() == 80
    assert not form.local_box.isVisibleTo(form) and form.closed_row[1].isVisibleTo(form)
    assert "secret" not in Path(settings.fileName()).read_text(encoding="utf-8")
    again.close()
