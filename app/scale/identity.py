"""What makes two pieces of a run belong together: the bytes of the input and of the model, and the options."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..engine.bundle import ModelBundle
from ..engine.onnx_meta import read_facts

_CHUNK = 1 << 20


def file_digest(path: Path) -> str:
    """BLAKE2b of the file's bytes (hex): the same file copied to another machine has the same digest."""
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def model_digest(bundle: ModelBundle) -> str:
    """One digest over the files that decide a row's scores: the ONNX model (and its external data files), its
    tokenizer, its config and its labels.txt."""
    h = hashlib.blake2b(digest_size=20)
    data = sorted({location for _, location in read_facts(bundle.model_path).external_data})
    labels = bundle.root / "labels.txt"
    paths = [bundle.model_path, *(bundle.model_path.parent / d for d in data), bundle.tokenizer_path,
             bundle.config_path, labels if labels.is_file() else None]
    for path in paths:
        h.update(file_digest(path).encode() if path is not None else b"-")
    return h.hexdigest()
