"""`sieve export`: a real (tiny) HuggingFace BERT checkpoint → ONNX bundle that Sieve loads and scores correctly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from builders import make_tokenizer

REPO = Path(__file__).resolve().parents[1]
LABELS = ["negative", "neutral", "positive"]
TEXTS = ["i love this great movie", "awful terrible day", "the weather today", "not good", "so happy"]


def test_missing_export_extra_is_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "config.json").write_text("{}")
    code = ("import sys; sys.modules['torch'] = None; from app.cli import main; "
            f"sys.exit(main(['export', {str(tmp_path / 'ckpt')!r}, {str(tmp_path / 'out')!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "export extra" in proc.stderr and "pip install" in proc.stderr and "Traceback" not in proc.stderr


def test_a_folder_without_config_is_refused(tmp_path: Path) -> None:
    from app.engine import ExportError
    from app.export import export_checkpoint

    with pytest.raises(ExportError, match="not a HuggingFace checkpoint folder"):
        export_checkpoint(tmp_path, tmp_path / "out")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("onnx")
    root = tmp_path_factory.mktemp("ckpt")
    tok = make_tokenizer(root / "tokenizer.json", fixed_padding=16)  # a padding setting the export must switch off
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=64, num_labels=3,
        id2label=dict(enumerate(LABELS)), label2id={n: i for i, n in enumerate(LABELS)},
    )
    model = transformers.BertForSequenceClassification(config).eval()
    model.save_pretrained(root)
    return root


def torch_logits(root: Path, texts: list[str]) -> np.ndarray:
    import torch
    import transformers
    from tokenizers import Tokenizer

    model = transformers.AutoModelForSequenceClassification.from_pretrained(root).eval()
    tok = Tokenizer.from_file(str(root / "tokenizer.json"))
    tok.no_padding()
    out = []
    with torch.no_grad():
        for text in texts:
            ids = torch.tensor([tok.encode(text).ids])
            out.append(model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0].numpy())
    return np.array(out)


@pytest.mark.slow
def test_export_writes_a_bundle_sieve_scores_like_pytorch(checkpoint: Path, tmp_path: Path) -> None:
    import onnx

    from app.engine import Classifier
    from app.export import export_checkpoint

    out = tmp_path / "bundle"
    report = export_checkpoint(checkpoint, out, parity_texts=TEXTS)
    assert report.parity_max_abs_diff < 1e-4
    assert report.labels == LABELS and any("parity" in line for line in report.lines())
    proto = onnx.load(str(out / "model.onnx"))
    assert proto.ir_version <= 10 and proto.opset_import[0].version == 17
    names = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in proto.graph.input}
    assert names == {"input_ids": ["batch_size", "sequence_length"], "attention_mask": ["batch_size", "sequence_length"]}
    assert [o.name for o in proto.graph.output] == ["logits"]
    tok = json.loads((out / "tokenizer.json").read_text())
    assert tok["padding"] is None and tok["truncation"]["max_length"] == 64
    assert json.loads((out / "config.json").read_text())["id2label"] == {"0": "negative", "1": "neutral", "2": "positive"}

    clf = Classifier.load(out)
    got = clf.score(TEXTS).probs
    want = torch_logits(checkpoint, TEXTS)
    want = np.exp(want - want.max(1, keepdims=True))
    np.testing.assert_allclose(got, want / want.sum(1, keepdims=True), atol=1e-4)


@pytest.mark.slow
def test_sieve_export_cli_with_int8_then_sieve_score(checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "int8"
    proc = subprocess.run([sys.executable, "-m", "app", "export", str(checkpoint), str(out), "--quantize", "int8"],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "int8 vs PyTorch" in proc.stdout and "parity fp32 vs PyTorch" in proc.stdout
    assert "max |Δprob|" in proc.stdout and "same label on" in proc.stdout
    texts = tmp_path / "in.txt"
    texts.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    scored = subprocess.run([sys.executable, "-m", "app", "score", str(texts), "-o", str(tmp_path / "o.csv"),
                             "--model", str(out), "--quiet"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert scored.returncode == 0, scored.stderr
    rows = (tmp_path / "o.csv").read_text(encoding="utf-8").splitlines()
    assert len(rows) == len(TEXTS) + 1 and all(r.split(",")[1] in LABELS for r in rows[1:])


@pytest.mark.slow
def test_fp16_export_fuses_the_transformer_and_matches_pytorch(checkpoint: Path, tmp_path: Path) -> None:
    import onnx

    from app.engine import Classifier
    from app.engine.card import FP16_ON_CPU_NOTE
    from app.export import export_checkpoint

    out = tmp_path / "fp16"
    report = export_checkpoint(checkpoint, out, parity_texts=TEXTS, precision="fp16")
    # ONNX Runtime's optimizer found the BERT pattern: fused attention, embeddings + layer norm, GELU.
    assert report.fused.get("Attention") == 2 and report.fused.get("EmbedLayerNormalization") == 1
    assert report.fused.get("SkipLayerNormalization", 0) >= 2 and report.fused.get("BiasGelu", 0) >= 1
    assert report.precision == "fp16" and report.agreement == 1.0 and report.max_prob_diff < 0.01
    text = "\n".join(report.lines())
    assert "fp16 vs PyTorch" in text and "max |Δprob|" in text and "same label on 100.0%" in text
    proto = onnx.load(str(out / "model.onnx"))
    assert proto.ir_version <= 10
    halves = [t for t in proto.graph.initializer if t.data_type == onnx.TensorProto.FLOAT16]
    assert len(halves) > len(proto.graph.initializer) // 2  # the weights are fp16 ...
    assert [i.type.tensor_type.elem_type for i in proto.graph.input] == [onnx.TensorProto.INT64] * 2
    assert proto.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # ... its edges are not
    assert report.size_bytes < 0.6 * report.fp32_size_bytes

    clf = Classifier.load(out, provider="cpu")
    card = clf.card()
    assert card.quantization == "fp16" and FP16_ON_CPU_NOTE in card.notes
    got = clf.score(TEXTS).probs  # padded, length-sorted batches through the fused attention's mask
    want = torch_logits(checkpoint, TEXTS)
    want = np.exp(want - want.max(1, keepdims=True))
    np.testing.assert_allclose(got, want / want.sum(1, keepdims=True), atol=1e-2)


@pytest.mark.slow
def test_sieve_export_precision_flags(checkpoint: Path, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "app", "export", str(checkpoint), str(tmp_path / "h"),
                           "--precision", "fp16"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "fp16: fused" in proc.stdout and "fp16 vs PyTorch" in proc.stdout and "max |Δprob|" in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "app", "export", str(checkpoint), str(tmp_path / "x"),
                          "--precision", "fp16", "--quantize", "int8"], cwd=REPO, capture_output=True, text=True,
                         timeout=600)
    assert bad.returncode == 2 and "disagree" in bad.stderr
