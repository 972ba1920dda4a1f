"""``sieve serve`` and ``sieve loadgen``: their options here, their work in ``app/serve`` (imported only when run)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from ..engine.errors import InputError

API_KEY_ENV = "SIEVE_API_KEY"


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (0-65535; 0 picks a free one)")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text} must be 0 or more")
    return value


def _positive_float(text: str) -> float:
    value = _non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def add_commands(sub: argparse._SubParsersAction) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Register ``serve`` and ``loadgen`` on the ``sieve`` parser; returns their handlers by name."""
    # The package's own argument type, imported here because the package imports this module.
    from . import _positive

    serve = sub.add_parser(
        "serve", help="serve the model over HTTP (POST /predict, /health, /ready, /info, /metrics)",
        description="Serve a model over HTTP: POST /predict takes {\"texts\": [...]} (or TEI's {\"inputs\": ...}) and "
                    "answers {\"predictions\": [{\"label\", \"confidence\", \"scores\"}]} in request order. "
                    "Concurrent requests share batches; a lone request runs at once. SIGTERM or Ctrl+C answers "
                    "every request already taken, then exits 0.")
    serve.add_argument("--model", "-m", metavar="DIR", help="model folder or .onnx file (default: the embedded model)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument("--port", type=_port, default=8000, help="port (default: %(default)s; 0 picks a free one)")
    serve.add_argument("--provider", choices=("auto", "cpu", "cuda", "tensorrt"), default="auto",
                       help="execution provider: auto = CUDA when it works, else CPU; tensorrt only when asked "
                            "(default: %(default)s)")
    serve.add_argument("--threads", type=int, default=0, metavar="N",
                       help="ONNX Runtime intra-op threads; 0 = one per physical core (default)")
    serve.add_argument("--max-batch", type=_positive, default=32, metavar="N",
                       help="texts per model call at most (default: %(default)s)")
    serve.add_argument("--max-tokens", type=_positive, metavar="N",
                       help="padded tokens per model call at most, texts × longest text (default: 256 on the CPU, "
                            "where bigger calls are no faster per text, hold answers back and use more memory; "
                            "8192 on CUDA)")
    serve.add_argument("--max-wait-ms", type=_non_negative, default=0.0, metavar="MS",
                       help="hold a batch that is not full until its oldest request has waited this long "
                            "(default: 0 = never wait; batches form from requests that arrive while one runs)")
    serve.add_argument("--max-queue", type=_positive, default=512, metavar="N",
                       help="requests waiting for the model at most; more get 429 with Retry-After "
                            "(default: %(default)s)")
    serve.add_argument("--timeout-s", type=_positive_float, default=30.0, metavar="S",
                       help="a request still queued after this long gets 504 and is never computed "
                            "(default: %(default)s)")
    serve.add_argument("--max-texts", type=_positive, default=256, metavar="N",
                       help="texts per request at most; more get 413 (default: %(default)s)")
    serve.add_argument("--max-body-mb", type=_positive_float, default=4.0, metavar="MB",
                       help="request body size at most, in MiB; more gets 413 (default: %(default)s)")
    serve.add_argument("--api-key", metavar="KEY",
                       help=f"require 'Authorization: Bearer KEY' (default: ${API_KEY_ENV} if set, else no key); "
                            "/health and /ready stay open")
    serve.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                       help="allow browser requests from this origin (repeat for several; '*' for any)")

    load = sub.add_parser(
        "loadgen", help="load-test a server that speaks POST /predict {\"texts\": [...]}",
        description="Send load to URL (default path /predict) and report achieved vs offered rate, latency "
                    "percentiles, errors by status code and the server's stage times (x-*-time headers). "
                    "--rate R is an open loop: requests leave on schedule whatever the answers, and latency is "
                    "measured from each request's intended send time, so a stalled server cannot hide its stall. "
                    "--concurrency C is a closed loop: C connections, each sending its next request when the "
                    "previous is answered.")
    load.add_argument("url", metavar="URL", help="the server, e.g. http://127.0.0.1:8000 or .../predict")
    mode = load.add_mutually_exclusive_group()
    mode.add_argument("--rate", type=_positive_float, metavar="R", help="open loop: R requests per second")
    mode.add_argument("--concurrency", type=_positive, metavar="C",
                      help="closed loop: C connections (default when no --rate: 1)")
    load.add_argument("--poisson", action="store_true",
                      help="with --rate: exponential gaps between requests (Poisson arrivals) instead of even ones")
    load.add_argument("--duration", type=_positive_float, default=10.0, metavar="S",
                      help="seconds of load (default: %(default)s)")
    load.add_argument("--texts", metavar="FILE",
                      help=".txt/.csv/.tsv/.jsonl texts to send, cycled (default: the bundled sample tweets)")
    load.add_argument("--column", metavar="NAME", help="CSV/TSV text column or JSONL field (default: text)")
    load.add_argument("--per-request", type=_positive, default=1, metavar="N", help="texts per request (default: 1)")
    load.add_argument("--timeout-s", type=_positive_float, default=30.0, metavar="S",
                      help="give up on one request after this long (default: %(default)s)")
    load.add_argument("--api-key", metavar="KEY", help=f"send 'Authorization: Bearer KEY' (default: ${API_KEY_ENV})")
    load.add_argument("--json", metavar="OUT", help="also write the report (with per-second snapshots) as JSON")
    load.add_argument("-q", "--quiet", action="store_true", help="no per-second lines, only the final report")
    load.add_argument("--events", action="store_true",
                      help="for programs: write each second's snapshot and then the report as JSON lines on standard "
                           "output ({\"snapshot\": ...} ... {\"report\": ...}) instead of the text report")
    return {"serve": cmd_serve, "loadgen": cmd_loadgen}


def exit_with_parent() -> None:
    """With ``SIEVE_EXIT_WITH_PARENT=1``: stop as on Ctrl+C once standard input closes (the parent has ended).

    A program that starts ``sieve serve`` or ``sieve loadgen`` as its child (the window does) sets it and keeps the
    child's standard input open: when that program ends in any way, even killed, the pipe closes and the child
    stops, so no server or load is ever left running behind it.
    """
    import signal
    import threading

    from ..serve.local_server import EXIT_WITH_PARENT_ENV

    if os.environ.get(EXIT_WITH_PARENT_ENV) != "1" or sys.stdin is None:
        return
    fd = sys.stdin.fileno()

    def watch() -> None:  # os.read, not sys.stdin: a daemon thread in a buffered read aborts Python at exit
        try:
            while os.read(fd, 4096):
                pass
        except OSError:
            pass
        os.kill(os.getpid(), signal.SIGINT)  # serve: drain and exit; loadgen: cancel and report what was measured

    threading.Thread(target=watch, name="sieve-exit-with-parent", daemon=True).start()


def cmd_serve(args: argparse.Namespace) -> int:
    from ..serve.model_host import MiB, ServeOptions
    from ..serve.server import serve

    options = ServeOptions(
        model=args.model, provider=args.provider, threads=args.threads, max_batch=args.max_batch,
        max_tokens=args.max_tokens, max_wait_ms=args.max_wait_ms, max_queue=args.max_queue, timeout_s=args.timeout_s,
        max_texts=args.max_texts, max_body_bytes=int(args.max_body_mb * MiB),
        api_key=args.api_key or os.environ.get(API_KEY_ENV) or None, cors_origins=tuple(args.cors_origin),
        host=args.host, port=args.port)
    exit_with_parent()
    return serve(options)


def cmd_loadgen(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from ..engine.io import atomic_path
    from ..serve.loadgen import LoadPlan, load_texts, predict_url, run_load_blocking

    if args.poisson and not args.rate:
        raise InputError("--poisson needs --rate", "Give the mean rate, e.g. --rate 100 --poisson")
    plan = LoadPlan(url=predict_url(args.url), texts=tuple(load_texts(args.texts, args.column)),
                    per_request=args.per_request, rate=args.rate, poisson=args.poisson,
                    concurrency=None if args.rate else (args.concurrency or 1), duration_s=args.duration,
                    timeout_s=args.timeout_s, api_key=args.api_key or os.environ.get(API_KEY_ENV) or None)
    print(plan.describe(), file=sys.stderr, flush=True)
    exit_with_parent()
    if args.events:
        import orjson

        def show(snapshot) -> None:  # noqa: ANN001 - Snapshot
            sys.stdout.buffer.write(orjson.dumps({"snapshot": snapshot}) + b"\n")
            sys.stdout.flush()
    else:
        def show(snapshot) -> None:  # noqa: ANN001 - Snapshot
            if not args.quiet:
                print(snapshot.line(), file=sys.stderr, flush=True)
    report = run_load_blocking(plan, on_snapshot=show)
    if args.events:
        sys.stdout.buffer.write(orjson.dumps({"report": report.as_dict()}) + b"\n")
        sys.stdout.flush()
    else:
        for line in report.lines():
            print(line)
    if args.json:
        with atomic_path(Path(args.json)) as tmp:
            tmp.write_text(json.dumps(report.as_dict(), indent=2), encoding="utf-8")
    if report.sent and not report.ok:
        raise InputError(f"No request succeeded ({report.error_summary()})",
                         f"Check that a server answers POST {plan.url}")
    return 0
