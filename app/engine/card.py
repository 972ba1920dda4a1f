"""The model card: what a loaded classifier is, as one frozen value read by ``sieve info``, the window and the server."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

IOSpec = tuple[str, str, tuple]  # (name, element type, shape) as ONNX Runtime reports them


@dataclass(frozen=True)
class ModelCard:
    """Facts about a loaded model and how it runs. ``notes`` holds sentences a user should read before trusting
    the scores (batch-dependent quantization, a single-logit head read as binary, …)."""

    name: str
    path: str
    size_bytes: int
    sha256: str
    labels: tuple[str, ...]
    problem_type: str
    inputs: tuple[IOSpec, ...]
    outputs: tuple[IOSpec, ...]
    logits_output: str
    opset: int | None
    ir_version: int | None
    producer: str
    quantization: str
    batch_invariant: bool
    max_length: int
    vocab_size: int
    providers_available: tuple[str, ...]
    providers_in_use: tuple[str, ...]
    device: str
    cuda_fallback_reason: str | None
    threads: int
    notes: tuple[str, ...] = ()
    io_binding: bool = False  # inputs copied to the device once per batch, the output bound (GPU runs by default)
    warmup_shapes: int = 0  # batch shapes run once at load (GPU runs by default); 0: no warm-up
    warmup_ms: float | None = None

    @property
    def multi_label(self) -> bool:
        return self.problem_type == "multi_label_classification"

    @property
    def short_hash(self) -> str:
        return self.sha256[:12]

    def as_dict(self) -> dict:
        """JSON-ready (tuples become lists)."""
        out = asdict(self)
        for key in ("inputs", "outputs"):
            out[key] = [[n, t, list(s)] for n, t, s in out[key]]
        for key in ("labels", "providers_available", "providers_in_use", "notes"):
            out[key] = list(out[key])
        return out


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (cached per path, size and modification time)."""
    st = Path(path).stat()
    return _sha256(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=32)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def single_logit_note(negative: str, positive: str) -> str:
    return (f"The model gives one score per text; Sieve reads it as a binary classifier: sigmoid(score) is the "
            f"probability of {positive!r} and 1 minus it that of {negative!r}")


DYNAMIC_QUANT_NOTE = (
    "This model uses int8 dynamic quantization: activation scales are computed per batch, so a text's scores vary "
    "slightly with the other texts in its batch (re-quantize it statically for batch-independent scores)"
)

FP16_ON_CPU_NOTE = (
    "This model stores fp16 weights: the CPU has few fp16 kernels, so ONNX Runtime converts around most of its "
    "operations and it usually runs slower here than an fp32 export (fp16 is for GPUs)"
)
