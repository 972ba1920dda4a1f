"""Messy inputs for the scale-out tests: what real files hold, in blocks small enough that a few dozen rows span several."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from builders import make_bundle
from onnx import helper, numpy_helper

from app.cli import main

WORDS = ["i", "love", "this", "great", "movie", "awful", "terrible", "bad", "boring", "the", "best", "day", "ever",
         "table", "so", "much", "not", "good"]
# --window 8 makes blocks of 8 rows, so these files are several blocks each.
SMALL = ["--window", "8", "--batch-size", "3", "--provider", "cpu"]


def _text(rng: np.random.Generator) -> str:
    return " ".join(rng.choice(WORDS, size=int(rng.integers(1, 14))))


def write_messy_csv(path: Path, rows: int = 70) -> Path:
    """A CSV with a BOM, quoted multi-line fields, undecodable bytes, empty texts, short and long rows, blank lines."""
    rng = np.random.default_rng(7)
    lines = [b"\xef\xbb\xbfid,text,gold\r\n"]
    for i in range(rows):
        text = _text(rng).encode()
        if i % 11 == 3:
            lines.append(f'{i},"{text.decode()}, quoted\nover ""two"" lines",pos\r\n'.encode())
        elif i % 13 == 5:
            lines.append(b"%d,bad \xff\xfe bytes %s,neg\r\n" % (i, text))
        elif i % 9 == 2:
            lines.append(b'%d,"",neu\r\n' % i)  # an empty text
        elif i % 17 == 8:
            lines.append(b"%d\r\n" % i)  # no text column: a bad row
        elif i % 19 == 4:
            lines.append(b"%d,%s,pos,surplus,fields\r\n" % (i, text))
        elif i % 23 == 6:
            lines.append(b"\r\n")  # a blank line is not a row
        else:
            lines.append(b"%d,%s,neg\r\n" % (i, text))
    path.write_bytes(b"".join(lines).rstrip(b"\r\n"))  # and no line break at the end
    return path


def write_messy_jsonl(path: Path, rows: int = 70) -> Path:
    """JSONL with bad JSON, non-objects, missing and numeric texts, empty texts, undecodable bytes, escapes, blank
    lines, and fields of the user's own (a gold label among them)."""
    rng = np.random.default_rng(11)
    lines = []
    for i in range(rows):
        text = _text(rng)
        if i % 10 == 1:
            lines.append(b'{"text": "broken')  # not valid JSON
        elif i % 12 == 2:
            lines.append(b"[1, 2, 3]")
        elif i % 14 == 3:
            lines.append(json.dumps({"id": i, "body": text}).encode())  # no text field
        elif i % 15 == 4:
            lines.append(json.dumps({"id": i, "text": 12.5}).encode())
        elif i % 9 == 5:
            lines.append(json.dumps({"id": i, "text": ""}).encode())
        elif i % 16 == 6:
            lines.append(b'{"id": %d, "text": "caf\xe9 %s"}' % (i, text.encode()))  # latin-1 bytes in UTF-8 JSON
        elif i % 18 == 7:
            lines.append(json.dumps({"id": i, "text": "caf\u00e9 \u2603 " + text}).encode())  # escaped non-ASCII
        elif i % 20 == 8:
            lines.append(b"")
        else:
            lines.append(json.dumps({"id": i, "text": text, "label": "positive", "meta": {"k": [i]}},
                                    ensure_ascii=False).encode())
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.fixture(scope="session")
def batch_dependent_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-label model whose scores move with their batch-mates (each text's logits get half the batch's mean), as a
    dynamically quantized model's do: a scaled-out run matches a local one only if every batch holds the same rows."""
    root, _, _ = make_bundle(tmp_path_factory.mktemp("batch_dependent") / "model", output_name="raw")
    model = onnx.load(str(root / "model.onnx"))
    graph = model.graph
    graph.initializer.append(numpy_helper.from_array(np.array(0.5, dtype=np.float32), "half"))
    graph.node.extend([
        helper.make_node("ReduceMean", ["raw"], ["batch_mean"], axes=[0], keepdims=1),
        helper.make_node("Mul", ["batch_mean", "half"], ["shift"]),
        helper.make_node("Add", ["raw", "shift"], ["logits"]),
    ])
    graph.output[0].name = "logits"
    onnx.save(model, str(root / "model.onnx"))
    return root


@pytest.fixture
def messy_inputs(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "inputs"
    folder.mkdir()
    return write_messy_csv(folder / "tweets.csv"), write_messy_jsonl(folder / "reviews.jsonl")


def score_locally(inputs: list[Path], out: Path, model: Path, *extra: str) -> None:
    assert main(["score", *map(str, inputs), "-o", str(out), "--model", str(model), *SMALL, *extra]) == 0


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray for the whole session: 2 CPUs, and 1 GPU that is declared but not there (so an actor that
    asks for CUDA gets the CPU and has to say so). It listens on 127.0.0.1 only."""
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # read when Ray is imported
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install -e '.[ray]')")
    pytest.importorskip("ray.data", reason="the ray extra is not installed (pip install -e '.[ray]')")
    ray.init(address="local", num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False,
             logging_level=logging.ERROR)
    yield ray
    ray.shutdown()
