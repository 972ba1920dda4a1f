"""``sieve score``: stream files through the classifier into CSV/JSONL, with progress, summary and resume."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from tqdm import tqdm

from ..engine import FAILED, Classifier, InputError, ResultWriter, SieveError, TextSource, open_source
from ..engine.io import atomic_path, expand_inputs, output_kind, partial_path, remove_stale_temps

DEFAULT_EXT = {"txt": "csv", "csv": "csv", "tsv": "tsv", "jsonl": "jsonl"}


@dataclass
class Target:
    source: TextSource
    path: Path | None  # None: standard output
    kind: str


def score_files(args: argparse.Namespace, clf: Classifier) -> int:
    files, skipped = expand_inputs(args.inputs)
    errors = "strict" if args.strict_decoding else "replace"
    # Open every input first, so a wrong column in the third file is reported before an hour of work.
    sources = [open_source(f, column=args.column, field=args.field, encoding=args.encoding, errors=errors)
               for f in files]
    for note in skipped:  # after the checks above, so a refused run prints its one sentence alone
        _say(args, f"skipped {note}")
    targets = _plan_targets(sources, args)
    failed = 0
    for target in targets:
        failed += _score_one(target, clf, args)
    for notice in clf.notices:
        print(f"sieve: {notice}", file=sys.stderr)
    if not args.quiet:
        for line in clf.stats.summary().lines():
            print(f"sieve: {line}", file=sys.stderr)
    if failed:
        print(f"sieve: {failed} rows could not be scored; their error column says why", file=sys.stderr)
    return 0


def _plan_targets(sources: list[TextSource], args: argparse.Namespace) -> list[Target]:
    out = args.output
    if out == "-":
        if len(sources) > 1:
            raise InputError("Several inputs cannot share standard output", "Give -o a folder, or score one file")
        return [Target(sources[0], None, args.format or DEFAULT_EXT[sources[0].kind])]
    targets = []
    folder = Path(out) if out and (len(sources) > 1 or Path(out).is_dir() or out.endswith(("/", "\\"))) else None
    if folder is not None and not folder.is_dir():
        raise InputError(f"{folder} is not a folder", "Several inputs need -o to name an existing folder")
    for src in sources:
        kind = args.format or DEFAULT_EXT[src.kind]
        name = f"{src.path.stem}.scored.{kind}"
        path = folder / name if folder else Path(out) if out else src.path.with_name(name)
        kind = output_kind(path)
        if path.exists() and path.resolve() == src.path.resolve():
            raise InputError(f"The output {path} is the input file", "Choose another output name with -o")
        targets.append(Target(src, path, kind))
    return targets


def _score_one(target: Target, clf: Classifier, args: argparse.Namespace) -> int:
    src = target.source
    rows = iter(src)
    done = 0
    if target.path is None:
        writer = ResultWriter(None, clf.labels, src.columns, source_kind=src.kind, stream=sys.stdout, kind=target.kind)
        checkpoint = None
    else:
        partial = partial_path(target.path)
        checkpoint = Checkpoint(partial, src, clf)
        done = checkpoint.resume_from() if args.resume else checkpoint.start_fresh(lambda m: _say(args, m))
        rows = islice(rows, done, None)
        writer = ResultWriter(target.path, clf.labels, src.columns, source_kind=src.kind, partial=partial,
                              append=done > 0, kind=target.kind)
    failed = 0
    bar = tqdm(total=src.estimate_rows(), initial=done, unit=" texts", desc=src.name, file=sys.stderr,
               disable=True if args.quiet else None, dynamic_ncols=True, leave=False)
    try:
        with writer:
            for chunk in clf.stream(rows, on_batch=bar.update):
                writer.write(chunk.rows, chunk.probs, chunk.label_idx, chunk.truncated, chunk.errors)
                failed += int((chunk.label_idx == FAILED).sum())
                done += len(chunk)
                if checkpoint is not None:
                    checkpoint.save(done, writer.flush())
    except (KeyboardInterrupt, SieveError) as exc:
        bar.close()
        if checkpoint is not None and not done:
            checkpoint.clear()  # nothing finished: leave no empty partial file behind
        if target.path is not None and done:
            kept = f"{done} rows are kept in {partial_path(target.path).name}; rerun with --resume to continue"
            if isinstance(exc, SieveError):
                raise type(exc)(exc.message, f"{exc.hint + '. ' if exc.hint else ''}{kept}") from exc
            print(f"sieve: interrupted: {kept}", file=sys.stderr)
        raise
    bar.close()
    if checkpoint is not None:
        checkpoint.clear()
    if args.stats:
        clf.stats.write_csv(args.stats)
    for message in src.issues.messages(src.name):
        print(f"sieve: {message}", file=sys.stderr)
    if target.path is not None:
        _say(args, f"wrote {target.path} ({done} rows)")
    return failed


class Checkpoint:
    """A sidecar next to the partial output: how many rows and bytes are final, and which input they came from."""

    def __init__(self, partial: Path, source: TextSource, clf: Classifier) -> None:
        self.partial = partial
        self.path = partial.with_name(partial.name + ".json")
        stat = source.path.stat()
        model = clf.bundle.model_path.stat()
        # Everything that changes what a row's output would be: the input, its column, the model file, the labels
        # and the truncation length. A partial written under any other setting is refused, not silently extended.
        self.identity = {"input": str(source.path.resolve()), "input_bytes": stat.st_size,
                         "input_mtime_ns": stat.st_mtime_ns, "column": source.column_index,
                         "model": str(clf.bundle.model_path.resolve()), "model_bytes": model.st_size,
                         "model_mtime_ns": model.st_mtime_ns, "max_length": clf.encoder.max_length,
                         "labels": list(clf.labels)}

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
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"The resume record {self.path.name} is unreadable ({exc})",
                             "Delete it and the .sieve-partial file, then run without --resume") from exc
        if saved.get("identity") != self.identity:
            raise InputError(
                f"{self.partial.name} was written for a different input file, column, model or --max-length",
                "Run without --resume to start over",
            )
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
