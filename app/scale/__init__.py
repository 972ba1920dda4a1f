"""Scoring beyond one process: fixed blocks of rows, sharded runs with parts and a merge, and Ray Data.

Every piece cuts a file into the same blocks (``blocks``) and scores each block as a local run would score those
rows, so the output is the file an unsharded local run writes, byte for byte. Nothing here imports Ray at import
time; only :mod:`app.scale.ray_run` does, and only ``sieve score --ray`` imports it.
"""
