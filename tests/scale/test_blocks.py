"""Blocks: every row in exactly one block, each read apart exactly as a read from the top reads it."""

from itertools import chain

import pytest

from app.engine import open_source
from app.scale.blocks import block_rows, plan_blocks, read_block, shard_rows

from .conftest import write_messy_csv, write_messy_jsonl


@pytest.mark.parametrize("write", [write_messy_csv, write_messy_jsonl])
@pytest.mark.parametrize("start", [0, 8, 20])
def test_blocks_read_apart_are_the_whole_file(tmp_path, write, start):
    source = open_source(write(tmp_path / ("in.csv" if write is write_messy_csv else "in.jsonl")))
    whole = list(source)
    plan = plan_blocks(source, 16, start)
    assert plan.total_rows == len(whole)
    assert [b.first_row for b in plan.blocks] == list(range(start, len(whole), 16))
    assert list(chain.from_iterable(read_block(source, b) for b in plan.blocks)) == whole[start:]


def test_a_block_is_a_window():
    assert block_rows(4096) == 4096 and block_rows(8) == 8


def test_shards_take_every_nth_block_and_together_every_row(tmp_path):
    source = open_source(write_messy_csv(tmp_path / "in.csv"))
    whole = list(source)
    taken = []
    for shard in (1, 2, 3):
        counted = [0]
        rows = list(shard_rows(iter(source), 16, shard, 3, counted))
        assert counted[0] == len(whole)
        expected = [r for i, r in enumerate(whole) if (i // 16) % 3 == shard - 1]
        assert rows == expected
        taken += rows
    assert sorted(taken, key=lambda r: r.line) == whole
