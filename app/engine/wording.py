"""Counts in sentences people read: "1 row", "2 rows", "1,024 texts"."""

from __future__ import annotations


def count(n: int, singular: str, plural: str | None = None) -> str:
    """``n`` with the noun agreeing: ``count(1, "batch", "batches")`` → ``"1 batch"``; thousands are grouped."""
    return f"{n:,} {singular if n == 1 else plural or singular + 's'}"
