"""The load generator against real servers: counts, codes, stage times, no coordinated omission, cancel, CLI."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading

import pytest
from builders import make_slow_bundle
from servers import REPO, running_server

from app.engine.errors import InputError
from app.serve.loadgen import LoadPlan, LoadRun, predict_url, run_load_blocking

TEXTS = ("i love this movie", "awful", "the weather today is fine", "so sad and angry")


def test_open_loop_sends_exactly_on_schedule_and_reads_the_stage_headers(tiny_server):
    report = run_load_blocking(LoadPlan(url=f"{tiny_server.url}/predict", texts=TEXTS, rate=40, duration_s=1.0,
                                        per_request=3))
    assert report.sent == 40 and report.ok == 40 and report.errors == {}
    assert report.offered_per_s == 40 and report.texts_per_s == pytest.approx(3 * report.ok_per_s)
    assert set(report.stage_ms) == {"queue", "tokenization", "inference", "total"}
    assert report.latency_ms["p50"] <= report.latency_ms["p99"] <= report.latency_ms["max"]
    assert sum(s.ok_per_s for s in report.snapshots) == 40


def test_closed_loop_keeps_c_requests_in_flight(tiny_server):
    snapshots = []
    report = run_load_blocking(LoadPlan(url=tiny_server.url + "/predict", texts=TEXTS, concurrency=4,
                                        duration_s=1.0), on_snapshot=snapshots.append)
    assert report.ok > 0 and report.sent == report.ok and not report.errors and not report.unfinished
    assert snapshots and all(s.in_flight <= 4 for s in snapshots)


def test_errors_are_counted_by_code(shared_bundle):
    with running_server(shared_bundle[0], api_key="k") as server:
        report = run_load_blocking(LoadPlan(url=f"{server.url}/predict", texts=TEXTS, rate=20, duration_s=0.5))
        assert report.ok == 0 and report.errors == {"401": 10}
        keyed = run_load_blocking(LoadPlan(url=f"{server.url}/predict", texts=TEXTS, rate=20, duration_s=0.5,
                                           api_key="k"))
        assert keyed.ok == 10
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    refused = run_load_blocking(LoadPlan(url=f"http://127.0.0.1:{port}/predict", texts=TEXTS, rate=20,
                                         duration_s=0.25))
    assert refused.errors == {"connect": 5}


def test_open_loop_latency_counts_from_the_intended_send_time(tmp_path):
    """No coordinated omission: a request due while the server is stuck is charged for the whole stall."""
    root, _, _ = make_slow_bundle(tmp_path / "m")  # "slow" stalls the model for a few hundred ms
    gap_ms = 100.0
    with running_server(root) as server:
        plan = LoadPlan(url=f"{server.url}/predict", texts=("slow", "i love this"), rate=10,
                        duration_s=0.2)  # two requests, due 100 ms apart
        report = run_load_blocking(plan)
    assert report.ok == 2
    stall_ms = report.stage_ms["inference"]["max"]  # the slow request's own computation, as the server timed it
    # The second request left 100 ms after the first and had to wait for the stall to end.
    assert report.latency_ms["min"] >= stall_ms - gap_ms


def test_cancel_stops_at_once_and_keeps_what_was_measured(tiny_server):
    first = threading.Event()
    run = LoadRun(LoadPlan(url=f"{tiny_server.url}/predict", texts=TEXTS, concurrency=2, duration_s=600),
                  on_snapshot=lambda s: first.set()).start()
    assert first.wait(60)
    run.cancel()
    report = run.wait(30)
    assert report is not None and report.cancelled and report.ok > 0 and report.snapshots
    assert not run.running


def test_plans_are_checked_and_urls_completed():
    with pytest.raises(InputError, match="either a rate"):
        LoadPlan(url="http://127.0.0.1:1", texts=TEXTS)
    with pytest.raises(InputError, match="http"):
        LoadPlan(url="127.0.0.1:8000", texts=TEXTS, rate=1)
    assert predict_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000/predict"
    assert predict_url("http://127.0.0.1:8000/v1/classify") == "http://127.0.0.1:8000/v1/classify"


def test_sieve_loadgen_command(tiny_server, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("i love this\nawful\n\nthe best day ever\n", encoding="utf-8")
    out = tmp_path / "report.json"
    cmd = [sys.executable, "-c", "import sys; from app.cli import main; sys.exit(main())", "loadgen", tiny_server.url,
           "--rate", "20", "--duration", "1", "--texts", str(texts), "--per-request", "2", "--json", str(out)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "sent 20 requests" in proc.stdout and "latency ms: p50" in proc.stdout and "server stages" in proc.stdout
    assert "open loop at 20 requests/s" in proc.stderr
    data = json.loads(out.read_text())
    assert data["ok"] == 20 and data["plan"]["per_request"] == 2 and data["snapshots"]
    refused = subprocess.run([*cmd[:4], "http://127.0.0.1:9", "--rate", "5", "--duration", "0.2", "-q"], cwd=REPO,
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "No request succeeded" in refused.stderr


def test_ctrl_c_stops_sieve_loadgen_and_still_reports_what_was_measured(tiny_server):
    """--events writes each second and then the report as JSON lines; Ctrl+C ends the load and the report comes."""
    import signal

    cmd = [sys.executable, "-m", "app", "loadgen", tiny_server.url, "--rate", "20", "--duration", "600", "--events"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(proc.stdout.readline())  # one whole second measured
        assert first["snapshot"]["second"] == 0 and first["snapshot"]["ok_per_s"] == 20
        proc.send_signal(signal.SIGINT)
        lines = [json.loads(line) for line in proc.stdout]
        assert proc.wait(60) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    report = lines[-1]["report"]
    assert report["cancelled"] and report["ok"] >= 20 and report["snapshots"][0] == first["snapshot"]
    assert all("snapshot" in line for line in lines[:-1])


def test_the_parent_s_end_stops_sieve_loadgen(tiny_server):
    """With SIEVE_EXIT_WITH_PARENT=1 the load stops once standard input closes (the program that started it
    ended), and what was measured is still reported."""
    import os

    env = {**os.environ, "SIEVE_EXIT_WITH_PARENT": "1"}
    cmd = [sys.executable, "-m", "app", "loadgen", tiny_server.url, "--rate", "20", "--duration", "600", "--events"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        json.loads(proc.stdout.readline())
        proc.stdin.close()
        lines = [json.loads(line) for line in proc.stdout]
        assert proc.wait(60) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert lines[-1]["report"]["cancelled"] and lines[-1]["report"]["ok"] >= 20


def test_an_open_loop_offers_each_request_in_the_second_of_its_intended_time() -> None:
    """The sender and the per-second tick both wake at a whole second; whichever runs first, a request due at 1.000 s
    is offered in second 1 (a CI run once counted 21 requests in second 0 of a 20/s loop)."""
    import time

    from app.serve.loadgen import _Recorder

    rec = _Recorder(time.perf_counter())
    for k in range(21):  # 20/s: due at 0.00, 0.05, ..., 0.95, and 1.00, handled before the tick for second 0
        rec.due(k / 20)
    assert rec.snapshot(0, open_loop=True).offered_per_s == 20.0
    assert rec.snapshot(1, open_loop=True).offered_per_s == 1.0
