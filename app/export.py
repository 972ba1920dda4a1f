"""Export a HuggingFace sequence-classification checkpoint to a Sieve model bundle.

The recipe (shared by ``sieve export`` and ``packaging/default_model/build.py``):

1. load the checkpoint with ``transformers`` (``model.safetensors`` when present; a ``.bin`` checkpoint is a pickle,
   so export only checkpoints you trust);
2. ``torch.onnx.export`` with inputs ``input_ids``/``attention_mask``, output ``logits``, dynamic ``batch_size`` and
   ``sequence_length`` axes, the chosen opset, and an IR version the installed onnxruntime accepts;
3. ``onnx.checker`` on the result, then ONNX Runtime logits compared with PyTorch's (max abs difference);
4. the precision asked for (``model.onnx`` is that file):

   - ``fp32``: the export as it is (ONNX Runtime fuses it again at load on every device);
   - ``fp16``, for GPUs: ONNX Runtime's transformer optimizer (``onnxruntime.transformers.optimizer``) fuses
     attention, embedding + layer norm, skip + layer norm and GELU for BERT-family models, then converts weights and
     arithmetic to float16 with float32 inputs and outputs kept (``keep_io_types``). The model is exported with
     eager attention for this: the optimizer recognises that pattern, not the fused SDPA one;
   - ``int8``: ``quantize_dynamic`` on MatMul weights, for CPUs (on CUDA it mostly falls back to the CPU);

   and the variant's labels and probabilities are compared with PyTorch's (label agreement, max |Δprob|), on the
   GPU when CUDA works here, else on the CPU;
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
PRECISIONS = ("fp32", "fp16", "int8")
#: Model families whose graphs ONNX Runtime's BERT fusions match (its optimizer has one "bert" type for all of them).
BERT_FAMILY = frozenset({"bert", "roberta", "xlm-roberta", "distilbert", "electra", "camembert", "mpnet",
                         "deberta", "deberta-v2", "albert", "ernie", "xlm", "megatron-bert", "layoutlm"})

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
    quantized: str | None = None  # "int8" for an int8 export (kept for older callers; see ``precision``)
    fp32_size_bytes: int = 0
    int8_max_abs_diff: float | None = None  # int8 ONNX Runtime vs PyTorch logits
    int8_argmax_agreement: float | None = None  # share of rows where int8 and PyTorch pick the same label
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    precision: str = "fp32"
    # The written variant (fp32, fp16 or int8) against PyTorch: label agreement, largest |Δprob| and |Δlogit|.
    agreement: float | None = None
    max_prob_diff: float | None = None
    max_logit_diff: float | None = None
    parity_provider: str = "CPU"  # where ONNX Runtime ran the parity check
    fused: dict[str, int] = field(default_factory=dict)  # fp16: fused operators the optimizer made, by kind

    def lines(self) -> list[str]:
        mb = self.size_bytes / 1e6
        out = [
            f"wrote {self.out_dir} ({self.model_path.name}: {mb:.1f} MB, opset {self.opset}, IR {self.ir_version})",
            f"labels: {', '.join(self.labels)}",
            f"parity fp32 vs PyTorch on {self.parity_rows} texts: max |logit diff| = {self.parity_max_abs_diff:.2e}",
        ]
        if self.fused:
            out.append("fp16: fused " + ", ".join(f"{n} {k}" for k, n in self.fused.items()))
        if self.agreement is not None:
            out.append(
                f"{self.precision} vs PyTorch on {self.parity_rows} texts ({self.parity_provider}): same label on "
                f"{self.agreement:.1%}, max |Δprob| = {self.max_prob_diff:.4f}, max |logit diff| = "
                f"{self.max_logit_diff:.3f}"
            )
        if self.precision != "fp32":
            out.append(f"size {self.fp32_size_bytes / 1e6:.1f} MB (fp32) -> {mb:.1f} MB ({self.precision})")
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
    precision: str = "fp32",
) -> ExportReport:
    """Export ``checkpoint_dir`` (saved with ``save_pretrained``) to a Sieve bundle in ``out_dir``.

    ``precision``: ``fp32``, ``fp16`` (fused and halved for GPUs) or ``int8`` (dynamic, for CPUs);
    ``quantize="int8"`` is the older spelling of ``precision="int8"``.
    """
    say = progress or (lambda _msg: None)
    t0 = time.perf_counter()
    src = Path(checkpoint_dir)
    if not (src / "config.json").is_file():
        raise ExportError(f"{src} is not a HuggingFace checkpoint folder (no config.json)",
                          "Pass the folder you saved with model.save_pretrained() and tokenizer.save_pretrained()")
    if quantize not in (None, "int8"):
        raise ExportError(f"Unknown quantization {quantize!r}", "Use --precision int8, or leave it out")
    precision = "int8" if quantize == "int8" else precision
    if precision not in PRECISIONS:
        raise ExportError(f"Unknown precision {precision!r}", f"Use one of {', '.join(PRECISIONS)}")
    torch, transformers, onnx = _import_export_deps()
    import onnxruntime as ort

    say(f"loading {src}")
    try:
        safe = any(src.glob("*.safetensors")) or None
        # The fp16 optimizer fuses the attention pattern of eager attention; SDPA exports as a pattern it skips.
        extra = {"attn_implementation": "eager"} if precision == "fp16" else {}
        model = transformers.AutoModelForSequenceClassification.from_pretrained(src, use_safetensors=safe, **extra)
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
            fp32_size_bytes=fp32.stat().st_size, precision=precision,
        )
        final = fp32
        if precision == "int8":
            say("quantizing weights to int8 (dynamic quantization)")
            final = Path(tmp) / "model.int8.onnx"
            quantize_int8(fp32, final)
        elif precision == "fp16":
            say("fusing attention, layer norms and GELU with ONNX Runtime's transformer optimizer, then fp16")
            final = Path(tmp) / "model.fp16.onnx"
            report.fused = optimize_fp16(fp32, final, model.config)
            if not report.fused.get("Attention") and not report.fused.get("MultiHeadAttention"):
                family = getattr(model.config, "model_type", "?")
                report.notes.append(
                    f"note: the optimizer fused no attention in this {family} graph"
                    + ("" if family in BERT_FAMILY else " (its fusions know BERT-family graphs)")
                    + "; the fp16 model runs, but slower than a fused one would")
        device = "CPU"
        if precision != "fp32":
            device = _parity_device(ort)
            logits = _ort_logits(ort, final, feeds, cuda=device == "CUDA")
            multi = getattr(model.config, "problem_type", None) == "multi_label_classification"
            report.parity_provider = device
            report.max_logit_diff = float(np.abs(logits - reference).max())
            report.max_prob_diff = float(np.abs(_probs(logits, multi) - _probs(reference, multi)).max())
            report.agreement = float(np.mean(logits.argmax(1) == reference.argmax(1)))
            if precision == "int8":
                report.quantized = "int8"
                report.int8_max_abs_diff = report.max_logit_diff
                report.int8_argmax_agreement = report.agreement
            if precision == "fp16" and device == "CPU":
                report.notes.append(
                    "note: parity ran on the CPU (CUDA is not usable here), where ONNX Runtime computes most fp16 "
                    "operators in fp32; on a GPU, fp16 arithmetic moves probabilities a little more: check it there "
                    f"with sieve compare FP32_EXPORT {out} --providers cuda")
        shutil.copyfile(final, out / "model.onnx")
    report.size_bytes = (out / "model.onnx").stat().st_size
    tokenizer.save(str(out / "tokenizer.json"))
    _write_config(model.config, labels, out / "config.json")
    report.seconds = time.perf_counter() - t0
    return report


def optimize_fp16(src: Path, dst: Path, config) -> dict[str, int]:  # noqa: ANN001
    """Fuse a transformer graph for GPUs with ONNX Runtime's optimizer, convert it to fp16 (inputs and outputs stay
    fp32), and save it with an IR version the installed onnxruntime reads. Returns the fused operators by kind."""
    from onnxruntime.transformers import optimizer

    heads = int(getattr(config, "num_attention_heads", 0) or getattr(config, "n_heads", 0) or 0)
    hidden = int(getattr(config, "hidden_size", 0) or getattr(config, "dim", 0) or 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt = optimizer.optimize_model(str(src), model_type="bert", num_heads=heads, hidden_size=hidden,
                                       opt_level=0, use_gpu=True)
    fused = {k: int(v) for k, v in opt.get_fused_operator_statistics().items() if v}
    # Keep float32 at the edges: Sieve (and any caller) feeds int64 ids and reads float32 logits.
    opt.convert_float_to_float16(keep_io_types=True)
    if opt.model.ir_version > EXPORT_IR_VERSION:
        opt.model.ir_version = EXPORT_IR_VERSION
    opt.save_model_to_file(str(dst))
    return fused


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


def _ort_logits(ort, path: Path, batches: list[dict[str, np.ndarray]], cuda: bool = False) -> np.ndarray:  # noqa: ANN001
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if cuda else ["CPUExecutionProvider"]
    sess = ort.InferenceSession(str(path), providers=providers)
    return np.concatenate([sess.run(["logits"], b)[0] for b in batches]).astype(np.float32)


def _parity_device(ort) -> str:  # noqa: ANN001
    """CUDA when a CUDA session can start here (where fp16 and int8 really run), else CPU."""
    from .engine.session import cuda_unavailable_reason

    return "CPU" if cuda_unavailable_reason() else "CUDA"


def _probs(logits: np.ndarray, multi_label: bool) -> np.ndarray:
    from .engine.scoring import probabilities

    return probabilities(logits, multi_label)


def _write_config(config, labels: list[str], path: Path) -> None:  # noqa: ANN001
    data = config.to_dict()
    data["id2label"] = {str(i): name for i, name in enumerate(labels)}
    data["label2id"] = {name: i for i, name in enumerate(labels)}
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
