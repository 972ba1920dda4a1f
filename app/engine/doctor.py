"""``sieve doctor``: what a CUDA run needs, what this machine has, and the command that closes each gap.

Everything is probed, not guessed: the onnxruntime build's own provider list and CUDA version, the NVIDIA driver and
GPUs through the CUDA driver API (``libcuda``) and NVML, each CUDA/cuDNN library by its file name (after
``onnxruntime.preload_dlls()`` has tried the nvidia-* pip packages), the CUDA provider library itself, and a real
session on a real model. The same :class:`DoctorReport` feeds the CLI and the window's model panel; building it takes
about a second (it loads libraries and a model), so a GUI calls :func:`run_doctor` on a worker thread.

The probes live on one :class:`Probes` object so tests can put the report in any machine state.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.metadata
import io
import platform
import re
import shlex
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

OK, MISSING, WARNING, INFO = "ok", "missing", "warning", "info"
# Oldest driver branch for each CUDA major version (NVIDIA's CUDA toolkit release notes, Linux/Windows).
DRIVER_FOR_CUDA = {12: "525", 13: "580"}
# The pip package that ships each CUDA library (file-name stem), for CUDA 13 (no suffix) and 12 ("-cu12").
_PACKAGES = {"cublas": "nvidia-cublas", "cudart": "nvidia-cuda-runtime", "curand": "nvidia-curand",
             "cufft": "nvidia-cufft", "nvrtc": "nvidia-cuda-nvrtc", "cudnn": "nvidia-cudnn"}
# Loaded on demand by a few operators; ORT's preload treats them the same way. (cuDNN is not linked by the 1.31 CUDA
# provider either, but ONNX Runtime's install guide lists it as required, so Sieve does too.)
_OPTIONAL_CUDA = ("cufft", "nvrtc")
TENSORRT_MAJOR = 10  # onnxruntime-gpu 1.2x–1.31's TensorRT provider links libnvinfer.so.10
_SHORT = {"TensorrtExecutionProvider": "TensorRT", "CUDAExecutionProvider": "CUDA", "CPUExecutionProvider": "CPU"}


# ---------------------------------------------------------------------- the report
@dataclass(frozen=True)
class Check:
    """One thing a CUDA run needs. ``status``: ok, missing (a gap), warning, or info. ``fix``: what closes the gap
    (a command where one exists). ``optional``: the GPU works without it (cuDNN for text models, TensorRT)."""

    topic: str
    status: str
    detail: str
    fix: str | None = None
    optional: bool = False


@dataclass(frozen=True)
class DoctorReport:
    checks: tuple[Check, ...]
    provider: str | None  # the first provider a test session actually got (None: the session did not load)
    model: str | None  # the model that test session ran
    facts: dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        """A test session really ran on the GPU."""
        return self.provider in ("CUDAExecutionProvider", "TensorrtExecutionProvider")

    @property
    def gaps(self) -> list[Check]:
        return [c for c in self.checks if c.status == MISSING and not c.optional]

    @property
    def fixes(self) -> list[str]:
        """The distinct fixes, required gaps first, in the order to apply them."""
        out: list[str] = []
        for check in [*self.gaps, *(c for c in self.checks if c.status == MISSING and c.optional)]:
            if check.fix and check.fix not in out:
                out.append(check.fix)
        return out

    @property
    def verdict(self) -> str:
        if self.ready:
            return f"Ready: the test session ran on {self.provider}."
        if not self.gaps:
            return "CUDA is not used, though no single missing piece was found; see the test session above."
        n = len(self.gaps)
        return (f"Models run on the CPU here: {n} thing{'s' if n > 1 else ''} a CUDA run needs "
                f"{'are' if n > 1 else 'is'} missing. Apply each fix in the order listed, then run sieve doctor again.")

    def lines(self) -> list[str]:
        """The report as text lines (what ``sieve doctor`` prints)."""
        width = max(len(c.topic) for c in self.checks)
        out = []
        for c in self.checks:
            mark = {OK: "ok", MISSING: "MISSING" if not c.optional else "missing", WARNING: "WARNING",
                    INFO: "--"}[c.status]
            suffix = " (optional)" if c.optional and c.status != OK else ""
            out.append(f"{mark:<8} {c.topic:<{width}}  {c.detail}{suffix}")
            if c.fix and c.status in (MISSING, WARNING):
                out.append(f"{'':<8} {'':<{width}}  fix: {c.fix}")
        out.append("")
        out.append(self.verdict)
        return out

    def as_dict(self) -> dict:
        return {"ready": self.ready, "provider": self.provider, "model": self.model, "verdict": self.verdict,
                "fixes": self.fixes, "facts": dict(self.facts), "checks": [asdict(c) for c in self.checks]}


# ---------------------------------------------------------------------- what is probed
@dataclass(frozen=True)
class GpuFacts:
    name: str
    memory_bytes: int
    compute_capability: str


@dataclass(frozen=True)
class DriverFacts:
    """The NVIDIA driver as the CUDA driver API reports it. ``error``: why it could not be asked."""

    library: str
    error: str | None = None
    cuda_version: str | None = None  # the newest CUDA the driver supports, "13.0"
    driver_version: str | None = None  # NVML's string, "580.65.06"
    gpus: tuple[GpuFacts, ...] = ()


@dataclass(frozen=True)
class SessionFacts:
    """A real session on a real model, asked for CUDA."""

    providers: tuple[str, ...] = ()
    fallback_reason: str | None = None
    error: str | None = None
    batch_ms: float | None = None


class Probes:
    """The machine as the doctor sees it. Each method asks the machine one question; tests override them."""

    def __init__(self) -> None:
        self.platform = sys.platform
        self.machine = platform.machine()
        self.frozen = bool(getattr(sys, "frozen", False))
        self.python = sys.executable

    # -- packages and the onnxruntime build
    def distributions(self) -> dict[str, str]:
        """Installed versions of the packages that matter here (onnxruntime builds, nvidia-*, tensorrt)."""
        out = {}
        for dist in importlib.metadata.distributions():
            name = (dist.metadata["Name"] or "").lower()
            if name.startswith(("onnxruntime", "nvidia-", "tensorrt")):
                out[name] = dist.version
        return out

    def requirements(self, package: str) -> list[str]:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            return list(importlib.metadata.requires(package) or [])
        return []

    def onnxruntime(self) -> dict[str, object]:
        import onnxruntime as ort

        info: dict[str, object] = {"version": ort.__version__, "device": ort.get_device(),
                                   "providers": tuple(ort.get_available_providers()), "package": None,
                                   "cuda_version": None, "capi": str(Path(ort.__file__).parent / "capi")}
        with contextlib.suppress(ImportError):
            from onnxruntime.capi import build_and_package_info as build

            info["package"] = getattr(build, "package_name", None)
            info["cuda_version"] = getattr(build, "cuda_version", None) or None
        return info

    def cuda_library_names(self) -> tuple[list[str], list[str]]:
        """(CUDA libraries, cuDNN libraries) this onnxruntime build loads, by file name, in load order."""
        import onnxruntime as ort

        listing = getattr(ort, "_get_nvidia_dll_paths", None)
        windows = self.platform == "win32"
        if listing is not None:
            with contextlib.suppress(Exception):
                return ([p[-1] for p in listing(windows, cuda=True, cudnn=False)],
                        [p[-1] for p in listing(windows, cuda=False, cudnn=True)])
        major = str(self.onnxruntime().get("cuda_version") or "13").split(".")[0]
        if windows:
            return ([f"cublasLt64_{major}.dll", f"cublas64_{major}.dll", f"cudart64_{major}.dll"], ["cudnn64_9.dll"])
        return ([f"libcublasLt.so.{major}", f"libcublas.so.{major}", "libcurand.so.10", f"libcudart.so.{major}"],
                ["libcudnn.so.9"])

    def preload(self) -> str | None:
        """Run ``onnxruntime.preload_dlls()`` and return what it printed; None where it does not exist."""
        import onnxruntime as ort

        preload = getattr(ort, "preload_dlls", None)
        if preload is None:
            return None
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                preload()
            except Exception as exc:  # noqa: BLE001 - a report, not a failure
                print(f"preload_dlls failed: {exc}")
        return out.getvalue()

    # -- libraries
    def load(self, name: str) -> str | None:
        """Load a shared library by name or path; return why it failed, or None."""
        try:
            ctypes.CDLL(name)
        except OSError as exc:
            return str(exc)
        return None

    def located(self, name: str) -> str | None:
        """Where a loaded library lives (Linux: from this process's memory map)."""
        with contextlib.suppress(OSError), open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                path = line.rsplit(" ", 1)[-1].strip()
                if path.endswith("/" + name) or Path(path).name.startswith(name + "."):
                    return path
        return None

    # -- driver and GPUs
    def driver(self) -> DriverFacts:
        name = "nvcuda.dll" if self.platform == "win32" else "libcuda.so.1"
        try:
            cuda = ctypes.CDLL(name)
        except OSError:
            return DriverFacts(name, error=f"{name} is not installed")
        status = cuda.cuInit(0)
        version = ctypes.c_int(0)
        cuda.cuDriverGetVersion(ctypes.byref(version))
        cuda_version = f"{version.value // 1000}.{version.value % 1000 // 10}" if version.value else None
        driver_version = self._nvml_driver_version()
        if status != 0:
            return DriverFacts(name, f"the CUDA driver did not start (cuInit error {status})", cuda_version,
                               driver_version)
        count = ctypes.c_int(0)
        cuda.cuDeviceGetCount(ctypes.byref(count))
        gpus = []
        for i in range(count.value):
            dev = ctypes.c_int(0)
            if cuda.cuDeviceGet(ctypes.byref(dev), i) != 0:
                continue
            buf = ctypes.create_string_buffer(256)
            cuda.cuDeviceGetName(buf, 256, dev)
            mem = ctypes.c_size_t(0)
            cuda.cuDeviceTotalMem_v2(ctypes.byref(mem), dev)
            major, minor = ctypes.c_int(0), ctypes.c_int(0)
            cuda.cuDeviceGetAttribute(ctypes.byref(major), 75, dev)  # CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
            cuda.cuDeviceGetAttribute(ctypes.byref(minor), 76, dev)  # ..._MINOR
            gpus.append(GpuFacts(buf.value.decode(errors="replace"), mem.value, f"{major.value}.{minor.value}"))
        return DriverFacts(name, None, cuda_version, driver_version, tuple(gpus))

    def _nvml_driver_version(self) -> str | None:
        name = "nvml.dll" if self.platform == "win32" else "libnvidia-ml.so.1"
        try:
            nvml = ctypes.CDLL(name)
        except OSError:
            return None
        if nvml.nvmlInit_v2() != 0:
            return None
        try:
            buf = ctypes.create_string_buffer(96)
            return buf.value.decode() if nvml.nvmlSystemGetDriverVersion(buf, 96) == 0 else None
        finally:
            nvml.nvmlShutdown()

    # -- a real session
    def test_session(self, model: str) -> SessionFacts:
        import logging

        from .pipeline import Classifier

        quiet = logging.getLogger("app.engine.session")
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # the fallback is the finding here, not a warning for the terminal
        try:
            clf = Classifier.load(model, provider="cuda", warmup="off")
            t0 = time.perf_counter()
            clf.score(["Sieve's doctor runs one small batch.", "It checks which provider really ran it."])
            ms = (time.perf_counter() - t0) * 1000.0
        except Exception as exc:  # noqa: BLE001 - reported as a finding
            return SessionFacts(error=str(exc))
        finally:
            quiet.setLevel(level)
        p = clf.session.providers
        return SessionFacts(tuple(p.active), p.fallback_reason, None, ms)


# ---------------------------------------------------------------------- the checks
def run_doctor(model: str | Path | None = None, probes: Probes | None = None) -> DoctorReport:
    """Probe this machine for what a CUDA run needs; ``model`` (default: the embedded model) runs the test session.

    Blocking (about a second: it loads libraries and a model): call it off any GUI thread.
    """
    from ..paths import default_model_dir

    p = probes or Probes()
    model = str(model or default_model_dir())
    checks: list[Check] = []
    dists = p.distributions()
    ort_info = p.onnxruntime()
    version = str(ort_info["version"])
    providers = tuple(ort_info["providers"])
    cuda_version = ort_info.get("cuda_version")
    major = int(str(cuda_version).split(".")[0]) if cuda_version else None
    facts = {"platform": f"{p.platform} {p.machine}", "onnxruntime": version,
             "onnxruntime build": str(ort_info.get("package") or "onnxruntime"),
             "built for CUDA": str(cuda_version or "-")}
    pip = "pip" if p.frozen else f"{shlex.quote(p.python)} -m pip"
    gpu_wheel = f"{pip} install 'onnxruntime-gpu[cuda,cudnn]=={version}'"

    # 1. Is there a CUDA build for this platform at all, and is it the one installed?
    wheels_exist = p.platform in ("linux", "win32") and p.machine.lower() in ("x86_64", "amd64")
    has_cuda_ep = "CUDAExecutionProvider" in providers
    frozen_cpu_only = (p.frozen and has_cuda_ep
                       and not Path(str(ort_info["capi"]), _provider_lib(p.platform, "cuda")).exists())
    both = "onnxruntime" in dists and "onnxruntime-gpu" in dists
    names = ", ".join(_SHORT.get(x, x.replace("ExecutionProvider", "")) for x in providers)
    if not wheels_exist and not has_cuda_ep:
        checks.append(Check("onnxruntime", MISSING, f"onnxruntime {version} ({names}); ONNX Runtime publishes no "
                            f"CUDA build for {p.platform} {p.machine}, so models run on the CPU here",
                            "none on this platform: a CUDA run needs Linux or Windows on x86-64 with an NVIDIA GPU"))
    elif frozen_cpu_only:
        checks.append(Check("onnxruntime", MISSING, "this Sieve bundle was built CPU-only, without onnxruntime's "
                            "CUDA provider library",
                            "install Sieve with pip (pip install sieve), or rebuild the bundle with "
                            "SIEVE_BUNDLE_GPU=1 make package"))
    elif not has_cuda_ep:
        fix = (f"{pip} uninstall -y onnxruntime onnxruntime-gpu && {gpu_wheel}" if both
               else f"{pip} uninstall -y onnxruntime && {gpu_wheel}")
        checks.append(Check("onnxruntime", MISSING, f"onnxruntime {version} is the CPU-only build ({names})", fix))
    elif both:
        checks.append(Check("onnxruntime", WARNING, f"both onnxruntime {dists['onnxruntime']} and onnxruntime-gpu "
                            f"{dists['onnxruntime-gpu']} are installed; they share one module, and the one installed "
                            "last wins", f"{pip} uninstall -y onnxruntime onnxruntime-gpu && {gpu_wheel}"))
    else:
        checks.append(Check("onnxruntime", OK, f"{ort_info.get('package') or 'onnxruntime'} {version}, built for "
                            f"CUDA {cuda_version or '?'}; providers: {names}"))
    if not has_cuda_ep or frozen_cpu_only:  # nothing below can change the outcome
        session = p.test_session(model)
        checks.append(_session_check(session, model))
        return DoctorReport(tuple(checks), session.providers[0] if session.providers else None, model, facts)

    # 2. The driver and the GPUs, from the CUDA driver API.
    driver = p.driver()
    need = DRIVER_FOR_CUDA.get(major or 0)
    driver_fix = (f"install the NVIDIA driver, version {need} or newer (CUDA {major} needs it)" if need
                  else "install the NVIDIA driver for your GPU")
    facts["driver"] = driver.driver_version or "-"
    facts["driver CUDA"] = driver.cuda_version or "-"
    if driver.error and not driver.cuda_version:
        checks.append(Check("NVIDIA driver", MISSING, f"{driver.error}: no NVIDIA driver on this machine",
                            driver_fix))
    else:
        too_old = major and driver.cuda_version and int(driver.cuda_version.split(".")[0]) < major
        text = (f"driver {driver.driver_version or '(version unknown)'}, supports CUDA up to "
                f"{driver.cuda_version or '?'}")
        if too_old:
            checks.append(Check("NVIDIA driver", MISSING, f"{text}, but onnxruntime-gpu {version} needs CUDA "
                                f"{cuda_version}", driver_fix.replace("install", "update", 1)))
        elif driver.error:
            checks.append(Check("NVIDIA driver", MISSING, f"{text}; {driver.error}",
                                "check that the GPU is visible (nvidia-smi) and the driver matches the kernel"))
        else:
            checks.append(Check("NVIDIA driver", OK, f"{text} ({driver.library})"))
    if driver.gpus:
        gpus = "; ".join(f"{g.name}, {g.memory_bytes / 2**30:.0f} GiB, compute capability {g.compute_capability}"
                         for g in driver.gpus)
        facts["gpu"] = driver.gpus[0].name
        checks.append(Check("GPU", OK, f"{len(driver.gpus)} found: {gpus}"))
    elif driver.error:
        checks.append(Check("GPU", INFO, "cannot be listed without a working driver"))
    else:
        checks.append(Check("GPU", MISSING, "the driver reports no NVIDIA GPU",
                            "check that the GPU is visible to this machine or container (nvidia-smi)"))

    # 3. onnxruntime's own preload of the nvidia-* pip packages, then each library by name.
    printed = p.preload()
    cuda_libs, cudnn_libs = p.cuda_library_names()
    specs = _pinned(p.requirements("onnxruntime-gpu"))
    found, missing = [], []
    for name in cuda_libs:
        (missing if p.load(name) else found).append(name)
    required_missing = [n for n in missing if not _stem(n).startswith(_OPTIONAL_CUDA)]
    if printed is not None:
        loaded_from_pip = [n for n in cuda_libs + cudnn_libs if n in found and "nvidia" in (p.located(n) or "")]
        said = [line.strip() for line in printed.splitlines() if line.strip().startswith("Failed to load")]
        detail = (f"loaded {', '.join(loaded_from_pip)} from the nvidia-* pip packages" if loaded_from_pip
                  else "found no nvidia-* pip packages to load CUDA from")
        checks.append(Check("preload_dlls", INFO, f"onnxruntime.preload_dlls() {detail}"
                            + (f"; it reported {len(said)} failures" if said else "")))
    where = [f"{n} ({p.located(n)})" if p.located(n) else n for n in found]
    lib_detail = f"found {', '.join(where) or 'none'}"
    if required_missing:
        lib_detail += "; missing " + ", ".join(f"{n} ({_package(n, major, specs)})" for n in required_missing)
    if len(missing) > len(required_missing):
        lib_detail += "; missing, needed by a few operators only: " + ", ".join(
            f"{n} ({_package(n, major, specs)})" for n in missing if n not in required_missing)
    topic = f"CUDA {major} libraries" if major else "CUDA libraries"
    if required_missing:
        checks.append(Check(topic, MISSING, lib_detail, gpu_wheel))
    else:
        checks.append(Check(topic, OK if not missing else WARNING, lib_detail,
                            _pip_install(pip, [_package(n, major, specs) for n in missing]) if missing else None))
    cudnn_missing = [n for n in cudnn_libs if p.load(n)]
    if cudnn_missing:
        package = _package(cudnn_missing[0], major, specs)
        checks.append(Check("cuDNN 9", MISSING, f"missing {', '.join(cudnn_missing)} ({package})",
                            gpu_wheel if required_missing else _pip_install(pip, [package])))
    else:
        checks.append(Check("cuDNN 9", OK, f"found {', '.join(cudnn_libs)}"))

    # 4. The CUDA provider library itself: the loader names the first library it still lacks.
    capi = Path(str(ort_info["capi"]))
    error = p.load(str(capi / _provider_lib(p.platform, "cuda")))
    if error:
        first = error.split(":")[0].strip() if "cannot open shared object" in error else error
        checks.append(Check("CUDA provider", MISSING, f"{_provider_lib(p.platform, 'cuda')} does not load: "
                            f"{first}" + (" not found" if "cannot open" in error else ""),
                            driver_fix if re.search(r"libcuda\.so|nvcuda", error) else gpu_wheel))
    else:
        checks.append(Check("CUDA provider", OK, f"{_provider_lib(p.platform, 'cuda')} loads"))

    # 5. TensorRT: optional, never needed.
    if "TensorrtExecutionProvider" in providers:
        nvinfer = f"nvinfer_{TENSORRT_MAJOR}.dll" if p.platform == "win32" else f"libnvinfer.so.{TENSORRT_MAJOR}"
        if p.load(nvinfer):
            checks.append(Check("TensorRT", MISSING, f"{nvinfer} not found; Sieve uses TensorRT only when asked "
                                "(--provider tensorrt)",
                                f"{pip} install 'tensorrt-cu{major or 13}>={TENSORRT_MAJOR},<{TENSORRT_MAJOR + 1}'",
                                optional=True))
        elif p.load(str(capi / _provider_lib(p.platform, "tensorrt"))):
            checks.append(Check("TensorRT", INFO, f"{nvinfer} found; the TensorRT provider loads once the CUDA gaps "
                                "above are closed"))
        else:
            checks.append(Check("TensorRT", OK, "the TensorRT provider loads (use it with --provider tensorrt)"))

    # 6. What a real session gets.
    session = p.test_session(model)
    checks.append(_session_check(session, model))
    return DoctorReport(tuple(checks), session.providers[0] if session.providers else None, model, facts)


def _session_check(session: SessionFacts, model: str) -> Check:
    name = f"the model {Path(model).name or model!r}"
    if session.error:
        return Check("test session", WARNING, f"{name} did not load: {session.error}",
                     "run sieve doctor --model with a model that loads (sieve info --model DIR says why)")
    got = session.providers[0] if session.providers else "nothing"
    timing = f"; one batch of 2 texts in {session.batch_ms:.0f} ms" if session.batch_ms is not None else ""
    if got in ("CUDAExecutionProvider", "TensorrtExecutionProvider"):
        return Check("test session", OK, f"{name} asked for CUDA and got {got}{timing}")
    because = f" ({session.fallback_reason})" if session.fallback_reason else ""
    return Check("test session", INFO, f"{name} asked for CUDA and got {got}{because}{timing}")


def _provider_lib(platform_name: str, which: str) -> str:
    return (f"onnxruntime_providers_{which}.dll" if platform_name == "win32"
            else f"libonnxruntime_providers_{which}.so")


def _stem(lib: str) -> str:
    """``libcublasLt.so.13`` / ``cublasLt64_13.dll`` → ``cublaslt``."""
    name = lib.lower().removeprefix("lib")
    return re.split(r"[._]|64", name, maxsplit=1)[0]


def _package(lib: str, major: int | None, specs: dict[str, str]) -> str:
    """The pip requirement that ships ``lib`` for this CUDA major version, pinned as onnxruntime-gpu pins it."""
    stem = _stem(lib)
    key = next((k for k in _PACKAGES if stem.startswith(k)), stem)
    base = _PACKAGES.get(key, f"nvidia-{key}")
    if key == "cudnn":
        name = f"{base}-cu{major or 13}"
    else:
        name = base if (major or 13) >= 13 else f"{base}-cu{major}"
    spec = specs.get(name) or (f"~={major}.0" if key in ("cublas", "cudart", "nvrtc") and major else "")
    if key == "cudnn" and not spec:
        spec = "~=9.0"
    return f"{name}{spec}"


def _pinned(requirements: Sequence[str]) -> dict[str, str]:
    """``['nvidia-curand~=10.0; extra == "cuda"', …]`` → ``{'nvidia-curand': '~=10.0', …}``."""
    out = {}
    for req in requirements:
        m = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*([<>=!~][^;]*)?", req)
        if m and m.group(1).lower().startswith("nvidia-"):
            out[m.group(1).lower()] = (m.group(2) or "").strip()
    return out


def _pip_install(pip: str, requirements: Sequence[str]) -> str:
    return f"{pip} install " + " ".join(shlex.quote(r) for r in dict.fromkeys(requirements))
