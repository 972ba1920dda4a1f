"""Export a HuggingFace sequence-classification checkpoint to a Sieve model bundle.

The recipe (shared by ``sieve export`` and ``packaging/default_model/build.py``):

1. load the checkpoint with ``transformers`` (``model.safetensors`` when present; a ``.bin`` checkpoint is a pickle,
   so export only checkpoints you trust);
2. ``torch.onnx.export`` with inputs ``input_ids``/``attention_mask``, output ``logits``, dynamic ``batch_size`` and
   ``sequence_length`` axes, the chosen opset, and an IR version the installed onnxruntime accepts;
3. ``onnx.checker`` on the result, then ONNX Runtime logits compared with PyTorch's (max abs difference);
4. optionally ``quantize_dynamic`` to int8 weights (the int8 file becomes ``model.onnx``);
5. ``tokenizer.json`` with its padding switched off (Sieve pads per batch) and its truncation kept, and a
   ``config.json`` carrying ``id2label``.

torch, transformers and onnx come from the ``export`` extra and are imported only here, only when called.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .engine.errors import ExportError

#: IR version written into exported files: onnx >= 1.23 writes 11+ by default, which older runtimes refuse.
EXPORT_IR_VERSION = 10

PARITY_TEXTS = (
    "I absolutely love this, best day ever!",
    "This is awful, I hate it.",
    "The meeting has been moved to Thursday at 3 pm.",
    "Not bad at all, though the ending dragged a little.",
    "ok",
    "Worst customer service I have ever dealt with; two hours on hold and nobody could help.",
    "Les résultats sont arrivés ce matin 🙂",
    "The flight was delayed, but the crew were kind and kept us informed the whole time.",
)


@dataclass
class ExportReport:
    """What an export produced and how closely ONNX Runtime matches PyTorch."""

    out_dir: Path
    model_path: Path
    size_bytes: int
    opset: int
    ir_version: int
    labels: list[str]
    parity_rows: int
    parity_max_abs_diff: float  # fp32 ONNX Runtime vs PyTorch logits
    quantized: str | None = None
    fp32_size_bytes: int = 0
    int8_max_abs_diff: float | None = None  # int8 ONNX Runtime vs PyTorch logits
    int8_argmax_agreement: float | None = None  # share of rows where int8 and PyTorch pick the same label
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        mb = self.size_bytes / 1e6
        out = [
            f"wrote {self.out_dir} ({self.model_path.name}: {mb:.1f} MB, opset {self.opset}, IR {self.ir_version})",
            f"labels: {', '.join(self.labels)}",
            f"parity fp32 vs PyTorch on {self.parity_rows} texts: max |logit diff| = {self.parity_max_abs_diff:.2e}",
        ]
        if self.quantized:
            out.append(
                f"int8 vs PyTorch: max |logit diff| = {self.int8_max_abs_diff:.3f}, same label on "
                f"{self.int8_argmax_agreement:.1%} of texts; size {self.fp32_size_bytes / 1e6:.1f} MB -> {mb:.1f} MB"
            )
        out.extend(self.notes)
        out.append(f"done in {self.seconds:.1f} s; try: sieve score --model {self.out_dir} YOUR_FILE.csv")
        return out


def _import_export_deps():  # noqa: ANN202 - modules
    try:
        import onnx
        import torch
        import transformers
    except ImportError as exc:
        raise ExportError(
            f"Exporting needs PyTorch, transformers and onnx, and {exc.name} is not installed",
            "Install the export extra: pip install 'sieve[export]' (or pip install -e '.[export]' in a checkout)",
        ) from None
    return torch, transformers, onnx


def export_checkpoint(
    checkpoint_dir: str | Path,
    out_dir: str | Path,
    *,
    quantize: str | None = None,
    opset: int = 17,
    parity_texts: Sequence[str] | None = None,
    max_length: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> ExportReport:
    """Export ``checkpoint_dir`` (saved with ``save_pretrained``) to a Sieve bundle in ``out_dir``."""
    say = progress or (lambda _msg: None)
    t0 = time.perf_counter()
    src = Path(checkpoint_dir)
    if not (src / "config.json").is_file():
        raise ExportError(f"{src} is not a HuggingFace checkpoint folder (no config.json)",
                          "Pass the folder you saved with model.save_pretrained() and tokenizer.save_pretrained()")
    if quantize not in (None, "int8"):
        raise ExportError(f"Unknown quantization {quantize!r}", "Use --quantize int8, or leave it out")
    torch, transformers, onnx = _import_export_deps()
    import onnxruntime as ort

    say(f"loading {src}")
    try:
        safe = any(src.glob("*.safetensors")) or None
        model = transformers.AutoModelForSequenceClassification.from_pretrained(src, use_safetensors=safe)
    except (OSError, ValueError, KeyError) as exc:
        raise ExportError(f"Could not load {src} as a sequence-classification model: {exc}",
                          "Check that it holds config.json and model weights saved with save_pretrained()") from None
    model.eval()
    tokenizer = _fast_tokenizer(src, transformers, _max_positions(model.config), max_length)
    labels = _labels(model.config)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sieve-export-") as tmp:
        fp32 = Path(tmp) / "model.onnx"
        say(f"exporting to ONNX (opset {opset}, dynamic batch_size and sequence_length)")
        _torch_export(model, torch, fp32, opset)
        proto = onnx.load(str(fp32))
        if proto.ir_version > EXPORT_IR_VERSION:
            proto.ir_version = EXPORT_IR_VERSION
        onnx.checker.check_model(proto)
        onnx.save(proto, str(fp32))
        say("checked with onnx.checker; comparing ONNX Runtime with PyTorch")

        texts = list(parity_texts or PARITY_TEXTS)
        feeds = _encode(tokenizer, texts)
        reference = _torch_logits(model, torch, feeds)
        fp32_logits = _ort_logits(ort, fp32, feeds)
        report = ExportReport(
            out_dir=out, model_path=out / "model.onnx", size_bytes=fp32.stat().st_size, opset=opset,
            ir_version=proto.ir_version, labels=labels, parity_rows=len(texts),
            parity_max_abs_diff=float(np.abs(fp32_logits - reference).max()),
            fp32_size_bytes=fp32.stat().st_size,
        )
        if quantize == "int8":
            say("quantizing weights to int8 (dynamic quantization)")
            int8 = Path(tmp) / "model.int8.onnx"
            quantize_int8(fp32, int8)
            int8_logits = _ort_logits(ort, int8, feeds)
            report.quantized = "int8"
            report.int8_max_abs_diff = float(np.abs(int8_logits - reference).max())
            report.int8_argmax_agreement = float(np.mean(int8_logits.argmax(1) == reference.argmax(1)))
            shutil.copyfile(int8, out / "model.onnx")
        else:
            shutil.copyfile(fp32, out / "model.onnx")
    report.size_bytes = (out / "model.onnx").stat().st_size
    tokenizer.save(str(out / "tokenizer.json"))
    _write_config(model.config, labels, out / "config.json")
    report.seconds = time.perf_counter() - t0
    return report


def quantize_int8(src: Path, dst: Path) -> None:
    """Dynamic int8 quantization of MatMul/Gemm weights (activations stay float; runs well on CPUs)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)


# ---------------------------------------------------------------------------------------------- helpers
def _max_positions(config) -> int:  # noqa: ANN001
    return int(min(getattr(config, "max_position_embeddings", 512) or 512, 512))


def _labels(config) -> list[str]:  # noqa: ANN001
    id2label = getattr(config, "id2label", None) or {}
    n = int(getattr(config, "num_labels", len(id2label)) or len(id2label))
    return [str(id2label.get(i, id2label.get(str(i), f"LABEL_{i}"))) for i in range(n)]


def _fast_tokenizer(src: Path, transformers, positions: int, max_length: int | None):  # noqa: ANN001, ANN202
    """The checkpoint's ``tokenizer.json`` (or the fast tokenizer transformers builds), padding off.

    Truncation: ``max_length`` when given, else the tokenizer's own, else the model's position limit (≤ 512).
    """
    from tokenizers import Tokenizer

    file = src / "tokenizer.json"
    if file.is_file():
        tok = Tokenizer.from_file(str(file))
    else:
        try:
            hf = transformers.AutoTokenizer.from_pretrained(src, use_fast=True)
        except (OSError, ValueError) as exc:
            raise ExportError(f"No tokenizer.json in {src} and transformers could not build one: {exc}",
                              "Save the tokenizer with tokenizer.save_pretrained() next to the model") from None
        if not getattr(hf, "is_fast", False):
            raise ExportError(f"The tokenizer in {src} has no fast (tokenizers) version",
                              "Sieve needs a tokenizer.json; convert the tokenizer with a fast tokenizer class")
        tok = hf.backend_tokenizer
    trunc = tok.truncation
    length = max_length or (int(trunc["max_length"]) if trunc else positions)
    tok.no_padding()
    tok.enable_truncation(max_length=min(length, positions))
    return tok


def _encode(tokenizer, texts: list[str], batch: int = 64) -> list[dict[str, np.ndarray]]:  # noqa: ANN001
    """Batches of similar lengths, each padded to its own longest text (fast, and how Sieve runs them)."""
    encs = tokenizer.encode_batch(texts)
    order = sorted(range(len(encs)), key=lambda i: len(encs[i].ids))
    pad = tokenizer.token_to_id("[PAD]") or 0
    out = []
    for start in range(0, len(order), batch):
        part = [encs[i] for i in order[start : start + batch]]
        width = max(len(e.ids) for e in part)
        ids = np.full((len(part), width), pad, dtype=np.int64)
        mask = np.zeros_like(ids)
        for i, e in enumerate(part):
            ids[i, : len(e.ids)] = e.ids
            mask[i, : len(e.ids)] = 1
        out.append({"input_ids": ids, "attention_mask": mask})
    return out


def _torch_export(model, torch, path: Path, opset: int) -> None:  # noqa: ANN001
    dummy = (torch.ones(2, 8, dtype=torch.long), torch.ones(2, 8, dtype=torch.long))
    axes = {"batch_size": 0, "sequence_length": 1}
    dynamic = {
        "input_ids": {v: k for k, v in axes.items()},
        "attention_mask": {v: k for k, v in axes.items()},
        "logits": {0: "batch_size"},
    }
    try:
        # The tracer warns about shapes it freezes and the legacy exporter warns about itself; the parity check
        # that follows (mixed lengths, padded batches) is what tells whether the graph is right, so keep it quiet.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model, dummy, str(path), input_names=["input_ids", "attention_mask"], output_names=["logits"],
                dynamic_axes=dynamic, opset_version=opset, do_constant_folding=True, dynamo=False,
            )
    except Exception as exc:  # torch raises many kinds; all mean the same thing to the user
        raise ExportError(f"torch.onnx.export failed: {exc}",
                          "Try another --opset, or export with the model's own ONNX recipe") from exc


def _torch_logits(model, torch, batches: list[dict[str, np.ndarray]]) -> np.ndarray:  # noqa: ANN001
    with torch.no_grad():
        return np.concatenate(
            [model(**{k: torch.from_numpy(v) for k, v in b.items()}).logits.float().numpy() for b in batches])


def _ort_logits(ort, path: Path, batches: list[dict[str, np.ndarray]]) -> np.ndarray:  # noqa: ANN001
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(["logits"], b)[0] for b in batches])


def _write_config(config, labels: list[str], path: Path) -> None:  # noqa: ANN001
    data = config.to_dict()
    data["id2label"] = {str(i): name for i, name in enumerate(labels)}
    data["label2id"] = {name: i for i, name in enumerate(labels)}
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
