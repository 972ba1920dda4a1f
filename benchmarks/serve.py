"""Serving, side by side in one run: ``sieve serve`` against the FastAPI server its users would write and against
a batch-1 serial server, on the same model and texts, with Sieve's load generator as the client.

    python benchmarks/serve.py [--quick] [--model DIR] [--seconds S] [--pin auto|none] [--servers LIST]
                               [--cross-check] [--json OUT]

Contenders (each its own process): ``sieve`` = ``sieve serve`` (continuous micro-batcher); ``fastapi`` =
benchmarks/peers/fastapi_server.py (FastAPI + AutoTokenizer + one ORT session under a lock, padded to 128; needs
the bench extra); ``serial`` = benchmarks/peers/serial_server.py (Sieve's HTTP stack and engine, one request per
model call, one at a time). Workloads: tweets and 128-token texts, 1 and 8 texts per request; closed loop at 1, 8
and 32 connections, then open loop at fractions of the serial server's capacity measured in the same run.
Reported: requests/s, texts/s, p50/p90/p99, errors, RSS after the load, cold start (launch → first 200).

Pinning (``--pin auto``): the client gets the last CPU, the servers the others, and ONNX Runtime as many threads
as the servers have CPUs, so client and server do not compete for a core. With 2 CPUs that is one core each.
``--cross-check`` also measures one setting with ``hey`` and ``wrk`` (if installed) next to Sieve's load generator.
"""

from __future__ import annotations

import http.client
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import common
from common import REPO, save, short_texts, table

from app.serve.loadgen import LoadPlan, LoadReport, run_load_blocking

PEERS = REPO / "benchmarks" / "peers"
SIEVE = [sys.executable, "-c", "import sys; from app.cli import main; sys.exit(main())", "serve"]


# ---------------------------------------------------------------------- servers
@dataclass
class Server:
    name: str
    proc: subprocess.Popen
    url: str
    cold_start_s: float
    rss_mb: dict[str, float] = field(default_factory=dict)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(name: str, model: str, port: int, threads: int, provider: str = "cpu") -> list[str]:
    if name == "sieve":
        return [*SIEVE, "--model", model, "--port", str(port), "--threads", str(threads), "--provider", provider]
    script = {"fastapi": "fastapi_server.py", "serial": "serial_server.py"}[name]
    return [sys.executable, str(PEERS / script), "--model", model, "--port", str(port), "--threads", str(threads),
            "--provider", provider]


def first_200(url: str, deadline: float) -> bool:
    host, port = url.removeprefix("http://").split(":")
    while time.perf_counter() < deadline:
        try:
            conn = http.client.HTTPConnection(host, int(port), timeout=5)
            conn.request("POST", "/predict", body=b'{"texts": ["hello there"]}',
                         headers={"content-type": "application/json"})
            if conn.getresponse().status == 200:
                conn.close()
                return True
            conn.close()
        except OSError:
            pass
        time.sleep(0.01)
    return False


def launch(name: str, model: str, threads: int, cpus: list[int] | None, provider: str = "cpu") -> Server:
    """Start a contender and time it from launch to its first 200 on /predict."""
    port = free_port()
    cmd = command(name, model, port, threads, provider)
    if cpus:
        cmd = ["taskset", "-c", ",".join(map(str, cpus)), *cmd]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    if not first_200(url, t0 + 120):
        proc.kill()
        raise SystemExit(f"{name} did not answer within 120 s:\n{proc.stderr.read()[-3000:]}")
    server = Server(name, proc, url, time.perf_counter() - t0)
    server.rss_mb = {"rss_at_start_mb": rss_mb(proc.pid)["rss_mb"]}
    return server


def probe_ms(server: Server) -> float:
    """Latency of one small request (ms), or infinity if it fails."""
    host, port = server.url.removeprefix("http://").split(":")
    t0 = time.perf_counter()
    try:
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        conn.request("POST", "/predict", body=b'{"texts": ["settling"]}', headers={"content-type": "application/json"})
        ok = conn.getresponse().status == 200
        conn.close()
    except OSError:
        ok = False
    return (time.perf_counter() - t0) * 1000.0 if ok else float("inf")


def settle(server: Server, idle_ms: float, limit_s: float = 120.0) -> float:
    """Wait until the server answers about as fast as when idle: work left over from an overloaded run (requests
    whose client gave up but the server still computes) must not be charged to the next measurement. Returns the
    seconds waited."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit_s:
        if probe_ms(server) < max(3 * idle_ms, idle_ms + 20.0):
            break
        time.sleep(0.5)
    return time.perf_counter() - t0


def rss_mb(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    found = {k: float(v) / 1024 for k, v in re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.MULTILINE)}
    return {"rss_mb": found.get("VmRSS", 0.0), "peak_rss_mb": found.get("VmHWM", 0.0)}


def stop(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(30)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


# ---------------------------------------------------------------------- workloads
def long_texts_128(model: str, n: int) -> list[str]:
    """Texts of at least 128 tokens (so every server runs 128-token rows): samples joined until long enough."""
    import random

    from app.engine.encoding import TextEncoder

    encoder = TextEncoder.from_file(Path(model) / "tokenizer.json", max_length=512)
    base = short_texts(2000, seed=5)
    rng = random.Random(2)
    out = []
    while len(out) < n:
        parts = []
        while True:
            parts.append(rng.choice(base))
            if encoder.encode([" ".join(parts)]).lengths[0] >= 128:
                break
        out.append(" ".join(parts))
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (every thread), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(server: Server, texts: list[str], per_request: int, seconds: float, *, concurrency: int | None = None,
            rate: float | None = None) -> tuple[LoadReport, float]:
    """One load run; returns the report and the server's CPU time per answered request (ms)."""
    plan = LoadPlan(url=f"{server.url}/predict", texts=tuple(texts), per_request=per_request, rate=rate,
                    concurrency=concurrency, duration_s=seconds, timeout_s=20.0)  # overload shows as timeouts
    before = cpu_seconds(server.proc.pid)
    report = run_load_blocking(plan)
    used = cpu_seconds(server.proc.pid) - before
    return report, used * 1000.0 / max(1, report.ok)


def summary_row(report: LoadReport, cpu_ms: float) -> dict:
    lat = report.latency_ms
    return {"req_per_s": report.ok_per_s, "texts_per_s": report.texts_per_s, "offered_per_s": report.offered_per_s,
            "server_cpu_ms_per_request": cpu_ms,
            "p50_ms": lat.get("p50", float("nan")), "p90_ms": lat.get("p90", float("nan")),
            "p99_ms": lat.get("p99", float("nan")), "max_ms": lat.get("max", float("nan")), "ok": report.ok,
            "sent": report.sent, "errors": report.errors,
            "server_stage_p50_ms": {k: v["p50"] for k, v in report.stage_ms.items()}}


def median_row(runs: list[dict]) -> dict:
    """Each figure's median over repeats (errors summed); the single runs are kept under ``runs``."""
    import statistics

    if len(runs) == 1:
        return runs[0]
    row = {k: statistics.median(r[k] for r in runs) for k, v in runs[0].items() if isinstance(v, int | float)}
    row["errors"] = {}
    for r in runs:
        for code, n in r["errors"].items():
            row["errors"][code] = row["errors"].get(code, 0) + n
    row["server_stage_p50_ms"] = runs[len(runs) // 2]["server_stage_p50_ms"]
    row["runs"] = runs
    return row


# ---------------------------------------------------------------------- cross-check with hey and wrk
def cross_check(server: Server, text: str, seconds: float, cpus: list[int] | None) -> dict:
    """One setting (closed loop, 8 connections, one fixed one-text body) measured by three clients."""
    import orjson

    pin = ["taskset", "-c", ",".join(map(str, cpus))] if cpus else []
    body = orjson.dumps({"texts": [text]})
    out: dict[str, dict] = {}
    got, _ = measure(server, [text], 1, seconds, concurrency=8)
    out["sieve loadgen"] = {"req_per_s": got.ok_per_s, "p50_ms": got.latency_ms.get("p50"),
                            "p99_ms": got.latency_ms.get("p99"), "errors": sum(got.errors.values())}
    with tempfile.TemporaryDirectory() as tmp:
        body_file = Path(tmp) / "body.json"
        body_file.write_bytes(body)
        if shutil.which("hey"):
            proc = subprocess.run([*pin, "hey", "-z", f"{seconds:g}s", "-c", "8", "-m", "POST", "-T",
                                   "application/json", "-D", str(body_file), f"{server.url}/predict"],
                                  capture_output=True, text=True, timeout=seconds + 120)
            text_out = proc.stdout
            rps = re.search(r"Requests/sec:\s+([\d.]+)", text_out)
            pct = dict(re.findall(r"(\d+)%% in ([\d.]+) secs".replace("%%", "%"), text_out))
            out["hey"] = {"req_per_s": float(rps.group(1)) if rps else None,
                          "p50_ms": float(pct["50"]) * 1000 if "50" in pct else None,
                          "p99_ms": float(pct["99"]) * 1000 if "99" in pct else None,
                          "non_200": _hey_non_200(text_out)}
        if shutil.which("wrk"):
            script = Path(tmp) / "post.lua"
            script.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                              f"wrk.body = [[{body.decode()}]]\n")
            whole = max(1, round(seconds))  # wrk takes whole seconds only
            proc = subprocess.run([*pin, "wrk", "-t1", "-c8", f"-d{whole}s", "--latency", "-s", str(script),
                                   f"{server.url}/predict"], capture_output=True, text=True, timeout=seconds + 120)
            text_out = proc.stdout
            rps = re.search(r"Requests/sec:\s+([\d.]+)", text_out)
            pct = {p: _wrk_ms(v) for p, v in re.findall(r"^\s+(50|99)%\s+(\S+)$", text_out, re.MULTILINE)}
            errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text_out)
            out["wrk"] = {"req_per_s": float(rps.group(1)) if rps else None, "p50_ms": pct.get("50"),
                          "p99_ms": pct.get("99"), "non_2xx": int(errors.group(1)) if errors else 0}
    return out


def _hey_non_200(text: str) -> int:
    codes = re.findall(r"\[(\d+)\]\s+(\d+) responses", text)
    return sum(int(n) for code, n in codes if code != "200")


def _wrk_ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


# ---------------------------------------------------------------------- main
def main() -> None:
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, help="seconds per measurement (default 8; quick 1.5)")
    p.add_argument("--pin", choices=("auto", "none"), default="auto",
                   help="auto: client on the last CPU, servers on the others (default); none: no pinning")
    p.add_argument("--servers", default="sieve,fastapi,serial", help="contenders (default: %(default)s)")
    p.add_argument("--cross-check", action="store_true", help="also measure one setting with hey and wrk")
    p.add_argument("--repeats", type=int, default=1, help="interleaved runs per setting; medians are reported")
    p.add_argument("--workloads", help="KIND:TEXTS_PER_REQUEST,... e.g. 128-token:1,tweets:8 (default: all four)")
    p.add_argument("--callers", help="closed-loop connections, e.g. 1,8,32 (default)")
    p.add_argument("--open", dest="fractions", help="open-loop rates as fractions of the serial rate at 8 callers, "
                                                    "e.g. 0.5,0.9,1.3 (default); 'none' for no open loop")
    args = p.parse_args()
    common.setup(args)
    quick = args.quick
    seconds = args.seconds or (1.5 if quick else 8.0)
    names = [n.strip() for n in args.servers.split(",") if n.strip()]
    if "fastapi" in names and not all(importlib.util.find_spec(m) for m in ("fastapi", "transformers")):
        print("fastapi peer left out: it needs the bench extra (pip install -e '.[bench]')", flush=True)
        names.remove("fastapi")
    cpus = sorted(os.sched_getaffinity(0))
    server_cpus = client_cpus = None
    if args.pin == "auto" and len(cpus) >= 2:
        server_cpus, client_cpus = cpus[:-1], cpus[-1:]
        os.sched_setaffinity(0, client_cpus)
    threads = args.threads or (len(server_cpus) if server_cpus else 0)
    load_before = os.getloadavg()

    workloads = [("tweets", 1), ("tweets", 8), ("128-token", 1), ("128-token", 8)]
    closed = [1, 8, 32]
    fractions = [0.5, 0.9, 1.3]
    if quick:
        workloads, closed, fractions = [("tweets", 1), ("128-token", 8)], [1, 8], [0.9]
    if args.workloads:
        workloads = [(k, int(n)) for k, n in (w.split(":") for w in args.workloads.split(","))]
    if args.callers:
        closed = [int(c) for c in args.callers.split(",")]
    if args.fractions:
        fractions = [] if args.fractions == "none" else [float(f) for f in args.fractions.split(",")]
    texts = {"tweets": short_texts(2000)}
    if any(kind == "128-token" for kind, _ in workloads):
        texts["128-token"] = long_texts_128(args.model, 300 if quick else 1000)

    print(f"pinning: servers on CPU {server_cpus or 'any'}, client on CPU {client_cpus or 'any'}; "
          f"ORT threads {threads or 'default'}; {seconds:g} s per measurement; load average before "
          f"{load_before[0]:.2f}", flush=True)
    servers: dict[str, Server] = {}
    try:
        for name in names:  # one at a time, so each cold start has the machine to itself
            servers[name] = launch(name, args.model, threads, server_cpus, args.provider)
            print(f"{name}: cold start {servers[name].cold_start_s:.2f} s", flush=True)
        results: dict[str, dict] = {}
        rows = []
        for kind, per_request in workloads:
            pool = texts[kind]
            for server in servers.values():  # warm-up, not recorded
                measure(server, pool, per_request, min(1.0, seconds), concurrency=4)
            idle = {name: sorted(probe_ms(server) for _ in range(5))[2] for name, server in servers.items()}
            settings = [("closed", c) for c in closed]
            for mode, level in settings + [("open", f) for f in fractions]:
                if mode == "open":
                    ref = 8 if 8 in closed else max(closed)
                    base = results.get(f"{kind}/{per_request}/closed/{ref}/serial") or next(
                        v for k, v in results.items() if k.startswith(f"{kind}/{per_request}/closed/{ref}/"))
                    level = round(level * base["req_per_s"], 1)
                runs: dict[str, list[dict]] = {name: [] for name in names}
                for repeat in range(args.repeats):  # interleaved, rotating who goes first, so drift hits all alike
                    shift = (len(rows) + repeat) % len(names)
                    for name in names[shift:] + names[:shift]:
                        report, cpu_ms = (measure(servers[name], pool, per_request, seconds, concurrency=level)
                                          if mode == "closed" else measure(servers[name], pool, per_request, seconds,
                                                                           rate=level))
                        runs[name].append(summary_row(report, cpu_ms))
                        waited = settle(servers[name], idle[name])
                        if waited > 1.0:
                            print(f"  ({name} needed {waited:.0f} s to finish work left from that run)", flush=True)
                        runs[name][-1]["settle_s"] = waited
                for name in names:
                    row = median_row(runs[name])
                    results[f"{kind}/{per_request}/{mode}/{level}/{name}"] = row
                    rows.append([kind, per_request, f"{mode} {level}{'' if mode == 'closed' else '/s'}", name,
                                 row["req_per_s"], row["texts_per_s"], row["p50_ms"], row["p90_ms"], row["p99_ms"],
                                 sum(row["errors"].values()), row["server_cpu_ms_per_request"]])
                    print("  ".join(str(c) if not isinstance(c, float) else f"{c:.2f}" for c in rows[-1]), flush=True)
        for server in servers.values():
            server.rss_mb.update(rss_mb(server.proc.pid))
        crosscheck = None
        if args.cross_check and "sieve" in servers:
            crosscheck = cross_check(servers["sieve"], texts["tweets"][0], seconds, client_cpus)
    finally:
        for server in servers.values():
            stop(server)
    load_after = os.getloadavg()

    print(f"\n{seconds:g} s per measurement, median of {args.repeats}; load average {load_before[0]:.2f} before, "
          f"{load_after[0]:.2f} after\n")
    print(table(["texts", "per request", "load", "server", "req/s", "texts/s", "p50 ms", "p90 ms", "p99 ms", "errors",
                 "server CPU ms/request"], rows))
    ratios = headline(results, servers, workloads, closed)
    print()
    print(table(["target", "measured", "goal"], ratios))
    if crosscheck:
        print("\ncross-check, sieve serve, closed loop 8, one tweet per request:\n")
        print(table(["client", "req/s", "p50 ms", "p99 ms"],
                    [[k, v.get("req_per_s"), v.get("p50_ms"), v.get("p99_ms")] for k, v in crosscheck.items()]))
    save("serve", {"seconds": seconds, "repeats": args.repeats, "threads": threads, "pinning": {"servers": server_cpus, "client": client_cpus},
                   "load_average_before": load_before, "load_average_after": load_after, "model": args.model,
                   "servers": {n: {"cold_start_s": s.cold_start_s, **s.rss_mb} for n, s in servers.items()},
                   "results": results, "headline": ratios, "cross_check": crosscheck}, args.json)


def headline(results: dict, servers: dict[str, Server], workloads, closed) -> list[list]:  # noqa: ANN001
    """The issue's targets as ratios of this run's figures."""
    out = []

    def get(kind, per, mode, level, name):  # noqa: ANN001, ANN202
        return results.get(f"{kind}/{per}/{mode}/{level}/{name}")

    top = max(closed)
    for kind, per in workloads:
        s, f = get(kind, per, "closed", top, "sieve"), get(kind, per, "closed", top, "fastapi")
        if s and f:
            out.append([f"{kind} ×{per}: throughput vs FastAPI, {top} callers",
                        f"{s['req_per_s'] / f['req_per_s']:.2f}×", "≥ 1.4×"])
            out.append([f"{kind} ×{per}: server CPU per request vs FastAPI, {top} callers",
                        f"{s['server_cpu_ms_per_request'] / f['server_cpu_ms_per_request']:.2f}×", "(lower is better)"])
        s8, f8 = get(kind, per, "closed", 8, "sieve"), get(kind, per, "closed", 8, "fastapi")
        if s8 and f8:
            out.append([f"{kind} ×{per}: p99 vs FastAPI, 8 callers", f"{s8['p99_ms'] / f8['p99_ms']:.2f}×", "≤ 0.64×"])
        s1, b1 = get(kind, per, "closed", 1, "sieve"), get(kind, per, "closed", 1, "serial")
        if s1 and b1:
            out.append([f"{kind} ×{per}: p50 vs batch-1 serial, 1 caller", f"{s1['p50_ms'] / b1['p50_ms']:.2f}×",
                        "≤ 1.10×"])
        for c in closed[1:]:
            sc, bc = get(kind, per, "closed", c, "sieve"), get(kind, per, "closed", c, "serial")
            if sc and bc:
                out.append([f"{kind} ×{per}: throughput vs batch-1 serial, {c} callers",
                            f"{sc['req_per_s'] / bc['req_per_s']:.2f}× (server CPU per request "
                            f"{sc['server_cpu_ms_per_request'] / bc['server_cpu_ms_per_request']:.2f}×)", "≥ 1.0×"])
    if "sieve" in servers and "fastapi" in servers:
        s, f = servers["sieve"], servers["fastapi"]
        out.append(["RSS after load vs FastAPI", f"{s.rss_mb['rss_mb'] / f.rss_mb['rss_mb']:.2f}× "
                    f"({s.rss_mb['rss_mb']:.0f} vs {f.rss_mb['rss_mb']:.0f} MB; at start "
                    f"{s.rss_mb['rss_at_start_mb']:.0f} vs {f.rss_mb['rss_at_start_mb']:.0f} MB)", "≤ 0.5×"])
        out.append(["cold start vs FastAPI", f"{s.cold_start_s / f.cold_start_s:.2f}× "
                    f"({s.cold_start_s:.2f} vs {f.cold_start_s:.2f} s)", "≤ 0.25×"])
    return out


if __name__ == "__main__":
    main()
