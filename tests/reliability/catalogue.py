"""The catalogue of bad inputs: the wrong files, half-exported models and messy data people point Sieve at.

Each :class:`Case` builds its bad model folder or bad input file under a temporary folder and says what must happen:

- :class:`Refusal`: Sieve refuses with one sentence, an instance of ``error`` whose message contains every fragment
  of ``says`` (what is wrong) and whose hint contains ``advice`` (what to do);
- :class:`Result`: Sieve gives a correct result: ``rows`` output rows in input order, the rows at ``failed`` marked
  with an error instead of a label, every other row scored, and each fragment of ``reported`` (line numbers, skipped
  files) told to the user.

The same list is run through the engine and the CLI (tests/reliability/test_catalogue.py) and is meant for the GUI
tests too: ``from reliability.catalogue import CASES`` (tests/ is on ``sys.path``). A case's builder takes a fresh
folder and returns a :class:`Setup`; ``model=None`` means "a good model" and ``inputs=()`` "a good input file" (see
:func:`good_input`), both the caller's. :attr:`Case.stage` says when Sieve must speak up: on opening the model, on
opening the input, or while scoring. docs/RELIABILITY.md lists every case (a test keeps it in step).
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from builders import SPECIALS, WORDS, make_bundle, make_embedding_model, make_tokenizer
from onnx import TensorProto, helper

from app.engine import InputError, ModelError, SieveError

GOOD_TEXTS = ("i love this great movie", "awful terrible day", "the weather today")
VOCAB = len(SPECIALS) + len(dict.fromkeys(WORDS))  # the test tokenizer's size = the test model's embedding rows


@dataclass(frozen=True)
class Setup:
    model: Path | None = None  # None: the caller's good model
    inputs: tuple[Path, ...] = ()  # empty: the caller's good input (good_input)
    column: str | None = None  # --column / the GUI's column choice


@dataclass(frozen=True)
class Refusal:
    error: type[SieveError]
    says: tuple[str, ...]  # fragments of the message: what is wrong
    advice: str  # a fragment of the hint: what to do


@dataclass(frozen=True)
class Result:
    rows: int  # output rows over all outputs (files in name order)
    failed: tuple[int, ...] = ()  # 0-based output rows that carry an error instead of a label
    reported: tuple[str, ...] = ()  # fragments the user is told (line numbers, skipped files)
    outputs: tuple[str, ...] = ()  # output file names, for folder inputs scored with -o FOLDER


@dataclass(frozen=True)
class Case:
    id: str
    what: str  # the bad input in words (docs/RELIABILITY.md)
    build: Callable[[Path], Setup] = field(repr=False)
    expect: Refusal | Result

    @property
    def about_model(self) -> bool:
        """True when the model is what is wrong (so ``sieve info --model`` refuses it too)."""
        return isinstance(self.expect, Refusal) and self.expect.error is ModelError

    @property
    def stage(self) -> str:
        """When Sieve speaks up: ``"load"`` (opening the model), ``"open"`` (opening the input) or ``"run"``."""
        if isinstance(self.expect, Refusal) and self.expect.error is ModelError:
            return "load"
        if isinstance(self.expect, Refusal) and self.expect.error is InputError:
            return "open"
        return "run"


def good_input(tmp: Path) -> Path:
    path = tmp / "good.txt"
    path.write_text("\n".join(GOOD_TEXTS) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------------- model builders
def _bundle(tmp: Path, **kw) -> Path:
    root, _, _ = make_bundle(tmp / "model", **kw)
    return root


def _not_onnx(tmp: Path) -> Setup:
    root = _bundle(tmp)
    (root / "model.onnx").write_text("this is a text file someone renamed to model.onnx\n" * 20)
    return Setup(model=root)


def _wrong_file(tmp: Path) -> Setup:
    root = _bundle(tmp)
    return Setup(model=root / "tokenizer.json")


def _random_bytes(tmp: Path) -> Setup:
    root = _bundle(tmp)
    (root / "model.onnx").write_bytes(np.random.default_rng(0).bytes(5000))
    return Setup(model=root)


def _truncated(tmp: Path) -> Setup:
    root = _bundle(tmp)
    data = (root / "model.onnx").read_bytes()
    (root / "model.onnx").write_bytes(data[: len(data) // 2])
    return Setup(model=root)


def _empty_model(tmp: Path) -> Setup:
    root = _bundle(tmp)
    (root / "model.onnx").write_bytes(b"")
    return Setup(model=root)


def _ir_too_new(tmp: Path) -> Setup:
    return Setup(model=_bundle(tmp, ir_version=99))


def _no_text_inputs(tmp: Path) -> Setup:
    """An image classifier: pixel_values in, logits out."""
    root = tmp / "model"
    root.mkdir()
    x = helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 3, 8, 8])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])
    axes = onnx.numpy_helper.from_array(np.array([2, 3], dtype=np.int64), "axes")
    graph = helper.make_graph([helper.make_node("ReduceMean", ["pixel_values", "axes"], ["logits"], keepdims=0)],
                              "image", [x], [y], [axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 10
    onnx.save(model, str(root / "model.onnx"))
    make_tokenizer(root / "tokenizer.json")
    return Setup(model=root)


def _embedding(rank: int) -> Callable[[Path], Setup]:
    def build(tmp: Path) -> Setup:
        root = tmp / "model"
        root.mkdir()
        tok = make_tokenizer(root / "tokenizer.json")
        make_embedding_model(root / "model.onnx", tok.get_vocab_size(), rank=rank)
        return Setup(model=root)

    return build


def _tokenizer_mismatch(tmp: Path) -> Setup:
    """The tokenizer.json of a bigger model: its ids run past the model's embedding table."""
    root = _bundle(tmp)
    make_tokenizer(root / "tokenizer.json", [f"piece{i}" for i in range(500)] + WORDS)
    return Setup(model=root)


def _tokenizer_mismatch_unseen(tmp: Path) -> Setup:
    """As above, but the embedding table hides behind an Identity node, so only running the model can tell.

    On the CPU every batch then fails ("indices out of bounds"), and three failed batches with no success stop the
    run. (On CUDA, onnxruntime's Gather reads zeros for such ids instead of failing: hence the check at load.)
    """
    root = _tokenizer_mismatch(tmp).model
    model = onnx.load(str(root / "model.onnx"))
    gather = next(n for n in model.graph.node if n.op_type == "Gather" and n.input[1] == "input_ids")
    model.graph.node.insert(0, helper.make_node("Identity", [gather.input[0]], ["table_seen_through_identity"]))
    gather.input[0] = "table_seen_through_identity"
    onnx.save(model, str(root / "model.onnx"))
    texts = tmp / "texts.txt"
    texts.write_text("i love this great movie\n" * 200, encoding="utf-8")
    return Setup(model=root, inputs=(texts,))


def _tokenizer_not_json(tmp: Path) -> Setup:
    root = _bundle(tmp)
    (root / "tokenizer.json").write_text('{"version": "1.0", "model": 5}')
    return Setup(model=root)


def _no_tokenizer(tmp: Path) -> Setup:
    root = _bundle(tmp)
    (root / "tokenizer.json").unlink()
    return Setup(model=root)


def _label_count(tmp: Path) -> Setup:
    root = _bundle(tmp)  # 3 logits
    (root / "config.json").write_text(json.dumps({"id2label": {"0": "negative", "1": "positive"}}))
    return Setup(model=root)


def _duplicate_labels(tmp: Path) -> Setup:
    root = _bundle(tmp)  # 3 logits
    (root / "config.json").write_text(json.dumps({"id2label": {"0": "negative", "1": "positive", "2": "positive"}}))
    return Setup(model=root)


def _deeply_nested_config(tmp: Path) -> Setup:
    """A config.json nested deeper than Python's parser recurses (RecursionError, not JSONDecodeError)."""
    root = _bundle(tmp)
    depth = 100_000
    (root / "config.json").write_text('{"id2label": {"0": "a"}, "x": ' + "[" * depth + "]" * depth + "}")
    return Setup(model=root)


def _pytorch_checkpoint(tmp: Path) -> Setup:
    """A HuggingFace checkpoint folder (not exported): config.json and a pickle that would run code if loaded."""
    root = tmp / "model"
    root.mkdir()
    make_tokenizer(root / "tokenizer.json")
    (root / "config.json").write_text(json.dumps({"id2label": {"0": "a", "1": "b"}}))
    write_pickle_bomb(root / "pytorch_model.bin", tmp / "PWNED")
    return Setup(model=root)


def _external(tmp: Path) -> Path:
    root = _bundle(tmp)
    model = onnx.load(str(root / "model.onnx"))
    onnx.save_model(model, str(root / "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.data", size_threshold=1024)
    return root


def _set_location(root: Path, location: str) -> None:
    model = onnx.load(str(root / "model.onnx"), load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    onnx.save(model, str(root / "model.onnx"))


def _external_outside(how: str) -> Callable[[Path], Setup]:
    def build(tmp: Path) -> Setup:
        root = _external(tmp)
        outside = tmp / "outside.data"
        outside.write_bytes((root / "weights.data").read_bytes())
        if how == "symlink":  # the name is inside the folder, the bytes are not
            (root / "weights.data").unlink()
            (root / "weights.data").symlink_to(outside)
        else:
            _set_location(root, {"parent": "../outside.data", "absolute": str(outside),
                                 "dotdot": "sub/../../outside.data"}[how])
        return Setup(model=root)

    return build


def _external_missing(tmp: Path) -> Setup:
    root = _external(tmp)
    (root / "weights.data").unlink()
    return Setup(model=root)


def _external_truncated(tmp: Path) -> Setup:
    root = _external(tmp)
    data = (root / "weights.data").read_bytes()
    (root / "weights.data").write_bytes(data[: len(data) // 2])
    return Setup(model=root)


def _custom_op(tmp: Path) -> Setup:
    root = _bundle(tmp)
    model = onnx.load(str(root / "model.onnx"))
    node = model.graph.node[-1]
    node.op_type, node.domain = "SecretSauce", "com.example.custom"
    model.opset_import.append(helper.make_opsetid("com.example.custom", 1))
    onnx.save(model, str(root / "model.onnx"))
    return Setup(model=root)


# ---------------------------------------------------------------------- input builders
def _file(name: str, data: bytes | str, **kw) -> Callable[[Path], Setup]:
    def build(tmp: Path) -> Setup:
        path = tmp / name
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        return Setup(inputs=(path,), **kw)

    return build


def _mixed_folder(tmp: Path) -> Setup:
    folder = tmp / "inbox"
    folder.mkdir()
    (folder / "a.txt").write_text("i love this\nawful\n", encoding="utf-8")
    (folder / "b.csv").write_text("id,text\n1,great movie\n", encoding="utf-8")
    (folder / "c.jsonl").write_text('{"text": "boring", "id": 3}\n', encoding="utf-8")
    (folder / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (folder / "notes.md").write_text("# not texts\n", encoding="utf-8")
    (folder / ".hidden.txt").write_text("hidden files are not inputs\n", encoding="utf-8")
    (folder / "sub").mkdir()
    (folder / "sub" / "deeper.txt").write_text("sub-folders are not expanded\n", encoding="utf-8")
    return Setup(inputs=(folder,))


def _same_names_folder(tmp: Path) -> Setup:
    """notes.txt and notes.csv would both be notes.scored.csv; old.scored.csv is an earlier output."""
    folder = tmp / "inbox"
    folder.mkdir()
    (folder / "notes.txt").write_text("i love this\nawful\n", encoding="utf-8")
    (folder / "notes.csv").write_text("id,text\n1,great movie\n", encoding="utf-8")
    (folder / "old.scored.csv").write_text("text,label\nthe weather today,neutral\n", encoding="utf-8")
    return Setup(inputs=(folder,))


def _empty_folder(tmp: Path) -> Setup:
    folder = tmp / "inbox"
    folder.mkdir()
    (folder / "readme.md").write_text("nothing to score\n")
    return Setup(inputs=(folder,))


MODEL_CASES = [
    Case("model-not-onnx", "model.onnx is a text file", _not_onnx,
         Refusal(ModelError, ("model.onnx", "damaged, truncated, or not ONNX"), "Export the model again")),
    Case("model-wrong-file", "--model points at a file that is not .onnx (tokenizer.json)", _wrong_file,
         Refusal(ModelError, ("tokenizer.json is not an ONNX model file",), "Choose a model folder")),
    Case("model-random-bytes", "model.onnx holds random bytes", _random_bytes,
         Refusal(ModelError, ("damaged, truncated, or not ONNX",), "copy the complete file")),
    Case("model-truncated", "model.onnx cut in half (an interrupted copy or download)", _truncated,
         Refusal(ModelError, ("damaged, truncated, or not ONNX",), "copy the complete file")),
    Case("model-empty", "model.onnx is 0 bytes", _empty_model,
         Refusal(ModelError, ("model.onnx is empty (0 bytes)",), "Export the model again")),
    Case("model-ir-too-new", "IR version 99, newer than the installed onnxruntime reads", _ir_too_new,
         Refusal(ModelError, ("IR version 99", f"onnxruntime {ort.__version__} reads up to IR version"),
                 "model.ir_version = N before onnx.save")),
    Case("model-no-text-inputs", "an image model (pixel_values input)", _no_text_inputs,
         Refusal(ModelError, ("'pixel_values' that Sieve cannot fill", "inputs: pixel_values"),
                 "input_ids, attention_mask, token_type_ids")),
    Case("model-embedding-hidden-states", "an embedding model whose output is [batch, sequence, hidden]",
         _embedding(3), Refusal(ModelError, ("not a text classifier", "embedding model", "input_ids"),
                                "output is named logits")),
    Case("model-embedding-pooled", "a sentence-embedding model whose output is [batch, 384]", _embedding(2),
         Refusal(ModelError, ("not a text classifier", "sentence-embedding", "sentence_embedding"),
                 "Choose a classifier")),
    Case("tokenizer-mismatch", "tokenizer.json of another model: token ids past the embedding table",
         _tokenizer_mismatch,
         Refusal(ModelError, (f"has {VOCAB + 500} tokens but the model's embedding table has {VOCAB} rows",
                              "does not belong to this model"), "saved with this model")),
    Case("tokenizer-mismatch-at-run", "the same, with the embedding table out of sight until the model runs "
         "(200 texts)", _tokenizer_mismatch_unseen,
         Refusal(SieveError, ("token id", "does not belong to this model", "Use the tokenizer.json that was saved"),
                 "Stopped after the first 3 batches all failed")),
    Case("tokenizer-invalid", "tokenizer.json that is JSON but not a tokenizer", _tokenizer_not_json,
         Refusal(ModelError, ("tokenizer.json is not a valid tokenizers file",), "tokenizer.save_pretrained")),
    Case("tokenizer-missing", "a model folder without tokenizer.json", _no_tokenizer,
         Refusal(ModelError, ("No tokenizer.json next to model.onnx",), "same folder")),
    Case("config-label-count", "config.json names 2 labels, the logits are 3 wide", _label_count,
         Refusal(ModelError, ("gives 3 scores per text", "names 2 labels (negative, positive)"),
                 "one label per output column")),
    Case("config-duplicate-labels", "config.json names one label twice (positive for ids 1 and 2)", _duplicate_labels,
         Refusal(ModelError, ("names the label 'positive' more than once (ids 1, 2)",), "Give every label its own name")),
    Case("config-deeply-nested", "config.json nested 100,000 levels deep", _deeply_nested_config,
         Refusal(ModelError, ("config.json nests JSON values too deeply to be read",), "Fix or remove config.json")),
    Case("model-pytorch-checkpoint", "a PyTorch checkpoint folder (pickle weights, no .onnx)", _pytorch_checkpoint,
         Refusal(ModelError, ("No .onnx file",), "sieve export")),
    *(Case(f"external-data-{how}", f"external weights outside the model's folder ({what})",
           _external_outside(how),
           Refusal(ModelError, ("outside the model's folder",), "re-export with the data file beside it"))
      for how, what in (("parent", "../outside.data"), ("absolute", "an absolute path"),
                        ("dotdot", "sub/../../outside.data"), ("symlink", "a link that leads out"))),
    Case("external-data-missing", "model.onnx whose weights.data was not copied", _external_missing,
         Refusal(ModelError, ("external data file that could not be read", "weights.data"),
                 "Keep the .onnx file and its complete .data file together")),
    Case("external-data-truncated", "weights.data cut in half", _external_truncated,
         Refusal(ModelError, ("external data file that could not be read",),
                 "Keep the .onnx file and its complete .data file together")),
    Case("model-custom-op", "a node from a custom-op domain (would need a native library)", _custom_op,
         Refusal(ModelError, ("custom operator SecretSauce from domain com.example.custom",),
                 "does not load custom-op libraries")),
]

INPUT_CASES = [
    Case("input-0-bytes", "a 0-byte file", _file("empty.txt", b""),
         Refusal(InputError, ("empty.txt is empty (0 bytes)",), "Choose a file with texts in it")),
    Case("input-header-only", "an empty input file: a CSV with a header and no rows",
         _file("header.csv", "id,text\n"), Result(rows=0)),
    Case("input-blank-jsonl", "an empty input file: a JSONL of blank lines", _file("blank.jsonl", "\n  \n\n"),
         Result(rows=0)),
    Case("input-missing-file", "a path that does not exist", lambda tmp: Setup(inputs=(tmp / "nope.csv",)),
         Refusal(InputError, ("nope.csv does not exist",), "Check the path")),
    Case("csv-no-text-column", "a CSV without a text column, none chosen",
         _file("reviews.csv", "id,headline\n1,great\n"),
         Refusal(InputError, ("no column named 'text'", "'id', 'headline'"), "--column NAME")),
    Case("csv-chosen-column-missing", "a CSV without the chosen column",
         _file("reviews.csv", "id,text\n1,great\n", column="body"),
         Refusal(InputError, ("no column 'body'", "'id', 'text'"), "Choose one of those columns")),
    Case("input-invalid-utf8", "invalid UTF-8 on lines 2 and 4", _file("latin1.txt", b"fine\ncaf\xe9\nok\nna\xefve\n"),
         Result(rows=4, reported=("2 lines were not valid text", "replaced with \ufffd (line 2, 4)"))),
    Case("csv-ragged-rows", "a CSV with a short row (line 3) and a long row (line 4)",
         _file("ragged.csv", "id,text\n1,i love this\n2\n3,awful,extra\n\n4,great movie\n"),
         Result(rows=4, failed=(1,), reported=(
             "1 rows could not be read and are marked failed in the output (line 3)",
             "1 rows had more fields than the header; the extra fields are not copied to the output (line 4)"))),
    Case("csv-unclosed-quote", "a CSV whose last quoted field never closes (line 3)",
         _file("unclosed.csv", 'id,text\n1,i love this\n2,"never closed\n3,awful\n4,great\n'),
         Result(rows=2, failed=(1,), reported=(
             "1 rows could not be read and are marked failed in the output (line 3)",))),
    Case("jsonl-bad-lines", "a JSONL with broken JSON, a missing field and a non-object",
         _file("bad.jsonl", '{"text": "great movie"}\n{broken\n{"body": "x"}\n[1, 2]\n{"text": "awful"}\n'),
         Result(rows=5, failed=(1, 2, 3), reported=(
             "3 rows could not be read and are marked failed in the output (line 2, 3, 4)",))),
    Case("input-cr-line-endings", "a .txt with old Mac line endings (a lone CR ends each line)",
         _file("mac.txt", "i love this\rawful\rthe weather today\r"), Result(rows=3)),
    Case("input-binary", "a PNG renamed to .txt", _file("photo.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
         Refusal(InputError, ("photo.txt looks like a binary file",), "Choose a .txt, .csv, .tsv or .jsonl file")),
    Case("input-utf16", "a UTF-16 text file", _file("u16.txt", "hello\nworld\n".encode("utf-16")),
         Refusal(InputError, ("u16.txt is UTF-16 encoded",), "Save it as UTF-8")),
    Case("input-unsupported-type", "a .docx file", _file("report.docx", b"PK\x03\x04rest"),
         Refusal(InputError, ("does not read .docx files",), "Use .txt")),
    Case("folder-mixed", "a folder with .txt, .csv, .jsonl, a PNG, a .md, a hidden file and a sub-folder",
         _mixed_folder,
         Result(rows=4, reported=("skipped notes.md", "skipped photo.png"),
                outputs=("a.scored.csv", "b.scored.csv", "c.scored.jsonl"))),
    Case("folder-same-names", "a folder with notes.txt, notes.csv and an earlier output old.scored.csv",
         _same_names_folder,
         Result(rows=3, reported=("skipped old.scored.csv: an earlier Sieve output",),
                outputs=("notes.csv.scored.csv", "notes.txt.scored.csv"))),
    Case("folder-nothing-readable", "a folder with no readable files", _empty_folder,
         Refusal(InputError, ("holds no .txt, .csv, .tsv or .jsonl files",), "Choose a folder with such files")),
]

CASES = MODEL_CASES + INPUT_CASES
BY_ID = {case.id: case for case in CASES}
assert len(BY_ID) == len(CASES), "case ids must be unique"


# ---------------------------------------------------------------------- security helpers
class _Bomb:
    """Unpickling this creates ``marker``: proof that a pickle was loaded (and could have run any code)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (open, (os.fspath(self.marker), "w"))


def write_pickle_bomb(path: Path, marker: Path) -> None:
    path.write_bytes(pickle.dumps(_Bomb(marker)))
