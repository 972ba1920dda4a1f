"""``sieve doctor``: truthful about this machine, and right about machines in other states (simulated probes)."""

import ctypes
import json
import sys

import onnxruntime as ort
import pytest

from app.cli import main
from app.engine import ModelBundle, ModelSession, SessionConfig
from app.engine.doctor import (
    MISSING,
    OK,
    DoctorReport,
    DriverFacts,
    GpuFacts,
    Probes,
    SessionFacts,
    run_doctor,
)

CUDA13_LIBS = ["libcublasLt.so.13", "libcublas.so.13", "libnvrtc.so.13", "libcurand.so.10", "libcufft.so.12",
               "libcudart.so.13"]
ORT_GPU_REQUIRES = ['nvidia-cuda-nvrtc~=13.0; extra == "cuda"', 'nvidia-cuda-runtime~=13.0; extra == "cuda"',
                    'nvidia-cufft~=12.0; extra == "cuda"', 'nvidia-curand~=10.0; extra == "cuda"',
                    'nvidia-cudnn-cu13~=9.0; extra == "cudnn"']
PIP = "/opt/venv/bin/python -m pip"


class Machine(Probes):
    """A simulated machine: by default this task's (onnxruntime-gpu 1.31.1 for CUDA 13, only libcudart found,
    no driver); each test changes what it needs."""

    def __init__(self, **changes):
        super().__init__()
        self.platform, self.machine, self.frozen, self.python = "linux", "x86_64", False, "/opt/venv/bin/python"
        self.dists = {"onnxruntime-gpu": "1.31.1"}
        self.build = {"version": "1.31.1", "device": "GPU", "package": "onnxruntime-gpu", "cuda_version": "13.0",
                      "providers": ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"),
                      "capi": "/opt/venv/lib/onnxruntime/capi"}
        self.present = {"libcudart.so.13"}  # libraries that load
        self.paths = {"libcudart.so.13": "/usr/local/cuda-13.0/lib/libcudart.so.13"}
        self.drv = DriverFacts("libcuda.so.1", error="libcuda.so.1 is not installed")
        self.session = SessionFacts(("CPUExecutionProvider",), "the CUDA libraries are not installed", None, 4.0)
        self.preload_output: str | None = "Failed to load libcublasLt.so.13: ...\n"
        self.provider_libs_load = False
        self.cuda_major = 13
        self.__dict__.update(changes)

    def distributions(self):
        return dict(self.dists)

    def requirements(self, package):
        return ORT_GPU_REQUIRES if package == "onnxruntime-gpu" and "onnxruntime-gpu" in self.dists else []

    def onnxruntime(self):
        return dict(self.build)

    def cuda_library_names(self):
        m = self.cuda_major
        return ([f"libcublasLt.so.{m}", f"libcublas.so.{m}", f"libnvrtc.so.{m}", "libcurand.so.10",
                 f"libcufft.so.{'12' if m == 13 else '11'}", f"libcudart.so.{m}"], ["libcudnn.so.9"])

    def preload(self):
        return self.preload_output

    def load(self, name):
        if name.endswith(("providers_cuda.so", "providers_tensorrt.so")):
            return None if self.provider_libs_load else f"{sorted(self.missing())[0]}: cannot open shared object file"
        return None if name in self.present else f"{name}: cannot open shared object file: No such file or directory"

    def missing(self):
        return {n for n in [*self.cuda_library_names()[0], "libcuda.so.1"] if n not in self.present}

    def located(self, name):
        return self.paths.get(name) if name in self.present else None

    def driver(self):
        return self.drv

    def test_session(self, model):
        return self.session


def by_topic(report: DoctorReport) -> dict:
    return {c.topic: c for c in report.checks}


def gpu_machine(**changes) -> Machine:
    libs = {*CUDA13_LIBS, "libcudnn.so.9", "libnvinfer.so.10"}
    state = {"present": libs, "provider_libs_load": True,
             "drv": DriverFacts("libcuda.so.1", None, "13.0", "580.65.06",
                                (GpuFacts("NVIDIA H100 80GB HBM3", 85_000_000_000, "9.0"),)),
             "session": SessionFacts(("CUDAExecutionProvider", "CPUExecutionProvider"), None, None, 2.0),
             "paths": {n: f"/opt/venv/lib/nvidia/cu13/lib/{n}" for n in libs}, "preload_output": ""}
    return Machine(**{**state, **changes})


# ---------------------------------------------------------------------- simulated machines
def test_this_tasks_machine_state_lists_each_gap_with_its_exact_fix():
    report = run_doctor("model", Machine())
    checks = by_topic(report)
    wheel = f"{PIP} install 'onnxruntime-gpu[cuda,cudnn]==1.31.1'"
    assert checks["onnxruntime"].status == OK
    assert checks["NVIDIA driver"].status == MISSING and "580 or newer" in checks["NVIDIA driver"].fix
    libs = checks["CUDA 13 libraries"]
    assert libs.status == MISSING and libs.fix == wheel
    assert "found libcudart.so.13 (/usr/local/cuda-13.0/lib/libcudart.so.13)" in libs.detail
    assert "libcublasLt.so.13 (nvidia-cublas~=13.0)" in libs.detail and "libcurand.so.10 (nvidia-curand~=10.0)" in libs.detail
    assert "needed by a few operators only: libnvrtc.so.13 (nvidia-cuda-nvrtc~=13.0)" in libs.detail
    assert checks["cuDNN 9"].status == MISSING and "nvidia-cudnn-cu13~=9.0" in checks["cuDNN 9"].detail
    assert checks["CUDA provider"].status == MISSING and "libcublas" in checks["CUDA provider"].detail
    assert checks["TensorRT"].optional and checks["TensorRT"].fix == f"{PIP} install 'tensorrt-cu13>=10,<11'"
    assert "failures" in checks["preload_dlls"].detail
    assert checks["test session"].detail.startswith("the model 'model' asked for CUDA and got CPUExecutionProvider")
    assert not report.ready and report.provider == "CPUExecutionProvider"
    assert report.fixes == [checks["NVIDIA driver"].fix, wheel, checks["TensorRT"].fix]  # required first, no repeats
    assert "4 things a CUDA run needs are missing" in report.verdict
    text = "\n".join(report.lines())
    assert "MISSING  NVIDIA driver" in text and f"fix: {wheel}" in text


def test_a_working_gpu_machine_is_ready_with_nothing_to_fix():
    report = run_doctor("m", gpu_machine())
    checks = by_topic(report)
    assert report.ready and report.fixes == [] and report.verdict.startswith("Ready")
    assert all(c.status in (OK, "info") for c in report.checks), report.lines()
    assert "driver 580.65.06, supports CUDA up to 13.0" in checks["NVIDIA driver"].detail
    assert "NVIDIA H100 80GB HBM3, 79 GiB, compute capability 9.0" in checks["GPU"].detail
    assert "loaded libcublasLt.so.13" in checks["preload_dlls"].detail
    assert report.facts["gpu"] == "NVIDIA H100 80GB HBM3" and report.facts["driver"] == "580.65.06"
    assert json.loads(json.dumps(report.as_dict()))["ready"] is True


def test_a_driver_too_old_for_the_build_is_a_gap():
    old = DriverFacts("libcuda.so.1", None, "12.4", "550.54.14", (GpuFacts("NVIDIA A10", 24 * 2**30, "8.6"),))
    report = run_doctor("m", gpu_machine(drv=old, session=SessionFacts(("CPUExecutionProvider",), "x", None, 3.0)))
    check = by_topic(report)["NVIDIA driver"]
    assert check.status == MISSING and "needs CUDA 13.0" in check.detail
    assert check.fix == "update the NVIDIA driver, version 580 or newer (CUDA 13 needs it)"


def test_only_cudnn_missing_gets_its_own_package():
    m = gpu_machine()
    m.present.discard("libcudnn.so.9")
    check = by_topic(run_doctor("m", m))["cuDNN 9"]
    assert check.status == MISSING and check.fix == f"{PIP} install 'nvidia-cudnn-cu13~=9.0'"


def test_the_cpu_only_build_is_replaced_not_joined():
    m = Machine(dists={"onnxruntime": "1.31.1"},
                build={"version": "1.31.1", "device": "CPU", "package": "onnxruntime", "cuda_version": None,
                       "providers": ("CPUExecutionProvider",), "capi": "/x"})
    report = run_doctor("m", m)
    check = by_topic(report)["onnxruntime"]
    assert check.status == MISSING and "CPU-only build" in check.detail
    assert check.fix == f"{PIP} uninstall -y onnxruntime && {PIP} install 'onnxruntime-gpu[cuda,cudnn]==1.31.1'"
    assert [c.topic for c in report.checks] == ["onnxruntime", "test session"]  # nothing else can matter yet


def test_both_runtimes_installed_is_a_warning_with_the_clean_reinstall():
    m = gpu_machine(dists={"onnxruntime": "1.31.1", "onnxruntime-gpu": "1.31.1"})
    check = by_topic(run_doctor("m", m))["onnxruntime"]
    assert check.status == "warning" and "last wins" in check.detail
    assert check.fix.startswith(f"{PIP} uninstall -y onnxruntime onnxruntime-gpu && ")


def test_macos_has_no_cuda_build_and_no_pip_command_pretends_otherwise():
    m = Machine(platform="darwin", machine="arm64", dists={"onnxruntime": "1.31.1"},
                build={"version": "1.31.1", "device": "CPU", "package": "onnxruntime", "cuda_version": None,
                       "providers": ("CoreMLExecutionProvider", "CPUExecutionProvider"), "capi": "/x"})
    check = by_topic(run_doctor("m", m))["onnxruntime"]
    assert check.status == MISSING and "no CUDA build for darwin arm64" in check.detail
    assert "pip" not in check.fix


def test_a_cpu_only_desktop_bundle_says_how_to_get_the_gpu(tmp_path):
    m = Machine(frozen=True)
    m.build["capi"] = str(tmp_path)  # the bundle's capi/ holds no CUDA provider library
    check = by_topic(run_doctor("m", m))["onnxruntime"]
    assert check.status == MISSING and "built CPU-only" in check.detail and "SIEVE_BUNDLE_GPU=1" in check.fix


def test_a_cuda_12_build_names_the_cu12_packages():
    m = Machine(cuda_major=12, present=set(), paths={})
    m.build["cuda_version"] = "12.8"
    m.dists = {"onnxruntime-gpu": "1.22.0"}
    m.build["version"] = "1.22.0"
    report = run_doctor("m", m)
    libs = by_topic(report)["CUDA 12 libraries"]
    assert "libcublas.so.12 (nvidia-cublas-cu12~=12.0)" in libs.detail
    assert "libcudart.so.12 (nvidia-cuda-runtime-cu12~=12.0)" in libs.detail
    assert by_topic(report)["NVIDIA driver"].fix == "install the NVIDIA driver, version 525 or newer (CUDA 12 needs it)"


def test_a_model_that_does_not_load_is_reported_not_raised():
    check = by_topic(run_doctor("m", gpu_machine(session=SessionFacts(error="model.onnx is empty"))))["test session"]
    assert check.status == "warning" and "model.onnx is empty" in check.detail


# ---------------------------------------------------------------------- the real machine
def test_the_report_on_this_machine_matches_what_the_machine_does(default_model):
    report = run_doctor(default_model)
    checks = by_topic(report)
    # The provider the report names is the one a session asked for CUDA really gets.
    got = ModelSession.load(ModelBundle.from_path(default_model), SessionConfig(provider="cuda")).providers.active
    assert report.provider == got[0]
    assert report.ready == (got[0] == "CUDAExecutionProvider")
    has_cuda_ep = "CUDAExecutionProvider" in ort.get_available_providers()
    assert (checks["onnxruntime"].status == OK) == (has_cuda_ep and "onnxruntime" not in Probes().distributions())
    if has_cuda_ep and sys.platform == "linux":
        try:
            ctypes.CDLL("libcuda.so.1")
            has_driver = True
        except OSError:
            has_driver = False
        if not has_driver:
            assert checks["NVIDIA driver"].status == MISSING and checks["GPU"].status == "info"
        libs = next(c for t, c in checks.items() if t.startswith("CUDA") and t.endswith("libraries"))
        found = libs.detail.split("; missing")[0]
        for name in Probes().cuda_library_names()[0]:  # each library is reported as the loader finds it
            assert (name in found) == (Probes().load(name) is None), name
    if not report.ready:
        assert report.gaps and report.fixes
        assert all(sys.executable in f for f in report.fixes if "pip install" in f)


def test_sieve_doctor_prints_the_report_and_json(default_model, capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "test session" in out and "onnxruntime" in out
    assert main(["doctor", "--json", "--model", str(default_model)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"ready", "provider", "verdict", "fixes", "checks", "facts"} <= set(data)
    assert data["provider"] in ort.get_available_providers()


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/maps")
def test_located_finds_a_loaded_library():
    ctypes.CDLL("libc.so.6")
    assert Probes().located("libc.so.6").endswith("libc.so.6")
