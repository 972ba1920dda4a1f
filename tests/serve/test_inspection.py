"""Latency inspection without a window: the local server (started, refused, never left behind), the two ways to run
load steps, the checks before a URL is loaded, and what the record makes of a run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from servers import REPO, running_server

from app.engine.errors import InputError
from app.serve.inspection import (
    Inspection,
    InspectionPlan,
    ProcessLoad,
    ServerUp,
    StepDone,
    StepStarted,
    Target,
    TargetDone,
    TargetStarted,
    ThreadLoad,
    check_answers,
    endpoint,
    settings_grid,
)
from app.serve.inspection_record import InspectionRecord
from app.serve.load_report import LoadPlan, LoadReport
from app.serve.local_server import LocalServer, LocalServers, ServerSettings

TEXTS = ("i love this movie", "awful", "the weather today is fine")


def gone(pid: int, within_s: float = 30.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        with open(f"/proc/{pid}/stat") as fh:  # a zombie (exited, not yet reaped) is gone too
            if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("runner", [ProcessLoad, ThreadLoad])
def test_both_load_runners_measure_the_same_step(tiny_server, runner):  # noqa: ANN001
    seen = []
    plan = LoadPlan(url=f"{tiny_server.url}/predict", texts=TEXTS, rate=20, duration_s=1.5, per_request=2)
    report = runner().run(plan, seen.append, threading.Event())
    assert isinstance(report, LoadReport)
    assert report.sent == report.ok == 30 and not report.errors and report.plan["per_request"] == 2
    assert seen[0] == report.snapshots[0] and seen[0].second == 0  # live, then kept
    assert sum(s.ok_per_s for s in report.snapshots) == 30
    assert set(report.stage_ms) >= {"queue", "tokenization", "inference"}


@pytest.mark.parametrize("runner", [ProcessLoad, ThreadLoad])
def test_interrupting_a_step_keeps_what_it_measured(tiny_server, runner):  # noqa: ANN001
    load = runner()
    first = threading.Event()
    plan = LoadPlan(url=f"{tiny_server.url}/predict", texts=TEXTS, concurrency=2, duration_s=600)
    got = []
    thread = threading.Thread(target=lambda: got.append(load.run(plan, lambda s: first.set(), threading.Event())))
    thread.start()
    assert first.wait(60)
    load.interrupt()
    thread.join(60)
    assert not thread.is_alive()
    report = got[0]
    assert report.cancelled and report.ok > 0 and report.snapshots


def test_a_stopped_step_is_never_started(tiny_server):  # noqa: ANN001
    stop = threading.Event()
    stop.set()
    plan = LoadPlan(url=f"{tiny_server.url}/predict", texts=TEXTS, rate=20, duration_s=1.0)
    assert ProcessLoad().run(plan, lambda s: None, stop) is None


def test_urls_are_completed_and_checked_before_any_load(shared_bundle):  # noqa: ANN001
    assert endpoint("http://127.0.0.1:8000") == "http://127.0.0.1:8000/predict"
    assert endpoint(" http://h:1/ ") == "http://h:1/predict"
    assert endpoint("https://h/v1/classify") == "https://h/v1/classify"
    with pytest.raises(InputError, match="is not an http:// or https:// URL"):
        endpoint("127.0.0.1:8000")
    with running_server(shared_bundle[0], api_key="k") as server:
        with pytest.raises(InputError, match=r"wants an API key \(401\)"):
            check_answers(f"{server.url}/predict", TEXTS[:1], None, 10)
        check_answers(f"{server.url}/predict", TEXTS[:2], "k", 10)
        with pytest.raises(InputError, match="answered a test request with 404 Not Found"):
            check_answers(f"{server.url}/nothing-here", TEXTS[:1], "k", 10)


def test_the_local_server_is_measured_from_launch_and_reused_while_its_settings_match(shared_bundle):  # noqa: ANN001
    lines = []
    servers = LocalServers(on_line=lines.append)
    settings = ServerSettings(str(shared_bundle[0]), threads=1)
    try:
        first = servers.ensure(settings)
        assert first.alive and first.url.startswith("http://127.0.0.1:") and 0 < first.cold_start_s < 120
        rss, peak = first.rss_mb()
        assert 10 < rss <= peak
        assert servers.ensure(settings) is first
        second = servers.ensure(ServerSettings(str(shared_bundle[0]), threads=1, max_wait_ms=5))
        assert second is not first and not first.alive and first.exit_code == 0  # drained and stopped
        assert any(line.startswith("$ sieve serve --port 0 --model") and "--max-wait-ms 5" in line for line in lines)
        assert any(line.startswith("ready: ") for line in lines)
    finally:
        servers.close()
    assert not second.alive
    with pytest.raises(InputError, match="closing"):
        servers.ensure(settings)


def test_a_server_that_cannot_start_says_why(tmp_path):  # noqa: ANN001
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="The local server did not start: .*model") as caught:
        LocalServer(ServerSettings(str(tmp_path / "empty"))).start()
    assert "Traceback" not in str(caught.value)


PARENT = """
import sys, time
from app.serve.local_server import LocalServer, ServerSettings
server = LocalServer(ServerSettings(sys.argv[1], threads=1)).start()
print(server.pid, flush=True)
time.sleep(600)
"""


def test_a_local_server_never_outlives_the_program_that_started_it(shared_bundle):  # noqa: ANN001
    """Even a parent killed with SIGKILL (no atexit, no close) leaves no server behind."""
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(shared_bundle[0])], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
    try:
        pid = int(parent.stdout.readline())
        assert not gone(pid, within_s=0.5)
        parent.send_signal(signal.SIGKILL)
        parent.wait(30)
        assert gone(pid)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_the_record_compares_settings_and_recommends_the_best(tiny_server):  # noqa: ANN001
    """A real sweep of two targets at one URL (the same server twice) folded into the table and a command."""
    grid = settings_grid("m", ["auto"], [1], [32], [0.0, 5.0])
    assert [s.max_wait_ms for s in grid] == [0.0, 5.0] and grid[1].command_line().endswith("--max-wait-ms 5")
    plan = InspectionPlan((Target("A", url=tiny_server.url), Target("B", url=tiny_server.url + "/predict")), TEXTS,
                          mode="sweep", step_s=0.5, capacity_s=0.5, sweep_steps=2, sweep_from=0.1, sweep_to=0.2,
                          target_p99_ms=10_000)
    record = InspectionRecord(plan)
    events = []
    Inspection(plan, lambda e: (events.append(e), record.apply(e)), LocalServers(), ThreadLoad()).run()
    record.finish(cancelled=False)
    kinds = [type(e) for e in events if type(e).__name__ != "SnapshotTaken"]
    assert kinds == [TargetStarted, ServerUp, *[StepStarted, StepDone] * 3, TargetDone] * 2
    rows = record.rows()
    assert [r["target"] for r in rows] == ["A", "B"] and all(r["held"] for r in rows)
    for i, row in enumerate(rows):
        curve = record.targets[i].curve()
        assert len(curve) == 2 and row["rate_per_s"] == curve[-1].offered_per_s  # both held: the knee is the top
        assert row["rss_mb"] is None and row["cold_start_s"] is None  # not known for a URL
    assert record.recommendation() is None  # URLs: no sieve serve settings to recommend
    assert "Sweep a local server" in record.recommendation_text()
    assert record.short_labels() == [tiny_server.url.removeprefix("http://")] * 2
    exported = record.as_dict()
    assert exported["plan"]["texts"] == 3 and len(exported["targets"][0]["steps"]) == 3
    assert exported["targets"][1]["knee"]["offered_per_s"] == rows[1]["rate_per_s"]


def test_plans_are_checked():
    with pytest.raises(InputError, match="no server to measure"):
        InspectionPlan((), TEXTS)
    with pytest.raises(InputError, match="Unknown load mode"):
        InspectionPlan((Target("A", url="http://h"),), TEXTS, mode="fast")
    with pytest.raises(InputError, match="no texts to send"):
        Inspection(InspectionPlan((Target("A", url="http://h"),), ()), lambda e: None, LocalServers()).run()
