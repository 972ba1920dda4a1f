"""Long texts: the tokenizer is handed only what truncation can use (issue 11, item 9: a 20 MB line took 2.2 GB), and
texts longer than the model's position table are truncated to it or refused up front with a sentence (item 11)."""

import numpy as np
import pytest
from builders import make_bundle, reference_logits, token_ids

from app.cli import main
from app.engine import BatchPolicy, Classifier, ModelError
from app.engine.encoding import CHARS_PER_TOKEN
from app.engine.onnx_meta import read_facts


class TokenizerSpy:
    """The real tokenizer, recording how many characters each text handed to it has."""

    def __init__(self, real) -> None:
        self.real, self.lengths = real, []

    def encode_batch_fast(self, texts, **kw):
        self.lengths += [len(t) for t in texts]
        return self.real.encode_batch_fast(texts, **kw)

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_the_tokenizer_is_handed_at_most_what_truncation_can_use(tiny_bundle):
    root, w, tok = tiny_bundle
    clf = Classifier.load(root, max_length=16)
    spy = clf.encoder.tokenizer = TokenizerSpy(clf.encoder.tokenizer)
    long = "i love this great movie so much " * 80_000  # 2.6 MB on one line
    spaced = "awful day" + " " * 5_000  # long, but only whitespace past the limit
    chunk = clf.score([long, "the weather today", spaced])
    assert max(spy.lengths) == 16 * CHARS_PER_TOKEN == clf.encoder.max_chars
    assert chunk.truncated.tolist() == [True, False, False]
    # the tokens kept are those of the whole text truncated to 16 (here: of its first 20,000 characters)
    expected = reference_logits(w, token_ids(tok, [long[:20_000], "the weather today", "awful day"], max_length=16))
    probs = np.exp(expected) / np.exp(expected).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(chunk.probs, probs, rtol=1e-5)


def test_the_default_model_table_sizes_are_read_from_the_graph(default_model):
    facts = read_facts(default_model / "model.onnx")
    assert (facts.embedding_rows, facts.position_rows) == (30522, 512)


def test_max_length_beyond_the_position_table_is_refused_up_front(tmp_path, capsys):
    root, _, _ = make_bundle(tmp_path / "m", positions=16)
    with pytest.raises(ModelError, match=r"--max-length 32 is longer than m reads: its position table holds 16 "
                                         r"tokens\. Lower --max-length to 16 or less\."):
        Classifier.load(root, max_length=32)
    (tmp_path / "in.txt").write_text("i love this\n")
    assert main(["score", str(tmp_path / "in.txt"), "--model", str(root), "--max-length", "32"]) == 2
    assert "Lower --max-length to 16 or less" in capsys.readouterr().err
    assert not (tmp_path / "in.scored.csv").exists()


def test_a_default_length_past_the_position_table_is_clamped_to_it(tmp_path):
    root, w, tok = make_bundle(tmp_path / "m", positions=16)
    clf = Classifier.load(root)  # the tokenizer names no length, so Sieve's default (512) applies
    assert clf.encoder.max_length == 16
    assert any("position table holds 16" in note for note in clf.card().notes)
    texts = ["i love this great movie " * 10, "awful"]
    preds = clf.predict(texts)
    assert [p.truncated for p in preds] == [True, False] and all(p.label for p in preds)
    logits = reference_logits(w, token_ids(tok, texts, max_length=16))
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose([[p.scores[k] for k in clf.labels] for p in preds], expected, rtol=1e-5)


def test_a_position_table_not_found_in_the_graph_fails_long_texts_with_a_sentence(tmp_path):
    root, _, _ = make_bundle(tmp_path / "m", positions=16, position_table="P")  # a name Sieve does not recognise
    clf = Classifier.load(root, policy=BatchPolicy(max_batch=1))
    assert clf.session.max_positions is None and clf.encoder.max_length == 512
    preds = clf.predict(["i love this great movie " * 10, "awful"])
    assert preds[0].label is None and preds[1].label
    # onnxruntime turns the lookup into a slice of the 16-row table, so the failure is a broadcast in the Add
    assert preds[0].error.startswith("The model cannot read texts of 52 tokens: its position table is shorter (")
    assert preds[0].error.endswith("Lower --max-length (most models read at most 512 tokens).")


def test_position_lookups_past_the_table_are_told_apart_from_a_wrong_tokenizer(tmp_path):
    root, _, _ = make_bundle(tmp_path / "m", positions=16, position_table="P")
    clf = Classifier.load(root, policy=BatchPolicy(max_batch=1), graph_optimization="disabled")  # a real Gather
    error = clf.predict(["i love this great movie " * 10])[0].error
    assert error == ("The model cannot read texts of 52 tokens: that is longer than its position table. "
                     "Lower --max-length (most models read at most 512 tokens).")


def test_tables_behind_dequantize_linear_are_found(tmp_path):
    """A statically quantized (QDQ) export gathers from DequantizeLinear outputs, not from the int8 initializers."""
    import onnx
    from onnx import helper, numpy_helper

    root, _, tok = make_bundle(tmp_path / "m", positions=16)
    model = onnx.load(str(root / "model.onnx"))
    graph = model.graph
    for name, out in (("E", "word_table_dq"), ("bert.embeddings.position_embeddings.weight", "pos_dq")):
        table = next(t for t in graph.initializer if t.name == name)
        values = numpy_helper.to_array(table)
        scale = float(np.abs(values).max() / 127)
        table.CopyFrom(numpy_helper.from_array(np.round(values / scale).astype(np.int8), f"{name}_quantized"))
        graph.initializer.extend([numpy_helper.from_array(np.array(scale, dtype=np.float32), f"{name}_scale"),
                                  numpy_helper.from_array(np.array(0, dtype=np.int8), f"{name}_zero")])
        graph.node.insert(0, helper.make_node("DequantizeLinear", [f"{name}_quantized", f"{name}_scale",
                                                                   f"{name}_zero"], [out]))
        for node in graph.node:
            if node.op_type == "Gather" and node.input[0] == name:
                node.input[0] = out
    onnx.save(model, str(root / "model.onnx"))
    facts = read_facts(root / "model.onnx")
    assert (facts.embedding_rows, facts.position_rows) == (tok.get_vocab_size(), 16)
    assert facts.quantization == "int8 (static)"
    assert Classifier.load(root).encoder.max_length == 16
