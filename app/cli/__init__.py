"""The ``sieve`` command: no subcommand opens the desktop app; ``score``, ``info``, ``bench``, ``export``, ``doctor``,
``compare``, ``merge``, ``serve`` and ``loadgen`` run headless.

Exit codes: 0 success, 2 bad input or a machine problem such as a full disk (one sentence on stderr, no traceback),
1 internal error, 130 interrupted (Ctrl+C).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from .. import __version__
from ..engine.errors import InputError, SieveError
from ..paths import default_model_dir
from .serve import add_commands as add_serve_commands

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
PROVIDER_CHOICES = ("auto", "cpu", "cuda", "tensorrt")
# sieve score sorts 4,096 rows at a time, not the engine's 1,024 (which the window keeps for early results): on 38k
# tweets that pads 0.8% more tokens than sorting the whole file, against 3.1% with 1,024-row windows, and a file is
# still streamed in constant memory (benchmarks/whole_process.py, docs/PERFORMANCE.md section 7).
SCORE_WINDOW = 4096
log = logging.getLogger("sieve")


# ---------------------------------------------------------------------- argument parsing
def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be 1 or more")
    return value


def _window_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 1280x800") from None
    if w < 320 or h < 240:
        raise argparse.ArgumentTypeError(f"{text} is too small: the window needs at least 320x240")
    return w, h


def _shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not I/N (e.g. 2/8 for the second of eight shards)") from None
    if not 1 <= i <= n:
        raise argparse.ArgumentTypeError(f"{text!r}: I must be between 1 and N")
    return i, n


def _ray_address(text: str) -> str:
    host, sep, port = text.split("://", 1)[-1].rstrip("/").rpartition(":")
    if text in ("auto", "local") or (sep and host and port.isdigit()):
        return text
    raise argparse.ArgumentTypeError(f"{text!r} is not a Ray address (auto, or HOST:PORT of the head node); "
                                     "put --ray after the inputs, or write --ray=ADDRESS")


def _int_list(text: str) -> list[int]:
    return [_positive(part) for part in text.replace(",", " ").split()]


def _model_options(p: argparse.ArgumentParser, *, gpu: bool = True) -> None:
    p.add_argument("--model", "-m", metavar="DIR",
                   help="model folder (model.onnx + tokenizer.json [+ config.json]) or .onnx file; "
                        "default: the embedded sentiment model")
    p.add_argument("--provider", choices=PROVIDER_CHOICES, default="auto",
                   help="execution provider: auto = CUDA when it works, else CPU; tensorrt = TensorRT when installed, "
                        "else CUDA (default: %(default)s)")
    p.add_argument("--threads", type=int, default=0, metavar="N",
                   help="ONNX Runtime intra-op threads; 0 = one per physical core (default)")
    if gpu:
        _gpu_options(p)


def _gpu_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--io-binding", choices=("auto", "on", "off"), default="auto",
                   help="bind inputs and outputs to the device (auto: on GPU runs only; default: %(default)s)")
    p.add_argument("--warmup", choices=("auto", "on", "off"), default="auto",
                   help="run the batch shapes the planner will use once at load (auto: on GPU runs only; "
                        "default: %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sieve",
        description="Score texts with an ONNX text classifier. With no command, opens the desktop app.",
        epilog="Run 'sieve COMMAND --help' for a command's options. Exit codes: 0 ok; 2 bad input, or a machine "
               "problem such as a read-only folder or a full disk (one sentence on stderr); 1 internal error; "
               "130 interrupted (Ctrl+C).",
    )
    parser.add_argument("--version", action="version", version=f"sieve {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("--model", "-m", metavar="DIR", help="model to open in the app (default: embedded model)")
    parser.add_argument("--provider", choices=PROVIDER_CHOICES, default="auto", help=argparse.SUPPRESS)
    parser.add_argument("--selftest", metavar="OUT.png",
                        help="open the app, score the bundled samples, save a screenshot and OUT.json (what the "
                             "window showed), exit 0 if all rows got a label")
    parser.add_argument("--size", type=_window_size, metavar="WxH",
                        help="window size in pixels, e.g. 1280x800 (default: fits the screen)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    score = sub.add_parser("score", help="score files of texts", description=(
        "Score .txt (one text per line), .csv/.tsv (a text column) or .jsonl (a text field) files. Writes the "
        "input's fields plus label, confidence, one score column per label, truncated and error, in input order."))
    score.add_argument("inputs", nargs="+", metavar="INPUT",
                       help="files or folders to score ('-': texts from standard input, one per line); a folder's "
                            "earlier outputs (*.scored.*) are skipped")
    score.add_argument("-o", "--output", metavar="OUT",
                       help="output file (.csv, .tsv or .jsonl), '-' for stdout, or a folder for several inputs; "
                            "default: INPUT.scored.csv (or .jsonl for .jsonl input) beside each input, "
                            "NAME.EXT.scored.csv when two inputs would share a name; stdout for '-' input")
    score.add_argument("--column", metavar="NAME", help="CSV/TSV text column (name or 0-based index); default: 'text'")
    score.add_argument("--field", metavar="NAME", help="JSONL text field (default: text)")
    score.add_argument("--format", choices=("csv", "tsv", "jsonl"),
                       help="output format when writing to stdout or a folder (an output file's name decides its own)")
    _model_options(score)
    score.add_argument("--batch-size", type=_positive, default=32, metavar="N", help="max texts per batch (default: %(default)s)")
    score.add_argument("--max-tokens", type=_positive, default=8192, metavar="N",
                       help="max padded tokens per batch, rows × longest row (default: %(default)s)")
    score.add_argument("--max-length", type=_positive, metavar="N",
                       help="truncate texts to N tokens (default: the tokenizer's setting, else 512)")
    score.add_argument("--window", type=_positive, default=SCORE_WINDOW, metavar="N",
                       help="rows sorted by length together before batching (default: %(default)s)")
    score.add_argument("--encoding", default="utf-8", help="input text encoding (default: %(default)s)")
    score.add_argument("--strict-decoding", action="store_true",
                       help="stop at the first undecodable line instead of replacing its bad bytes")
    score.add_argument("--resume", action="store_true",
                       help="continue an interrupted run from its kept partial output")
    score.add_argument("--stats", metavar="FILE.csv", help="also write the per-batch timing records as CSV")
    score.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    scale = score.add_argument_group("scale out", "Same output as a local run, byte for byte; see docs/SCALE.md.")
    scale.add_argument("--ray", nargs="?", const="local", type=_ray_address, metavar="ADDRESS",
                       help="score on Ray Data: alone, start a Ray on this machine for the run; 'auto' or HOST:PORT "
                            "joins a running cluster (needs the ray extra: pip install -e '.[ray]')")
    scale.add_argument("--actors", type=_positive, metavar="N",
                       help="with --ray: scoring actors, each loading the model once (default: one per GPU with "
                            "CUDA, else one per CPU; each uses --threads CPUs, 1 by default)")
    scale.add_argument("--shard", type=_shard, metavar="I/N",
                       help="score only shard I of N (no Ray needed): blocks of --window rows, every N-th from "
                            "block I, into OUT.part-I-of-N; join the N parts with sieve merge")

    info = sub.add_parser("info", help="describe a model: inputs, outputs, labels, providers")
    _model_options(info)
    info.add_argument("--json", action="store_true", help="print the model card as JSON")

    bench = sub.add_parser("bench", help="latency/throughput sweep: batch sizes × sequence lengths × providers")
    _model_options(bench, gpu=False)
    bench.add_argument("--batch-sizes", type=_int_list, default=[1, 8, 32], metavar="LIST",
                       help="comma-separated batch sizes (default: 1,8,32)")
    bench.add_argument("--seq-lens", type=_int_list, default=[16, 64, 128], metavar="LIST",
                       help="comma-separated sequence lengths in tokens (default: 16,64,128)")
    bench.add_argument("--providers", default=None, metavar="LIST",
                       help="comma-separated providers to measure: cpu, cuda, tensorrt (default: cpu, plus cuda when "
                            "present)")
    bench.add_argument("--repeats", type=_positive, default=10, metavar="N", help="timed runs per point (default: %(default)s)")
    bench.add_argument("--warmup", type=int, default=2, metavar="N", help="untimed runs per point (default: %(default)s)")
    bench.add_argument("--json", metavar="OUT", help="also write the sweep and machine facts as JSON")

    merge = sub.add_parser("merge", help="join the parts of a sieve score --shard run into one output",
                           description="Join the parts written by sieve score --shard I/N into the file an unsharded "
                                       "run writes. Refuses missing, incomplete or mismatched parts.")
    merge.add_argument("parts", nargs="+", metavar="PART", help="part files (OUT.part-I-of-N), all N of them")
    merge.add_argument("-o", "--output", metavar="OUT",
                       help="output file, or a folder (default: the unsharded output's name, beside the first part)")
    merge.add_argument("-q", "--quiet", action="store_true", help="no summary line")

    export = sub.add_parser("export", help="export a HuggingFace sequence-classification checkpoint to a Sieve bundle",
                            description="Needs the export extra: pip install 'sieve[export]'. Prints how closely "
                                        "ONNX Runtime matches PyTorch (label agreement, max |Δprob|).")
    export.add_argument("checkpoint", metavar="CHECKPOINT_DIR", help="folder saved with save_pretrained")
    export.add_argument("out", metavar="OUT_DIR", help="folder to write model.onnx, tokenizer.json, config.json into")
    export.add_argument("--precision", choices=("fp32", "fp16", "int8"), default=None,
                        help="fp32 (default); fp16 for GPUs: attention, layer-norm and GELU fusion by ONNX Runtime's "
                             "transformer optimizer, then float16 with float32 inputs and outputs (BERT-family "
                             "models); int8: dynamic quantization, for CPUs")
    export.add_argument("--quantize", choices=("int8",), help="same as --precision int8 (older spelling)")
    export.add_argument("--opset", type=_positive, default=17, help="ONNX opset (default: %(default)s)")

    doctor = sub.add_parser("doctor", help="what a CUDA run needs, what this machine has, and how to fix each gap",
                            description="Checks the onnxruntime build, the NVIDIA driver and GPU, the CUDA and cuDNN "
                                        "libraries by name, onnxruntime.preload_dlls(), the CUDA provider library, "
                                        "TensorRT (optional), and which provider a real session gets; prints the "
                                        "exact command that fixes each gap.")
    doctor.add_argument("--model", "-m", metavar="DIR", help="model for the test session (default: the embedded one)")
    doctor.add_argument("--json", action="store_true", help="print the report as JSON")

    compare = sub.add_parser(
        "compare", help="compare two models, or one model on two providers: labels, |Δprob|, flips, speed",
        description="Scores the same texts with A and B and prints label agreement, max and mean |Δprob|, the "
                    "texts whose label flips, and each side's speed. Give two model folders (e.g. an fp32 and an "
                    "fp16 export), or one model and --providers cpu,cuda.")
    compare.add_argument("models", nargs="*", metavar="MODEL",
                         help="one or two model folders (default: the embedded model)")
    compare.add_argument("--texts", metavar="FILE",
                         help=".txt, .csv/.tsv or .jsonl file of texts (default: the bundled sample texts)")
    compare.add_argument("--column", metavar="NAME", help="CSV/TSV text column (default: 'text')")
    compare.add_argument("--field", metavar="NAME", help="JSONL text field (default: text)")
    compare.add_argument("--providers", default=None, metavar="A[,B]",
                         help="provider of A and of B (cpu, cuda, tensorrt, auto); one value applies to both "
                              "(default: auto)")
    compare.add_argument("--threads", type=int, default=0, metavar="N", help="ONNX Runtime intra-op threads")
    compare.add_argument("--limit", type=_positive, default=5000, metavar="N",
                         help="compare on the first N texts (default: %(default)s)")
    compare.add_argument("--repeats", type=_positive, default=1, metavar="N",
                         help="timed runs per side, alternating (default: %(default)s)")
    compare.add_argument("--show", type=int, default=10, metavar="N", help="flipped texts to print (default: 10)")
    compare.add_argument("--json", metavar="OUT", help="also write the comparison (every flip) as JSON")
    _gpu_options(compare)
    parser.set_defaults(extra_handlers=add_serve_commands(sub))
    return parser


# ---------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    _cover_closed_standard_streams()
    try:
        return _main(argv)
    finally:
        _settle_stdout()


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="sieve: %(levelname)s: %(message)s")
    handlers = {"score": cmd_score, "info": cmd_info, "bench": cmd_bench, "export": cmd_export,
                "doctor": cmd_doctor, "compare": cmd_compare, "merge": cmd_merge, **args.extra_handlers}
    try:
        if threading.current_thread() is threading.main_thread():  # from here on, Ctrl+C is a KeyboardInterrupt
            signal.signal(signal.SIGINT, _interrupt)
        if args.command is None:
            from ..ui import run_gui

            return run_gui(model=args.model, selftest=args.selftest, provider=args.provider, size=args.size)
        return handlers[args.command](args)
    except SieveError as exc:
        if args.debug:
            log.exception("bad input")
        print(f"sieve: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("sieve: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # e.g. `sieve score … -o - | head`
        return EXIT_OK
    except Exception as exc:
        if _caused_by_ctrl_c(exc):  # e.g. a native module's init turns the KeyboardInterrupt into an ImportError
            print("sieve: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        if isinstance(exc, OSError) and exc.errno in _MACHINE_ERRORS:
            if args.debug:
                log.exception("operating-system error")
            where = f" ({exc.filename})" if exc.filename else ""
            print(f"sieve: the system refused a file operation: {exc.strerror}{where}. Check the disk and the "
                  "folder's permissions, then run again.", file=sys.stderr)
            return EXIT_BAD_INPUT
        if args.debug:
            log.exception("internal error")
        else:
            print(f"sieve: internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
                  file=sys.stderr)
        return EXIT_INTERNAL


# Failures of the machine, not of Sieve: a sentence and exit 2 (outputs already say more, see engine.io).
_MACHINE_ERRORS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EROFS, errno.EACCES, errno.EPERM,
                   errno.EIO, errno.EFBIG, errno.EMFILE, errno.ENFILE}


_ctrl_c_seen = threading.Event()


def _interrupt(signum: int, frame: object) -> None:
    """Python's own Ctrl+C handler, remembering that it ran: a native module's init (numpy's, onnxruntime's) can
    turn the KeyboardInterrupt into an unrelated ImportError without chaining it."""
    _ctrl_c_seen.set()
    raise KeyboardInterrupt


def _caused_by_ctrl_c(exc: BaseException) -> bool:
    if _ctrl_c_seen.is_set():
        return True
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, KeyboardInterrupt):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _cover_closed_standard_streams() -> None:
    """Put the null device on a closed stdin/stdout/stderr descriptor.

    Otherwise the next file Sieve opens would get that number, and anything printed (by Sieve or a library) would
    land in it. ``sys.stdout`` stays ``None``, so ``-o -`` still reports that standard output is closed.
    """
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


def _settle_stdout() -> None:
    """Flush stdout now; if it cannot take the data (``> /dev/full``), drop it, so exit prints no second error."""
    if sys.stdout is None:
        return
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _load(args: argparse.Namespace, **kwargs):  # noqa: ANN202 - returns a Classifier
    from ..engine import Classifier

    return Classifier.load(args.model or default_model_dir(), provider=args.provider, threads=args.threads,
                           io_binding=args.io_binding, warmup=args.warmup, **kwargs)


def cmd_info(args: argparse.Namespace) -> int:
    card = _load(args).card()
    if args.json:
        print(json.dumps(card.as_dict(), indent=2))
        return EXIT_OK
    rows = [
        ("model", f"{card.name} ({card.path}, {card.size_bytes / 1e6:.1f} MB, sha256 {card.short_hash})"),
        ("format", f"ONNX IR {card.ir_version}, opset {card.opset}, produced by {card.producer or 'unknown'}"),
        ("weights", card.quantization + ("" if card.batch_invariant else "; scores depend on batch-mates")),
        ("labels", ", ".join(card.labels) + f" ({card.problem_type})"),
        ("inputs", "; ".join(f"{n} {t} {list(s)}" for n, t, s in card.inputs)),
        ("outputs", "; ".join(f"{n} {t} {list(s)}" for n, t, s in card.outputs) + f"  [scores from {card.logits_output}]"),
        ("tokenizer", f"{card.vocab_size} tokens, truncation at {card.max_length}"),
        ("providers", "available: " + ", ".join(card.providers_available)),
        ("in use", ", ".join(card.providers_in_use) + f" ({card.device})"),
        ("io binding", "on (inputs copied once per batch, output bound)" if card.io_binding else "off"),
        ("warm-up", f"{card.warmup_shapes} batch shapes in {card.warmup_ms:,.0f} ms" if card.warmup_ms is not None
         else "not run (runs on GPU sessions; --warmup on to run it here)"),
    ]
    if card.cuda_fallback_reason:
        rows.append(("CUDA", "not used: " + card.cuda_fallback_reason))
    rows += [("note", note) for note in card.notes]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:>{width}}  {value}")
    return EXIT_OK


def cmd_bench(args: argparse.Namespace) -> int:
    from ..engine import ModelBundle
    from ..engine.session import cuda_unavailable_reason
    from ..engine.sweep import SweepPlan, format_table, machine_info, run_sweep

    if args.providers:
        providers = [p.strip().lower() for p in args.providers.split(",") if p.strip()]
        unknown = [p for p in providers if p not in ("cpu", "cuda", "tensorrt")]
        if unknown:
            raise InputError(f"Unknown provider {unknown[0]!r}", "Use cpu, cuda and/or tensorrt")
    else:
        providers = ["cpu"] if cuda_unavailable_reason() else ["cuda", "cpu"]
    bundle = ModelBundle.from_path(args.model or default_model_dir())
    plan = SweepPlan(args.batch_sizes, args.seq_lens, tuple(providers), warmup=args.warmup, repeats=args.repeats,
                     threads=args.threads)
    lines = format_table([])
    print(f"{bundle.name}: {plan.points} points, {plan.warmup} warm-up + up to {plan.repeats} timed runs each",
          file=sys.stderr)
    print(lines[0], lines[1], sep="\n", flush=True)
    points = run_sweep(bundle, plan, on_point=lambda p: print(format_table([p])[2], flush=True))
    if args.json:
        from ..engine.io import atomic_path

        payload = {"model": str(bundle.model_path), "machine": machine_info(), "threads": args.threads,
                   "points": [p.as_dict() for p in points]}
        with atomic_path(Path(args.json)) as tmp:
            tmp.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from ..export import export_checkpoint

    if args.quantize and args.precision not in (None, args.quantize):
        raise InputError(f"--quantize {args.quantize} and --precision {args.precision} disagree",
                         "Give only --precision")
    report = export_checkpoint(args.checkpoint, args.out, precision=args.precision or args.quantize or "fp32",
                               opset=args.opset, progress=lambda msg: print(msg, file=sys.stderr, flush=True))
    for line in report.lines():
        print(line)
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    from ..engine.doctor import run_doctor

    report = run_doctor(args.model)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        for line in report.lines():
            print(line)
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    from ..engine import Classifier
    from ..engine.compare import compare

    models = args.models or [str(default_model_dir())]
    if len(models) > 2:
        raise InputError(f"compare takes one or two models, not {len(models)}", "Give A and B, or one model and "
                         "--providers cpu,cuda")
    providers = [p.strip().lower() for p in (args.providers or "auto").split(",") if p.strip()] or ["auto"]
    unknown = [p for p in providers if p not in PROVIDER_CHOICES]
    if unknown or len(providers) > 2:
        raise InputError(f"--providers takes one or two of {', '.join(PROVIDER_CHOICES)}, not {args.providers!r}",
                         "For example --providers cpu,cuda")
    if len(models) == 1 and len(providers) == 1:
        raise InputError("compare needs two sides: two models, or one model on two providers",
                         "Give a second model, or --providers cpu,cuda")
    pair_models = models if len(models) == 2 else models * 2
    pair_providers = providers if len(providers) == 2 else providers * 2
    sides = []
    for title, model, provider in zip("AB", pair_models, pair_providers, strict=True):
        clf = Classifier.load(model, provider=provider, threads=args.threads, io_binding=args.io_binding,
                              warmup=args.warmup)
        p = clf.session.providers
        if provider in ("cuda", "tensorrt") and p.device != "CUDA":
            raise InputError(f"{title} was to run on {provider.upper() if provider == 'cuda' else 'TensorRT'}, but "
                             f"CUDA is not usable here: {p.fallback_reason}",
                             "Run sieve doctor to see what is missing and the command that installs it")
        sides.append(clf)
    texts = _compare_texts(args)
    print(f"comparing on {len(texts):,} texts", file=sys.stderr, flush=True)
    result = compare(sides[0], sides[1], texts, repeats=args.repeats)
    for line in result.lines(show=max(0, args.show)):
        print(line)
    if args.json:
        from ..engine.io import atomic_path

        with atomic_path(Path(args.json)) as tmp:
            tmp.write_text(json.dumps(result.as_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
    return EXIT_OK


def _compare_texts(args: argparse.Namespace) -> list[str]:
    from itertools import islice

    from ..engine import open_source
    from ..paths import samples_dir

    if args.texts:
        sources = [open_source(args.texts, column=args.column, field=args.field)]
    else:
        sources = [open_source(p) for p in sorted(samples_dir().iterdir()) if p.suffix in (".txt", ".csv", ".jsonl")]
    texts: list[str] = []
    for source in sources:
        texts += [row.text for row in islice(iter(source), args.limit - len(texts)) if row.text is not None]
    if not texts:
        raise InputError(f"{args.texts or samples_dir()} holds no texts to compare on",
                         "Give --texts a file with one text per line, or a CSV with a text column")
    return texts


def cmd_score(args: argparse.Namespace) -> int:
    if args.actors is not None and args.ray is None:
        raise InputError("--actors is for --ray runs", "Add --ray, or leave --actors out")
    if args.ray is not None or args.shard is not None:
        from .scale import score_scaled

        return score_scaled(args, _load, _policy)
    from .score import score_files

    return score_files(args, _load(args, max_length=args.max_length, policy=_policy(args)))


def cmd_merge(args: argparse.Namespace) -> int:
    from .scale import cmd_merge as merge

    return merge(args)


def _policy(args: argparse.Namespace):  # noqa: ANN202
    from ..engine import BatchPolicy

    return BatchPolicy(max_batch=args.batch_size, max_tokens=args.max_tokens, window=args.window)


