"""What this machine is: the CPU's name, the GPU's name, and the facts a measurement should be reported with."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import subprocess
from functools import lru_cache


@lru_cache(maxsize=1)
def cpu_name() -> str:
    """The processor's model name (``/proc/cpuinfo`` on Linux), else what ``platform`` knows."""
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


@lru_cache(maxsize=1)
def gpu_name() -> str | None:
    """The first NVIDIA GPU's name from ``nvidia-smi`` (may take a second: call it off any GUI thread)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run([exe, "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True,
                             timeout=3).stdout.strip()
        if out:
            return out.splitlines()[0].strip()
    return None


def device_name(device: str) -> str:
    """The processor a model runs on, for people: ``GPU: NVIDIA …`` for CUDA, ``CPU: name (N threads)`` otherwise.

    ``device`` is a session's ``providers.device`` (``"CUDA"`` or ``"CPU"``). Blocking (``nvidia-smi``): call it on
    a worker thread in a GUI.
    """
    if device == "CUDA":
        name = gpu_name()
        return f"GPU: {name}" if name else "GPU (CUDA)"
    return f"CPU: {cpu_name()} ({os.cpu_count()} threads)"
