"""``sieve score``: stream files through the classifier into CSV/JSONL, with progress, summary and resume.

The pieces, in the order a run uses them (each usable on its own):

- :func:`open_sources` — expand folders, open every input (or standard input) before any work;
- :func:`app.engine.outputs.plan_targets` — decide every output path, refusing clashes;
- :class:`app.engine.outputs.OutputLock` — one run per output at a time;
- :func:`score_target` — one input into one output, through :class:`Checkpoint` for ``--resume``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path

from .. import __version__
from ..engine import FAILED, Classifier, InputError, ResultWriter, SieveError, TextSource, open_source
from ..engine.errors import OutputError
from ..engine.io import (
    OutputColumns,
    SourceRow,
    atomic_path,
    expand_inputs,
    open_stdin,
    partial_path,
    remove_stale_temps,
)
from ..engine.outputs import OutputLock, Target, plan_targets
from ..engine.pipeline import ScoredChunk
from ..engine.wording import count

STDIN = "-"


class LocalScorer:
    """Scores the rows in this process: the default. ``--ray`` and ``--shard`` plug in their own (``app.cli.scale``)
    and keep everything else here: the planning, the locks, the writer, the resume record, the messages."""

    def __init__(self, clf: Classifier) -> None:
        self.clf = clf

    @property
    def device(self) -> str:
        """The device the rows are scored on (part of the resume record)."""
        return self.clf.session.providers.device

    def prepare(self, targets: list[Target]) -> list[Target]:
        """Called once the outputs are planned, before any is locked or written; may re-aim them."""
        return targets

    def stream(self, target: Target, rows: Iterator[SourceRow], done: int,
               on_batch: Callable[[int], None]) -> Iterator[ScoredChunk]:
        """The results for ``rows`` (the target's rows from row ``done`` on), in input order."""
        return self.clf.stream(rows, on_batch=on_batch)

    def written(self, target: Target, rows: int, size: int) -> None:
        """The output file holds ``rows`` rows in ``size`` bytes: once before the first chunk (its header, or what a
        resumed run kept), then after every chunk (files only, not standard output)."""

    def finished(self, target: Target) -> None:
        """The target's output is complete and in place."""


def score_files(args: argparse.Namespace, clf: Classifier, scorer: LocalScorer | None = None) -> int:
    scorer = scorer or LocalScorer(clf)
    sources, skipped = open_sources(args)
    targets = plan_targets(sources, args.output, args.format)
    _check_stats_path(args, targets)
    targets = scorer.prepare(targets)
    for note in skipped:  # after the checks above, so a refused run prints its one sentence alone
        _say(args, f"skipped {note}")
    failed = 0
    with contextlib.ExitStack() as locks:  # every output locked before the first row, released when all are done
        for target in targets:
            if target.path is not None:
                locks.enter_context(OutputLock(target.path))
        for target in targets:
            failed += score_target(target, clf, args, scorer)
    for notice in clf.notices:
        print(f"sieve: {notice}", file=sys.stderr)
    if not args.quiet:
        for line in clf.stats.summary().lines():
            print(f"sieve: {line}", file=sys.stderr)
    if failed:
        print(f"sieve: {count(failed, 'row')} could not be scored; their error column says why", file=sys.stderr)
    return 0


def open_sources(args: argparse.Namespace) -> tuple[list[TextSource], list[str]]:
    """Every input opened and checked (column, encoding) before any work, plus notes on skipped folder entries."""
    errors = "strict" if args.strict_decoding else "replace"
    if STDIN in args.inputs:
        if len(args.inputs) > 1:
            raise InputError("Standard input (-) can only be scored on its own", "Score the files in another run")
        if args.resume:
            raise InputError("--resume needs an input file: standard input cannot be read a second time",
                             "Run without --resume")
        return [open_stdin(encoding=args.encoding, errors=errors)], []
    files, skipped = expand_inputs(args.inputs)
    # Open every input first, so a wrong column in the third file is reported before an hour of work.
    sources = [open_source(f, column=args.column, field=args.field, encoding=args.encoding, errors=errors)
               for f in files]
    return sources, skipped


def _check_stats_path(args: argparse.Namespace, targets: list[Target]) -> None:
    if not args.stats:
        return
    stats = Path(args.stats).resolve()
    taken = {t.source.path.resolve() for t in targets if t.source.stream is None}
    taken |= {t.path.resolve() for t in targets if t.path is not None}
    if stats in taken:
        raise InputError(f"--stats {args.stats} names an input or output of this run", "Choose another file for --stats")


def score_target(target: Target, clf: Classifier, args: argparse.Namespace, scorer: LocalScorer | None = None) -> int:
    """Score one input into its output; return how many rows failed."""
    scorer = scorer or LocalScorer(clf)
    src = target.source
    rows = iter(src)
    done = 0
    columns = OutputColumns(tuple(clf.labels), tuple(src.columns))
    checkpoint = None
    if target.path is None:
        if sys.stdout is None:
            raise OutputError("Standard output is closed", "Redirect it to a file, or name an output file with -o")
        writer = ResultWriter(None, clf.labels, columns.input_columns, source_kind=src.kind, stream=sys.stdout,
                              kind=target.kind)
    elif src.stream is not None:  # standard input cannot be read again, so there is nothing to resume from
        writer = ResultWriter(target.path, clf.labels, columns.input_columns, source_kind=src.kind, kind=target.kind)
    else:
        partial = partial_path(target.path)
        checkpoint = Checkpoint(partial, run_identity(target, clf, columns, device=scorer.device))
        done = checkpoint.resume_from() if args.resume else checkpoint.start_fresh(lambda m: _say(args, m))
        rows = islice(rows, done, None)
        writer = ResultWriter(target.path, clf.labels, columns.input_columns, source_kind=src.kind, partial=partial,
                              append=done > 0, kind=target.kind)
    failed = 0
    bar = _progress_bar(src, done, args)
    try:
        with writer:
            if checkpoint is not None:
                scorer.written(target, done, writer.flush())
            for chunk in scorer.stream(target, rows, done, bar.update):
                writer.write(chunk.rows, chunk.probs, chunk.label_idx, chunk.truncated, chunk.errors)
                failed += int((chunk.label_idx == FAILED).sum())
                done += len(chunk)
                if checkpoint is not None:
                    size = writer.flush()
                    checkpoint.save(done, size)
                    scorer.written(target, done, size)
    except (KeyboardInterrupt, SieveError) as exc:
        bar.close()
        replacement = _stopped(exc, target, checkpoint, done)
        if replacement is exc:
            raise
        raise replacement from exc
    bar.close()
    if checkpoint is not None:
        checkpoint.clear()
    scorer.finished(target)
    if args.stats:
        clf.stats.write_csv(args.stats)
    for message in src.issues.messages(src.name):
        print(f"sieve: {message}", file=sys.stderr)
    if target.path is not None:
        _say(args, f"wrote {target.path} ({count(done, 'row')})")
    return failed


def _stopped(exc: BaseException, target: Target, checkpoint: Checkpoint | None, done: int) -> BaseException:
    """What a run that stops early leaves and says: finished rows are kept for --resume, unless the disk is full."""
    disk_full = isinstance(exc, OutputError) and exc.disk_full
    if checkpoint is not None and (not done or disk_full):
        checkpoint.clear()  # nothing finished, or no room for it: leave no partial file behind
    if disk_full and target.path is not None:
        removed = f"the unfinished output ({count(done, 'row')}) was removed" if done else "nothing was written"
        return OutputError(exc.message, f"{exc.hint}; {removed}", disk_full=True)
    if checkpoint is None or not done:
        return exc
    kept = (f"{count(done, 'row')} {'is' if done == 1 else 'are'} kept in {checkpoint.partial.name}; rerun with "
            "--resume to continue")
    if isinstance(exc, SieveError):
        return type(exc)(exc.message, f"{exc.hint + '. ' if exc.hint else ''}{kept}")
    print(f"sieve: interrupted: {kept}", file=sys.stderr)
    return exc


class _NoBar:
    """Stands in for the progress bar when none is drawn."""

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(src: TextSource, done: int, args: argparse.Namespace):  # noqa: ANN202 - a tqdm bar or _NoBar
    """A progress bar on a terminal; otherwise (``--quiet``, or stderr redirected, where tqdm would draw nothing
    either) neither tqdm's import (~20 ms) nor the line count of the whole input that sizes the bar is paid for."""
    if args.quiet or sys.stderr is None or not sys.stderr.isatty():
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=src.estimate_rows() or None, initial=done, unit=" texts", desc=src.name, file=sys.stderr,
                dynamic_ncols=True, leave=False)


def run_identity(target: Target, clf: Classifier, columns: OutputColumns, device: str | None = None) -> dict:
    """Everything that decides what the output's rows are: a partial written under any other value is not resumed.

    The input (path, size, modification time, kind, column or field, encoding, what to do with bad bytes), the
    output (format, the input fields it copies and the prefix of Sieve's own), the model (file, labels, head,
    truncation, the device: CPU and CUDA differ in the last digits) and Sieve's version. Batching is included only
    for a model whose scores depend on batch-mates (dynamic quantization).
    """
    src = target.source
    stat = src.path.stat()
    model = clf.bundle.model_path.stat()
    column = None
    if src.kind in ("csv", "tsv") and src.column_index is not None and src.header:
        column = [src.column_index, src.header[src.column_index]]
    identity = {
        "input": str(src.path.resolve()), "input_bytes": stat.st_size, "input_mtime_ns": stat.st_mtime_ns,
        "input_kind": src.kind, "column": column, "field": src.field if src.kind == "jsonl" else None,
        "encoding": src.encoding, "decoding_errors": src.errors,
        "output_kind": target.kind, "output_fields": [columns.prefix, *columns.input_columns],
        "model": str(clf.bundle.model_path.resolve()), "model_bytes": model.st_size,
        "model_mtime_ns": model.st_mtime_ns, "labels": list(clf.labels), "head": clf.session.head,
        "max_length": clf.encoder.max_length, "max_chars": clf.encoder.max_chars,
        "device": device or clf.session.providers.device, "sieve": __version__,
    }
    if clf.session.facts.dynamic_quantization:
        policy = clf.policy
        identity["batching"] = [policy.max_batch, policy.max_tokens, policy.window]
    return identity


# What each identity entry is called in the refusal, so the user knows which option to put back.
_IDENTITY_WORDS = {
    "sieve": "Sieve version", "input": "input file", "input_bytes": "input file (it changed since)",
    "input_mtime_ns": "input file (it changed since)", "input_kind": "input file", "column": "--column",
    "field": "--field", "encoding": "--encoding", "decoding_errors": "--strict-decoding",
    "output_kind": "output format", "output_fields": "set of input fields", "model": "model",
    "model_bytes": "model", "model_mtime_ns": "model", "labels": "model (labels)", "head": "model",
    "max_length": "--max-length", "max_chars": "--max-length", "device": "device (--provider)",
    "batching": "--batch-size, --max-tokens or --window (this model's scores depend on its batch)",
}


class Checkpoint:
    """A sidecar next to the partial output: how many rows and bytes are final, and the run's identity."""

    def __init__(self, partial: Path, identity: dict) -> None:
        self.partial = partial
        self.path = partial.with_name(partial.name + ".json")
        self.identity = identity

    def start_fresh(self, say) -> int:  # noqa: ANN001
        if self.partial.exists():
            say(f"discarding {self.partial.name} from an earlier interrupted run (use --resume to continue one)")
        self.clear()
        return 0

    def resume_from(self) -> int:
        if not self.path.exists() or not self.partial.exists():
            return self.start_fresh(lambda m: None)
        try:
            saved = json.loads(self.path.read_text(encoding="utf-8"))
            saved_identity = saved.get("identity") or {}
        except (OSError, json.JSONDecodeError, AttributeError) as exc:
            raise InputError(f"The resume record {self.path.name} is unreadable ({exc})",
                             "Delete it and the .sieve-partial file, then run without --resume") from exc
        changed = [key for key in self.identity if saved_identity.get(key) != self.identity[key]]
        changed += [key for key in saved_identity if key not in self.identity]
        if changed:
            names = list(dict.fromkeys(_IDENTITY_WORDS.get(key, key) for key in changed))
            names = ", ".join(names[:4]) + (" and other settings" if len(names) > 4 else "")
            raise InputError(f"{self.partial.name} was written with a different {names}",
                             "Resume with the first run's options, or run without --resume to start over")
        with open(self.partial, "r+b") as fh:  # drop anything written after the last complete chunk
            fh.truncate(int(saved["bytes"]))
        return int(saved["rows"])

    def save(self, rows: int, size: int) -> None:
        with atomic_path(self.path) as tmp:
            tmp.write_text(json.dumps({"identity": self.identity, "rows": rows, "bytes": size}), encoding="utf-8")

    def clear(self) -> None:
        for p in (self.path, self.partial):
            p.unlink(missing_ok=True)
        remove_stale_temps(self.path)  # a kill while the record was being replaced leaves its temporary file


def _say(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        print(f"sieve: {message}", file=sys.stderr)
