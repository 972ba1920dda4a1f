"""Each benchmark runs end to end in --quick mode on a tiny model (a smoke test: no figure is asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["engine_overhead", "padding", "microbatcher", "desktop", "dashboard", "scale",
                                  "long_line", "whole_process", "scale_out", "serve",
                                  "quantization", "serve_tab"])
def test_benchmark_runs_in_quick_mode(name: str, shared_bundle, tmp_path) -> None:  # noqa: ANN001
    out = tmp_path / f"{name}.json"
    args = [sys.executable, str(REPO / "benchmarks" / f"{name}.py"), "--quick", "--model", str(shared_bundle[0]),
            "--json", str(out)]
    if name == "microbatcher":
        args += ["--clients", "2", "--waits", "0,2"]
    if name == "desktop":
        args += ["--rows", "500"]
    if name == "dashboard":
        args += ["--records", "200", "--frames", "3"]
    if name == "scale":
        args += ["--rows", "200,400"]
    if name == "long_line":
        args += ["--mb", "0.2"]
    if name == "whole_process":
        args += ["--rows", "100", "--repeats", "1"]
    if name == "scale_out":  # with Ray installed, one --ray run on a Ray it starts; without, local and shards only
        args += ["--rows", "300", "--actors", "1"]
    if name == "serve":  # the FastAPI peer needs the bench extra and a HuggingFace tokenizer folder
        args += ["--servers", "sieve,serial", "--seconds", "0.5"]
    if name == "quantization":
        args += ["--models", "one={model},two={model}"]
    if name == "serve_tab":  # one window per mode, each sweeping one rate after a one-second capacity step
        args += ["--rates", "1", "--seconds", "0.5", "--repeats", "1"]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(out.read_text())
    assert data["benchmark"] == name and data["machine"]
    assert "|" in proc.stdout  # printed its table
