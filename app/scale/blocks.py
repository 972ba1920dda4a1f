"""Blocks: runs of consecutive rows that scale-out scores apart, cut where a local run's windows are cut.

A local run scores a file in windows of ``--window`` rows from its first row, and plans its batches inside each
window. A block is one such window, so scoring a block on its own plans exactly the batches the local run plans for
those rows; that is why a block's results are the local run's to the last bit, even for a model whose scores depend
on their batch-mates.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

from ..engine.io import SourceRow, TextSource


def block_rows(window: int) -> int:
    """Rows per block for a run with this ``--window``: one window (4,096 rows by default)."""
    return window


@dataclass(frozen=True)
class Block:
    """Rows ``first_row .. first_row + rows - 1`` (0-based) of a file, which start on ``line`` at byte ``offset``."""

    index: int
    first_row: int
    rows: int
    line: int
    offset: int


@dataclass(frozen=True)
class BlockPlan:
    """A file cut into blocks from ``start_row`` on; ``total_rows`` counts every row of the file."""

    blocks: tuple[Block, ...]
    total_rows: int
    size: int


def plan_blocks(source: TextSource, size: int, start_row: int = 0) -> BlockPlan:
    """Read ``source`` once with its own reader and note where each block of ``size`` rows begins.

    ``start_row`` (a multiple of the window, as a resumed run's is) is where the first block starts.
    """
    starts: list[tuple[int, int]] = []  # (first row, line)
    total = 0
    for index, row in enumerate(source.rows_from()):
        if index >= start_row and (index - start_row) % size == 0:
            starts.append((index, row.line))
        total = index + 1
    offsets = source.line_offsets(line for _, line in starts)
    blocks = tuple(
        Block(i, first, min(size, total - first), line, offset)
        for i, ((first, line), offset) in enumerate(zip(starts, offsets, strict=True))
    )
    return BlockPlan(blocks, total, size)


def read_block(source: TextSource, block: Block) -> list[SourceRow]:
    """The block's rows, read from its first line with the file's own reader."""
    rows = list(islice(source.rows_from(block.offset, block.line), block.rows))
    if len(rows) != block.rows or (rows and rows[0].line != block.line):
        got = f"{len(rows)} rows from line {rows[0].line}" if rows else "no rows"
        raise RuntimeError(
            f"{source.name} changed while it was being scored: block {block.index} should hold {block.rows} rows "
            f"from line {block.line} but holds {got}"
        )
    return rows


def shard_rows(rows: Iterator[SourceRow], size: int, shard: int, shards: int, counted: list[int]) -> Iterator[SourceRow]:
    """The rows of every ``shards``-th block of ``size`` rows, starting with block ``shard - 1`` (1-based shard).

    ``counted[0]`` ends up holding how many rows the whole input had.
    """
    n = 0
    for n, row in enumerate(rows, 1):
        if ((n - 1) // size) % shards == shard - 1:
            yield row
    counted[0] = n
