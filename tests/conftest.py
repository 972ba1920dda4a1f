"""Shared fixtures. Tests build their own small real models; ``default_model`` is the embedded one."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports Qt
sys.path.insert(0, str(Path(__file__).parent))

from builders import make_bundle  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO / "resources" / "models" / "default"


@pytest.fixture
def tiny_bundle(tmp_path: Path):
    """A 3-label classifier folder with config.json; returns (folder, weights, tokenizer)."""
    return make_bundle(tmp_path / "tiny")


@pytest.fixture(scope="session")
def shared_bundle(tmp_path_factory: pytest.TempPathFactory):
    """Like ``tiny_bundle`` but built once per session (read-only use)."""
    return make_bundle(tmp_path_factory.mktemp("shared") / "tiny")


@pytest.fixture(scope="session")
def default_model() -> Path:
    if not (DEFAULT_MODEL / "model.onnx").is_file():
        pytest.fail(f"the embedded default model is missing from {DEFAULT_MODEL}")
    return DEFAULT_MODEL
