"""The ONNX Runtime session: provider choice, the reason for any CUDA fallback, and input/output introspection."""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import io
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import onnxruntime as ort

from .bundle import ModelBundle
from .errors import InferenceError, ModelError
from .onnx_meta import OnnxFacts, check_external_data, read_facts

log = logging.getLogger(__name__)

TEXT_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
PROVIDER_NAMES = {"cuda": "CUDAExecutionProvider", "cpu": "CPUExecutionProvider",
                  "tensorrt": "TensorrtExecutionProvider"}
GPU_PROVIDERS = frozenset({PROVIDER_NAMES["cuda"], PROVIDER_NAMES["tensorrt"]})
#: CUDA provider settings Sieve passes (every value a string, as ONNX Runtime's provider options are).
CUDA_PROVIDER_OPTIONS = {
    # Grow the device memory arena by what a batch asks for, not to the next power of two: the planner runs each
    # window's longest batch first and the warm-up runs the largest shape first, so the arena reaches its size
    # once; doubling past it would strand up to half the memory the batch budget allows.
    "arena_extend_strategy": "kSameAsRequested",
    # EXHAUSTIVE (ORT's default) benchmarks every cuDNN convolution algorithm for each new input shape; with a new
    # sequence length in almost every batch that search would never stop running. The heuristic chooses at once.
    "cudnn_conv_algo_search": "HEURISTIC",
    # Host/device copies on the compute stream: no cross-stream synchronisation per batch (ORT's default, pinned
    # here because the IO-binding path relies on it).
    "do_copy_in_default_stream": "1",
}
OPT_LEVELS = {
    "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
_ORT_DTYPES = {"tensor(int64)": np.int64, "tensor(int32)": np.int32}
_FLOAT_TYPES = {"tensor(float)", "tensor(float16)", "tensor(double)", "tensor(bfloat16)"}
# An unlabelled 2-D output this wide is a hidden state (embedding), not class logits.
_EMBEDDING_WIDTH = 128
# Model families whose position ids start after the padding id (RoBERTa: pad_token_id + 1), so the table holds that
# many rows more than the tokens a text may have.
_OFFSET_POSITIONS = frozenset({"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "longformer", "data2vec-text",
                               "roberta-prelayernorm", "xmod", "bertweet"})
# How the logits become probabilities: softmax (single label), sigmoid (multi-label), binary (one logit per text).
HEADS = ("softmax", "sigmoid", "binary")
_log_lock = threading.Lock()


@dataclass(frozen=True)
class SessionConfig:
    """How to start ONNX Runtime.

    ``provider``: ``"auto"`` (CUDA when it works, else CPU), ``"cuda"``, ``"cpu"``, or ``"tensorrt"`` (TensorRT
    when its libraries are installed, else CUDA, else CPU; never chosen by ``auto``: building its engines takes
    minutes). ``intra_op_threads``: 0 lets ONNX Runtime choose (one per physical core). ``io_binding``: ``"auto"``
    binds inputs and outputs on GPU runs only; ``"on"``/``"off"`` force it. ``max_shape``: the largest
    ``(batch, sequence)`` the session will see, for TensorRT's optimisation profile.
    """

    provider: str = "auto"
    intra_op_threads: int = 0
    graph_optimization: str = "all"
    io_binding: str = "auto"
    max_shape: tuple[int, int] = (32, 512)

    def __post_init__(self) -> None:
        if self.provider not in ("auto", "cuda", "cpu", "tensorrt"):
            raise ModelError(f"Unknown provider {self.provider!r}", "Use auto, cuda, tensorrt or cpu")
        if self.io_binding not in ("auto", "on", "off"):
            raise ModelError(f"Unknown IO binding setting {self.io_binding!r}", "Use auto, on or off")
        if self.graph_optimization not in OPT_LEVELS:
            raise ModelError(
                f"Unknown graph optimisation level {self.graph_optimization!r}",
                f"Use one of {', '.join(OPT_LEVELS)}",
            )
        if self.intra_op_threads < 0:
            raise ModelError("Thread count cannot be negative", "Use 0 for automatic, or a positive number")


@dataclass(frozen=True)
class InputSpec:
    name: str
    dtype: type
    fixed_batch: int | None
    fixed_length: int | None


@dataclass(frozen=True)
class ProviderReport:
    """Which execution provider runs the model and, when CUDA was wanted but not obtained, why."""

    requested: tuple[str, ...]
    active: tuple[str, ...]
    available: tuple[str, ...]
    fallback_reason: str | None = None
    tensorrt_reason: str | None = None  # only when TensorRT was asked for and is not in use

    @property
    def device(self) -> str:
        """``"CUDA"`` when an NVIDIA GPU runs the model (through the CUDA or TensorRT provider), else ``"CPU"``."""
        return "CUDA" if self.active and self.active[0] in GPU_PROVIDERS else "CPU"

    def describe(self) -> str:
        text = f"{self.device} ({self.active[0] if self.active else 'none'})"
        if self.fallback_reason:
            return f"{text}; CUDA not used: {self.fallback_reason}"
        return f"{text}; TensorRT not used: {self.tensorrt_reason}" if self.tensorrt_reason else text


@dataclass
class ModelSession:
    """An ONNX Runtime session over a text classifier, with its inputs and logits output resolved.

    ``run`` is thread-safe (ONNX Runtime allows concurrent ``Run`` calls on one session; each IO-bound run makes
    its own binding).
    """

    bundle: ModelBundle
    config: SessionConfig
    session: ort.InferenceSession
    inputs: tuple[InputSpec, ...]
    logits_name: str
    logits_width: int | None
    labels: tuple[str, ...]
    providers: ProviderReport
    facts: OnnxFacts = field(default_factory=OnnxFacts)
    _output_names: list[str] = field(default_factory=list, repr=False)
    head: str = "softmax"  # one of HEADS
    io_binding: bool = False  # inputs copied to the device once per batch, the logits output bound

    @classmethod
    def load(cls, bundle: ModelBundle, config: SessionConfig | None = None) -> ModelSession:
        config = config or SessionConfig()
        facts = read_facts(bundle.model_path)
        check_external_data(bundle.model_path, facts)
        requested, probe_reason, trt_reason = _requested_providers(config.provider)
        options = ort.SessionOptions()
        options.graph_optimization_level = OPT_LEVELS[config.graph_optimization]
        options.intra_op_num_threads = config.intra_op_threads
        options.log_severity_level = 4  # FATAL only: run errors reach us as exceptions, not as native log lines
        providers = [(name, provider_options(name, config, facts)) for name in requested]
        with _quiet_ort():
            try:
                session = ort.InferenceSession(str(bundle.model_path), options, providers=providers)
            except Exception as exc:  # ORT raises several unrelated types (Fail, InvalidGraph, RuntimeException…)
                raise explain_load_error(exc, bundle.model_path) from exc
        active = tuple(session.get_providers())
        reason = None
        if PROVIDER_NAMES["cuda"] in requested and PROVIDER_NAMES["cuda"] not in active:
            reason = probe_reason or "ONNX Runtime could not start the CUDA provider for this model"
        elif config.provider != "cpu" and PROVIDER_NAMES["cuda"] not in requested:
            reason = probe_reason
        if config.provider == "tensorrt" and PROVIDER_NAMES["tensorrt"] not in active:
            trt_reason = trt_reason or reason or "ONNX Runtime could not start the TensorRT provider for this model"
        report = ProviderReport(requested, active, tuple(ort.get_available_providers()), reason, trt_reason)
        if reason and config.provider in ("cuda", "tensorrt"):
            log.warning("The GPU was requested but the model runs on the CPU: %s", reason)
        elif trt_reason:
            log.warning("TensorRT was requested but is not used: %s", trt_reason)
        if report.device == "CUDA" and facts.dynamic_quantization:
            log.warning(INT8_ON_GPU_NOTE)

        inputs = _resolve_inputs(session)
        logits_name, width = _resolve_logits(session, bundle)
        labels = _resolve_labels(bundle, width)
        head = "sigmoid" if bundle.multi_label else "binary" if width == 1 else "softmax"
        bound = config.io_binding == "on" or (config.io_binding == "auto" and report.device == "CUDA")
        return cls(bundle, config, session, inputs, logits_name, width, labels, report, facts, [logits_name], head,
                   bound)

    # ------------------------------------------------------------------ properties
    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.inputs)

    @property
    def fixed_length(self) -> int | None:
        lengths = [s.fixed_length for s in self.inputs if s.fixed_length]
        return min(lengths) if lengths else None

    @property
    def opset(self) -> int | None:
        return self.facts.opset

    @property
    def fixed_batch(self) -> int | None:
        sizes = [s.fixed_batch for s in self.inputs if s.fixed_batch]
        return min(sizes) if sizes else None

    @property
    def max_positions(self) -> int | None:
        """The most tokens a text may have, from the position table in the graph; ``None`` when none was found."""
        rows = self.facts.position_rows
        if not rows:
            return None
        cfg = self.bundle.config
        pad = cfg.get("pad_token_id")
        offset = (pad if isinstance(pad, int) else 1) + 1 if cfg.get("model_type") in _OFFSET_POSITIONS else 0
        return rows - offset if rows - offset >= 2 else rows

    def describe_io(self) -> dict:
        """Inputs and outputs as ONNX Runtime sees them (names, element types, shapes)."""
        return {
            "inputs": [(i.name, i.type, list(i.shape)) for i in self.session.get_inputs()],
            "outputs": [(o.name, o.type, list(o.shape)) for o in self.session.get_outputs()],
        }

    # ------------------------------------------------------------------ running
    def run(self, feeds: Mapping[str, np.ndarray]) -> np.ndarray:
        """Run one padded batch; return logits as float32 ``[batch, num_labels]``."""
        try:
            if self.io_binding:
                logits = self._run_bound(feeds)
            else:
                (logits,) = self.session.run(self._output_names, dict(feeds))
        except Exception as exc:
            raise explain_run_error(exc, feeds, self.facts, self.bundle.config) from exc
        logits = np.asarray(logits)
        if logits.ndim != 2:
            raise ModelError(
                f"Output {self.logits_name!r} came back with shape {list(logits.shape)}, not [batch, labels]",
                "Export the classification head's logits as the model output",
            )
        if self.labels and logits.shape[1] != (1 if self.head == "binary" else len(self.labels)):
            raise ModelError(
                f"The model gives {logits.shape[1]} scores per text but the bundle names {len(self.labels)} labels",
                "Make id2label in config.json (or labels.txt) match the classifier head",
            )
        return logits.astype(np.float32, copy=False)

    def _run_bound(self, feeds: Mapping[str, np.ndarray]) -> np.ndarray:
        """One run through an IO binding: each input is copied to the session's device once, the logits output is
        bound on that device and copied back once. A binding per call keeps concurrent runs apart."""
        binding = self.session.io_binding()
        for name, array in feeds.items():
            binding.bind_cpu_input(name, np.ascontiguousarray(array))
        device = "cuda" if self.providers.device == "CUDA" else "cpu"
        binding.bind_output(self.logits_name, device)
        self.session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()[0]


INT8_ON_GPU_NOTE = (
    "This model uses int8 dynamic quantization, which the CUDA provider mostly runs as CPU fallbacks with copies "
    "in between: on a GPU it is usually slower than the fp32 or fp16 export of the same model (sieve export "
    "--precision fp16)"
)


# ---------------------------------------------------------------------- providers
def _requested_providers(choice: str) -> tuple[tuple[str, ...], str | None, str | None]:
    """The providers to ask ONNX Runtime for, why CUDA cannot be used (if so), and why TensorRT cannot (if asked)."""
    cpu, cuda = PROVIDER_NAMES["cpu"], PROVIDER_NAMES["cuda"]
    if choice == "cpu":
        return (cpu,), None, None
    reason = cuda_unavailable_reason()
    if reason and choice == "auto":
        return (cpu,), reason, None
    if choice == "tensorrt":
        trt_reason = reason or tensorrt_unavailable_reason()
        if trt_reason is None:
            return (PROVIDER_NAMES["tensorrt"], cuda, cpu), None, None
        return (cuda, cpu), reason, trt_reason
    return (cuda, cpu), reason, None


def provider_options(name: str, config: SessionConfig, facts: OnnxFacts | None = None) -> dict[str, str]:
    """The options Sieve passes to provider ``name`` (empty for the CPU)."""
    if name == PROVIDER_NAMES["cuda"]:
        return dict(CUDA_PROVIDER_OPTIONS)
    if name == PROVIDER_NAMES["tensorrt"]:
        return tensorrt_options(config, facts or OnnxFacts())
    return {}


def tensorrt_options(config: SessionConfig, facts: OnnxFacts) -> dict[str, str]:
    """TensorRT settings: engines and timing cached on disk (the first build takes minutes), fp16 kernels for an
    fp16 model, and one optimisation profile from a 1×1 batch up to ``config.max_shape``."""
    from ..paths import cache_dir

    batch, length = config.max_shape
    names = [n for n in TEXT_INPUTS if n in facts.input_names] or ["input_ids", "attention_mask"]

    def shapes(b: int, n: int) -> str:
        return ",".join(f"{name}:{b}x{n}" for name in names)

    folder = cache_dir() / "tensorrt"
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "trt_engine_cache_enable": "1",
        "trt_engine_cache_path": str(folder),
        "trt_timing_cache_enable": "1",
        "trt_timing_cache_path": str(folder),
        "trt_fp16_enable": "1" if facts.quantization == "fp16" else "0",
        "trt_profile_min_shapes": shapes(1, 1),
        "trt_profile_opt_shapes": shapes(batch, max(1, min(length, 64))),
        "trt_profile_max_shapes": shapes(batch, length),
    }


@lru_cache(maxsize=1)
def cuda_unavailable_reason() -> str | None:
    """Why CUDA cannot be used here, in one sentence; ``None`` when it looks usable.

    Probed directly (provider list, shared libraries, driver, device count) rather than parsed from ORT's log.
    """
    if PROVIDER_NAMES["cuda"] not in ort.get_available_providers():
        return (
            f"this onnxruntime build ({ort.get_device()}) has no CUDA provider; "
            "install onnxruntime-gpu on Linux or Windows x86-64 for GPU support"
        )
    _preload_pip_cuda()
    capi = Path(ort.__file__).parent / "capi"
    lib = capi / ("onnxruntime_providers_cuda.dll" if sys.platform == "win32" else "libonnxruntime_providers_cuda.so")
    if getattr(sys, "frozen", False) and not lib.exists():
        return (
            "this Sieve bundle was built CPU-only, without onnxruntime's CUDA provider; for the GPU, install Sieve "
            "with pip, or rebuild the bundle with SIEVE_BUNDLE_GPU=1"
        )
    try:
        ctypes.CDLL(str(lib))
    except OSError as exc:
        missing = str(exc).split(":")[0].strip() if "cannot open shared object" in str(exc) else str(exc)
        return (
            f"the CUDA libraries onnxruntime-gpu {ort.__version__} needs are not installed ({missing} not found); "
            "install them with pip install 'onnxruntime-gpu[cuda,cudnn]' or the matching CUDA toolkit and cuDNN"
        )
    driver = "nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1"
    try:
        cuda = ctypes.CDLL(driver)
    except OSError:
        return f"no NVIDIA driver was found ({driver} is missing)"
    count = ctypes.c_int(0)
    status = cuda.cuInit(0)
    if status == 0:
        status = cuda.cuDeviceGetCount(ctypes.byref(count))
    if status != 0 or count.value == 0:
        return f"no usable NVIDIA GPU (CUDA driver status {status}, {count.value} devices)"
    return None


@lru_cache(maxsize=1)
def tensorrt_unavailable_reason() -> str | None:
    """Why ONNX Runtime's TensorRT provider cannot start here, in one sentence; ``None`` when it looks usable.

    TensorRT is optional: Sieve never needs it, and ``auto`` never picks it. Its libraries come from the
    ``tensorrt-cu13`` pip package (preloaded from there on Linux) or a system install.
    """
    if PROVIDER_NAMES["tensorrt"] not in ort.get_available_providers():
        return f"this onnxruntime build ({ort.get_device()}) has no TensorRT provider"
    _preload_pip_tensorrt()
    lib = Path(ort.__file__).parent / "capi" / (
        "onnxruntime_providers_tensorrt.dll" if sys.platform == "win32" else "libonnxruntime_providers_tensorrt.so")
    if not lib.exists():
        return "this onnxruntime build lacks its TensorRT provider library"
    try:
        ctypes.CDLL(str(lib))
    except OSError as exc:
        missing = str(exc).split(":")[0].strip() if "cannot open shared object" in str(exc) else str(exc)
        return f"the TensorRT libraries are not installed ({missing} not found); see sieve doctor"
    return None


def _preload_pip_tensorrt() -> None:
    """Load TensorRT's libraries from the ``tensorrt_libs`` pip package (tensorrt-cu13) when it is installed."""
    spec = importlib.util.find_spec("tensorrt_libs")
    if spec is None or not spec.submodule_search_locations:
        return
    folder = Path(next(iter(spec.submodule_search_locations)))
    for pattern in ("libnvinfer.so.*", "libnvinfer_plugin.so.*", "libnvonnxparser.so.*"):
        for lib in sorted(folder.glob(pattern)):
            with contextlib.suppress(OSError):
                ctypes.CDLL(str(lib), mode=getattr(ctypes, "RTLD_GLOBAL", 0))


def _preload_pip_cuda() -> None:
    """Load CUDA/cuDNN from the nvidia-* pip packages (onnxruntime-gpu[cuda,cudnn]) when they are installed.

    ``onnxruntime.preload_dlls`` prints each library it misses; that goes to the debug log, not the terminal.
    """
    preload = getattr(ort, "preload_dlls", None)
    if preload is None or importlib.util.find_spec("nvidia") is None:
        return
    out = io.StringIO()
    with contextlib.suppress(Exception), contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        preload()
    if out.getvalue().strip():
        log.debug("onnxruntime.preload_dlls: %s", out.getvalue().strip())


@contextlib.contextmanager
def _quiet_ort() -> Iterator[None]:
    """Keep ORT's native log (e.g. its CUDA-load error) off the user's terminal while a session starts."""
    with _log_lock:
        ort.set_default_logger_severity(4)
        try:
            yield
        finally:
            ort.set_default_logger_severity(3)


# ---------------------------------------------------------------------- introspection
def _io_summary(session: ort.InferenceSession) -> str:
    ins = ", ".join(f"{i.name} {i.type} {list(i.shape)}" for i in session.get_inputs())
    outs = ", ".join(f"{o.name} {o.type} {list(o.shape)}" for o in session.get_outputs())
    return f"inputs: {ins}; outputs: {outs}"


def _dim(value: object) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


def _resolve_inputs(session: ort.InferenceSession) -> tuple[InputSpec, ...]:
    specs = []
    for node in session.get_inputs():
        if node.name not in TEXT_INPUTS:
            raise ModelError(
                f"The model takes an input named {node.name!r} that Sieve cannot fill ({_io_summary(session)})",
                f"Sieve feeds text classifiers through {', '.join(TEXT_INPUTS)}",
            )
        if node.type not in _ORT_DTYPES:
            raise ModelError(
                f"Input {node.name!r} has element type {node.type}, not int64 or int32 ({_io_summary(session)})",
                "Export token inputs as int64 (the PyTorch default) or int32",
            )
        if len(node.shape) != 2:
            raise ModelError(
                f"Input {node.name!r} has shape {list(node.shape)}, not [batch, sequence]",
                "Export with input shapes [batch_size, sequence_length]",
            )
        specs.append(InputSpec(node.name, _ORT_DTYPES[node.type], _dim(node.shape[0]), _dim(node.shape[1])))
    if not any(s.name == "input_ids" for s in specs):
        raise ModelError(
            f"The model has no input_ids input, so it does not take text ({_io_summary(session)})",
            "Choose a text classifier exported with an input_ids input",
        )
    return tuple(specs)


def _resolve_logits(session: ort.InferenceSession, bundle: ModelBundle) -> tuple[str, int | None]:
    outputs = session.get_outputs()
    named = [o for o in outputs if o.name == "logits"]
    if named:
        node = named[0]
    else:
        floats2d = [o for o in outputs if o.type in _FLOAT_TYPES and len(o.shape) == 2]
        if len(floats2d) != 1:
            kinds = [o for o in outputs if o.type in _FLOAT_TYPES and len(o.shape) == 3]
            what = (
                "it looks like an embedding model (its output is [batch, sequence, hidden])"
                if kinds
                else "none of its outputs is a single [batch, labels] score table"
            )
            raise ModelError(
                f"The model is not a text classifier: {what} ({_io_summary(session)})",
                "Choose a sequence-classification model whose output is named logits",
            )
        node = floats2d[0]
    if node.type not in _FLOAT_TYPES or len(node.shape) != 2:
        raise ModelError(
            f"Output 'logits' has type {node.type} and shape {list(node.shape)}, not float [batch, labels]",
            "Export the classification head's logits as a float [batch_size, num_labels] output",
        )
    width = _dim(node.shape[1]) or _probe_width(session, node.name)
    if width and not bundle.labels and node.name != "logits" and width >= _EMBEDDING_WIDTH:
        raise ModelError(
            f"The model is not a text classifier: output {node.name!r} is [batch, {width}] and the bundle "
            f"names no labels, which is what a sentence-embedding model looks like ({_io_summary(session)})",
            "Choose a classifier, or add config.json with id2label (or labels.txt) if this really is one",
        )
    binary = width == 1 and not bundle.multi_label and len(bundle.labels) <= 2  # one logit read as binary
    if width and bundle.labels and width != len(bundle.labels) and not binary:
        raise ModelError(
            f"The model gives {width} scores per text but {bundle.config_path or 'labels.txt'} names "
            f"{len(bundle.labels)} labels ({', '.join(bundle.labels)})",
            "Make id2label (or labels.txt) list exactly one label per output column",
        )
    return node.name, width


def _probe_width(session: ort.InferenceSession, output: str) -> int | None:
    """The logits width of a model that leaves it symbolic, from one run on a one-row, two-token input.

    Labels, the head (one logit is binary) and the label-count check all need it before the first real batch.
    """
    feeds = {}
    for node in session.get_inputs():
        shape = (_dim(node.shape[0]) or 1, _dim(node.shape[1]) or 2)
        fill = 1 if node.name == "attention_mask" else 0
        feeds[node.name] = np.full(shape, fill, dtype=_ORT_DTYPES.get(node.type, np.int64))
    try:
        (logits,) = session.run([output], feeds)
    except Exception:  # noqa: BLE001 - the model may need real ids; the width is then learnt from the first batch
        log.debug("could not probe the logits width of %s", output, exc_info=True)
        return None
    return int(logits.shape[1]) if getattr(logits, "ndim", 0) == 2 else None


def _resolve_labels(bundle: ModelBundle, width: int | None) -> tuple[str, ...]:
    if width == 1 and not bundle.multi_label:  # a binary classifier exported with one logit: two labels
        return bundle.labels if len(bundle.labels) == 2 else ("LABEL_0", "LABEL_1")
    if bundle.labels:
        return bundle.labels
    if width:
        return tuple(f"LABEL_{i}" for i in range(width))
    return ()


# ---------------------------------------------------------------------- error translation
def explain_load_error(exc: Exception, path: Path) -> ModelError:
    """Turn an ONNX Runtime load failure into one sentence saying what is wrong and what to do."""
    text = str(exc)
    ir = re.search(r"Unsupported model IR version: (\d+), max supported IR version: (\d+)", text)
    if ir:
        return ModelError(
            f"{path.name} uses ONNX IR version {ir.group(1)}, but onnxruntime {ort.__version__} reads up to "
            f"IR version {ir.group(2)}",
            f"Re-export with onnx's ir_version set to {ir.group(2)} or lower "
            "(model.ir_version = N before onnx.save), or upgrade onnxruntime",
        )
    opset = re.search(r"[Oo]pset (\d+) is under development|max supported opset[^\d]*(\d+)", text)
    if opset:
        return ModelError(
            f"{path.name} needs a newer ONNX opset than onnxruntime {ort.__version__} supports",
            "Re-export with opset_version=17, or upgrade onnxruntime",
        )
    if "Protobuf parsing failed" in text or "INVALID_PROTOBUF" in text:
        return ModelError(
            f"{path.name} is not a readable ONNX model (the file is damaged, truncated, or not ONNX at all)",
            "Export the model again, or copy the complete file",
        )
    if "is not a registered function/op" in text or "No opset import for domain" in text:
        # onnxruntime 1.31 says "domain:Op(version) is not a registered function/op"; older ones ("name", Op, domain)
        custom = re.search(r"([\w.]+):(\w+)\(-?\d+\) is not a registered", text)
        old = re.search(r"\(\"?[^,]*,\s*(\w+),\s*([\w.]+)", text)
        op = (f" {custom.group(2)} from domain {custom.group(1)}" if custom
              else f" {old.group(1)} from domain {old.group(2)}" if old else "")
        return ModelError(
            f"{path.name} uses a custom operator{op} that plain onnxruntime does not have",
            "Sieve does not load custom-op libraries; export the model with standard ONNX operators",
        )
    lowered = text.lower()
    if "external data" in lowered or "external initializer" in lowered or "location" in lowered and "data" in lowered:
        return ModelError(
            f"{path.name} keeps its weights in an external data file that could not be read ({_first_line(text)})",
            "Keep the .onnx file and its complete .data file together in the model folder",
        )
    return ModelError(
        f"ONNX Runtime could not load {path.name}: {_first_line(text)}",
        "Check that the file is a complete ONNX export",
    )


def explain_run_error(exc: Exception, feeds: Mapping[str, np.ndarray], facts: OnnxFacts | None = None,
                      config: Mapping | None = None) -> InferenceError:
    """Turn a failure inside ``session.run`` into a sentence about the batch."""
    text = str(exc)
    shape = next(iter(feeds.values())).shape if feeds else ()
    width = shape[1] if len(shape) > 1 else 0
    trained = (config or {}).get("max_position_embeddings")
    hint = (f"Lower --max-length to {trained}, the length it was trained for" if isinstance(trained, int)
            else "Lower --max-length (most models read at most 512 tokens)")
    too_long = InferenceError(
        f"The model cannot read texts of {width} tokens: that is longer than its position table", hint)
    lowered = text.lower()
    # Sieve feeds well-formed [batch, sequence] inputs, so a shape that does not fit is the sequence length: BERT
    # exports slice a [1, max_positions] buffer and then expand or add it to the batch's length.
    if "invalid expand shape" in lowered or "broadcast" in lowered:
        return InferenceError(f"The model cannot read texts of {width} tokens: its position table is shorter "
                              f"({_first_line(text)[:120]})", hint)
    if "out of bounds" in text or "out of range" in text or "indices element" in text.lower():
        max_id = int(feeds["input_ids"].max()) if "input_ids" in feeds else None
        rows = facts.embedding_rows if facts else None
        if rows and max_id is not None and max_id < rows:  # every id fits the vocabulary: the positions did not
            return too_long
        return InferenceError(
            f"The model rejected token id {max_id}: the tokenizer's vocabulary is larger than the model's "
            "embedding table, so tokenizer.json does not belong to this model",
            "Use the tokenizer.json that was saved with this model",
        )
    if "Failed to allocate memory" in text or "out of memory" in text.lower() or "bad_alloc" in text:
        return InferenceError(f"Out of memory on a batch of shape {list(shape)}", "Lower the batch size or max tokens",
                              out_of_memory=True)
    return InferenceError(f"ONNX Runtime failed on a batch of shape {list(shape)}: {_first_line(text)}")


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "unknown error"
    line = re.sub(r"^\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*\w+\s*:\s*", "", line)
    return line[:300]


def default_threads() -> int:
    """Physical-core guess used in reports (ORT picks its own when the setting is 0)."""
    return max(1, (os.cpu_count() or 2))
