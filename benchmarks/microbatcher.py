"""3. Micro-batcher: C concurrent callers each sending one text at a time (closed loop), served either one request
per model call under a lock (the naive server) or through Sieve's micro-batcher: continuous (max wait 0, the
default: a lone request runs at once) and with a fixed max wait.

    python benchmarks/microbatcher.py [--quick] [--model DIR] [--threads N]
"""

from __future__ import annotations

import threading
import time

import common
import numpy as np
from common import save, short_texts, table

from app.engine import BatchPolicy, Classifier


def closed_loop(call, texts: list[str], clients: int, seconds: float) -> dict:
    """Each client sends its next text as soon as the previous answer arrives; returns throughput and latency."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    stop = time.perf_counter() + seconds
    start_gate = threading.Barrier(clients + 1)

    def client(i: int) -> None:
        start_gate.wait()
        k = i
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            call(texts[k % len(texts)])
            latencies[i].append((time.perf_counter() - t0) * 1000.0)
            k += clients

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    start_gate.wait()
    t_start = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t_start
    lat = np.concatenate([np.asarray(x) for x in latencies])
    p50, p99 = np.percentile(lat, [50, 99])
    return {"requests": len(lat), "req_per_s": len(lat) / elapsed, "p50_ms": float(p50), "p99_ms": float(p99)}


def main() -> None:
    p = common.parser(__doc__)
    p.add_argument("--clients", help="concurrent callers to try (default: 1,4,8,32; quick: 1,8)")
    p.add_argument("--waits", help="micro-batcher max-wait values in ms, 0 = continuous (default: 0,2,5; quick: 0)")
    p.add_argument("--workers", type=int, default=2, help="batches run side by side in the pooled setup (default: 2)")
    args = p.parse_args()
    common.setup(args)
    seconds = 3.0 if args.quick else 8.0
    clients_list = [int(x) for x in (args.clients or ("1,8" if args.quick else "1,4,8,32")).split(",")]
    waits = [float(x) for x in (args.waits or ("0" if args.quick else "0,2,5")).split(",")]
    texts = short_texts(2000)
    # The naive server uses ORT's default threading; the pooled setup runs `workers` single-threaded batches at once.
    clf = Classifier.load(args.model, provider=args.provider, threads=args.threads, io_binding=args.io_binding)
    pooled = Classifier.load(args.model, provider=args.provider, threads=1, io_binding=args.io_binding)
    # The same micro-batcher with the planner's padding floor off: each collected micro-batch runs as one batch
    # padded to its longest text (Sieve before min_fill), for a before/after in the same run.
    one_batch = Classifier.load(args.model, provider=args.provider, threads=args.threads,
                                policy=BatchPolicy(min_fill=0.0))
    for c in (clf, pooled, one_batch):
        c.predict(texts[:64])  # warm-up
    lock = threading.Lock()

    def serial(text: str) -> None:  # one request, one model call, one at a time
        with lock:
            clf.score([text])

    def label(w: float) -> str:
        return "continuous" if w == 0 else f"wait {w:g} ms"

    setups = [(f"micro-batcher, {label(w)}", clf, 1, w) for w in waits]
    setups += [(f"micro-batcher, min_fill 0 (one padded batch per cut), {label(waits[0])}", one_batch, 1,
                waits[0])]
    setups += [(f"micro-batcher x{args.workers} workers (1 thread each), {label(w)}", pooled, args.workers, w)
               for w in waits]
    results: dict[str, dict] = {}
    rows = []
    for clients in clients_list:
        base = closed_loop(serial, texts, clients, seconds)
        results[f"{clients}/batch-1 serial"] = base
        rows.append([clients, "batch-1 serial (one lock)", base["req_per_s"], base["p50_ms"], base["p99_ms"], 1.0, 1.0])
        for name, model, workers, wait in setups:
            with model.batcher(max_batch=32, max_wait_ms=wait, workers=workers) as mb:
                got = closed_loop(lambda t, mb=mb: mb.predict([t]), texts, clients, seconds)
            results[f"{clients}/{name}"] = got
            rows.append([clients, name, got["req_per_s"], got["p50_ms"], got["p99_ms"],
                         got["req_per_s"] / base["req_per_s"], got["p99_ms"] / base["p99_ms"]])
    print(f"closed loop, {seconds:g} s per configuration, max batch 32, "
          f"serial/single-worker threads={args.threads or 'ORT default'}\n")
    print(table(["callers", "server", "requests/s", "p50 ms", "p99 ms", "throughput vs serial", "p99 vs serial"],
                rows))
    save("microbatcher", {"seconds_per_config": seconds, "threads": args.threads, "workers": args.workers,
                          "model": args.model, "results": results}, args.json)


if __name__ == "__main__":
    main()
