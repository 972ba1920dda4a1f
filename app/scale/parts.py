"""Sharded runs without Ray: ``sieve score --shard I/N`` writes a part, ``sieve merge`` joins the parts.

A part holds, byte for byte, what the unsharded output holds for the shard's blocks (every N-th block of rows, see
:mod:`app.scale.blocks`), CSV header first, then one last line: ``#sieve-part {json}``, the part record. The record
says which run the part belongs to (the input's and the model's bytes, the options that change a row's output, the
shard count) and where each block's bytes are, so a merge can check that the parts are complete and from one run,
then interleave their blocks without reading a single row.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..engine.errors import InputError
from ..engine.io import WRITE_KINDS, atomic_path
from .identity import file_digest

MARK = b"#sieve-part "
VERSION = 1
_COPY = 1 << 20


def part_path(output: Path, shard: int, shards: int) -> Path:
    """Where shard ``shard`` of ``shards`` of the output ``output`` is written."""
    return output.with_name(f"{output.name}.part-{shard}-of-{shards}")


def finish_part(path: Path, *, shard: int, shards: int, block_rows: int, input_rows: int, header_bytes: int,
                blocks: list[list[int]], output: Path, input_path: Path, identity: dict) -> None:
    """Append the part record, the last line (``blocks``: [block index, rows, bytes] in file order)."""
    record = {"version": VERSION, "shard": shard, "shards": shards, "block_rows": block_rows,
              "input_rows": input_rows, "header_bytes": header_bytes, "blocks": blocks, "output": output.name,
              "input_path": str(input_path.resolve()), "body_digest": file_digest(path), "identity": identity}
    line = MARK + json.dumps(record, ensure_ascii=True, separators=(",", ":")).encode("ascii") + b"\n"
    with open(path, "ab") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


# ---------------------------------------------------------------------- reading parts back
@dataclass
class Part:
    path: Path
    record: dict

    @property
    def shard(self) -> int:
        return int(self.record["shard"])

    @property
    def shards(self) -> int:
        return int(self.record["shards"])

    @property
    def kind(self) -> str:
        return str(self.record["identity"]["format"])

    def header(self) -> bytes:
        with open(self.path, "rb") as fh:
            return fh.read(int(self.record["header_bytes"]))


def read_part(path: Path) -> Part:
    """Open a part and check that it is whole: its record is there and its blocks fill it exactly."""
    if not path.is_file():
        raise InputError(f"{path} does not exist" if not path.exists() else f"{path} is a folder, not a part file",
                         "Give the part files that sieve score --shard wrote")
    size = path.stat().st_size
    with open(path, "rb") as fh:
        tail_start = max(0, size - (1 << 16))
        while True:  # the record is the last line; read backwards until its start is in view
            fh.seek(tail_start)
            tail = fh.read()
            at = tail.rfind(b"\n" + MARK)
            if at >= 0:
                start = tail_start + at + 1
                break
            if tail.startswith(MARK) and tail_start == 0:
                start = 0
                break
            if tail_start == 0:
                raise InputError(f"{path.name} is not a finished Sieve part: it has no part record at its end",
                                 "Run its shard again (sieve score ... --shard I/N); a part is complete only once "
                                 "its shard has finished")
            tail_start = max(0, tail_start - (1 << 20))
        line = tail[start - tail_start:]
    try:
        record = json.loads(line[len(MARK):].decode("ascii"))
        body = int(record["header_bytes"]) + sum(int(b[2]) for b in record["blocks"])
        complete = line.endswith(b"\n") and record.get("version") == VERSION and body == start
    except (ValueError, KeyError, TypeError, IndexError):
        complete = False
    if not complete:
        raise InputError(f"{path.name} is cut short or was changed after its shard finished",
                         "Run its shard again (sieve score ... --shard I/N)")
    return Part(path, record)


# ---------------------------------------------------------------------- merging
def group_parts(parts: Sequence[Part]) -> dict[str, list[Part]]:
    """Parts by the output they are for (its file name), in the order given."""
    groups: dict[str, list[Part]] = {}
    for part in parts:
        groups.setdefault(str(part.record["output"]), []).append(part)
    return groups


_WHAT_DIFFERS = {
    "input": "input files",
    "model": "models",
    "labels": "labels",
    "reading": "reading options (--column, --field, --encoding, --strict-decoding)",
    "scoring": "scoring options (--max-length, --batch-size, --max-tokens, --window, or the device)",
    "format": "output formats",
}


def check_group(parts: list[Part]) -> None:
    """Refuse, with a sentence, parts that are not exactly one whole run: every shard once, every block there."""
    first = parts[0]
    n = first.shards
    for part in parts[1:]:
        a, b = first.record, part.record
        differs = [what for key, what in _WHAT_DIFFERS.items() if a["identity"].get(key) != b["identity"].get(key)]
        if a["shards"] != b["shards"]:
            differs.append(f"shard counts ({a['shards']} and {b['shards']})")
        if a["block_rows"] != b["block_rows"] or a["input_rows"] != b["input_rows"]:
            differs.append("blocks")
        if differs:
            raise InputError(f"{first.path.name} and {part.path.name} come from different runs: their "
                             f"{' and '.join(differs)} differ", "Merge the parts of one sieve score --shard run")
    by_shard: dict[int, Part] = {}
    for part in parts:
        if part.shard in by_shard:
            raise InputError(f"{by_shard[part.shard].path.name} and {part.path.name} are both shard {part.shard} "
                             f"of {n}", "Give each shard's part once")
        by_shard[part.shard] = part
    missing = [i for i in range(1, n + 1) if i not in by_shard]
    if missing:
        names = ", ".join(str(i) for i in missing)
        raise InputError(f"Shard{'s' if len(missing) > 1 else ''} {names} of {n} for {first.record['output']} "
                         f"{'are' if len(missing) > 1 else 'is'} missing",
                         f"Give all {n} parts (run the missing shards with sieve score ... --shard I/{n})")
    size, total = int(first.record["block_rows"]), int(first.record["input_rows"])
    count = -(-total // size)
    for part in parts:
        expected = [[k, min(size, total - k * size)] for k in range(part.shard - 1, count, n)]
        got = [[int(b[0]), int(b[1])] for b in part.record["blocks"]]
        if got != expected:
            raise InputError(f"{part.path.name} does not hold all of shard {part.shard}'s rows "
                             f"({sum(b[1] for b in got)} of {sum(b[1] for b in expected)})",
                             "Run that shard again")
    header = first.header()
    for part in parts[1:]:
        if part.header() != header:
            raise InputError(f"{first.path.name} and {part.path.name} have different headers",
                             "Merge parts of one run only")


def merge_group(parts: list[Part], out: Path) -> int:
    """Write the output an unsharded run would have written (atomically); return its row count.

    Each part's bytes are checked against the digest its shard recorded while they are copied; a part changed since
    leaves no output behind.
    """
    by_shard = {p.shard: p for p in parts}
    n = parts[0].shards
    handles, digests = {}, {}
    try:
        with atomic_path(out) as tmp, open(tmp, "wb") as dst:
            for shard, part in sorted(by_shard.items()):
                handles[shard] = fh = open(part.path, "rb")  # noqa: SIM115 - closed below, all together
                digests[shard] = hashlib.blake2b(digest_size=20)
                header = _copy(fh, None, int(part.record["header_bytes"]), digests[shard])
                if shard == 1:
                    dst.write(header)
            queues = {shard: list(part.record["blocks"]) for shard, part in by_shard.items()}
            rows = 0
            for k in range(sum(len(q) for q in queues.values())):
                shard = k % n + 1
                index, block_rows, size = queues[shard].pop(0)
                assert index == k, (index, k)
                _copy(handles[shard], dst, int(size), digests[shard])
                rows += int(block_rows)
            for shard, part in by_shard.items():
                if digests[shard].hexdigest() != part.record["body_digest"]:
                    raise InputError(f"{part.path.name} was changed after its shard finished",
                                     "Run that shard again")
            dst.flush()
            os.fsync(dst.fileno())
        return rows
    finally:
        for fh in handles.values():
            fh.close()


def _copy(src, dst, size: int, digest) -> bytes:  # noqa: ANN001
    """Copy ``size`` bytes from ``src`` to ``dst`` (or return them when ``dst`` is None), feeding ``digest``."""
    kept = []
    while size > 0:
        chunk = src.read(min(_COPY, size))
        if not chunk:
            raise InputError(f"{Path(src.name).name} ended early", "Run its shard again")
        digest.update(chunk)
        if dst is None:
            kept.append(chunk)
        else:
            dst.write(chunk)
        size -= len(chunk)
    return b"".join(kept)


def merged_path(parts: list[Part], out: str | None, groups: int) -> Path:
    """Where a group's merge goes: ``-o`` (a file, or a folder when several outputs), else beside the parts."""
    name = str(parts[0].record["output"])
    if out is None:
        return parts[0].path.with_name(name)
    target = Path(out)
    if target.is_dir() or out.endswith(("/", "\\")):
        return target / name
    if groups > 1:
        raise InputError(f"These parts belong to {groups} different outputs", "Give -o a folder, or merge one "
                         "output's parts at a time")
    return target


def check_output(out: Path, parts: list[Part]) -> None:
    """Refuse an output that is one of the parts or the input they were scored from, or of another format."""
    resolved = out.resolve()
    for part in parts:
        if resolved == part.path.resolve():
            raise InputError(f"The output {out} is one of the parts", "Choose another output name with -o")
        if str(resolved) == part.record["input_path"]:
            raise InputError(f"The output {out} is the input file the parts were scored from",
                             "Choose another output name with -o")
    if WRITE_KINDS.get(out.suffix.lower()) != parts[0].kind:
        raise InputError(f"The parts hold {parts[0].kind.upper()} but {out.name} names a "
                         f"{out.suffix or 'extension-less'} file", f"Name the output .{parts[0].kind}")
