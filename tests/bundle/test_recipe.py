"""The bundle recipe is valid (the build itself takes minutes and runs in `make package`, not here)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("sieve_bundle_build", REPO / "packaging" / "build.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)


def test_recipe_inputs_are_complete() -> None:
    assert build.check() == []


def test_check_mode_passes_from_the_command_line() -> None:
    proc = subprocess.run([sys.executable, str(REPO / "packaging" / "build.py"), "--check"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and "recipe OK" in proc.stdout


def test_a_broken_desktop_entry_is_reported(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    bad = tmp_path / "sieve.desktop"
    bad.write_text("[Desktop Entry]\nType=Link\nExec=firefox\n", encoding="utf-8")
    monkeypatch.setattr(build, "DESKTOP", bad)
    problems = " ".join(build.check())
    assert "Type should be Application" in problems and "Exec should start the sieve command" in problems


def test_spec_bundles_the_default_model_and_leaves_training_libraries_out() -> None:
    spec = (REPO / "packaging" / "sieve.spec").read_text(encoding="utf-8")
    assert '"resources/models/default"' in spec and '"resources/samples"' in spec
    for heavy in ('"torch"', '"transformers"', '"onnx"'):
        assert heavy in spec.split("excludes = [", 1)[1].split("]", 1)[0]
