"""Where Sieve's bundled resources live: the source tree, an installed wheel, or a PyInstaller bundle."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def resources_dir() -> Path:
    """The ``resources/`` folder: ``$SIEVE_RESOURCES``, the PyInstaller bundle's, or the source tree's."""
    override = os.environ.get("SIEVE_RESOURCES")
    if override:
        return Path(override)
    bundled = getattr(sys, "_MEIPASS", None)
    if bundled:
        return Path(bundled) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def default_model_dir() -> Path:
    """The embedded default model (a sentiment classifier; see its MODEL_CARD.md)."""
    return resources_dir() / "models" / "default"


def samples_dir() -> Path:
    return resources_dir() / "samples"


def cache_dir() -> Path:
    """Where Sieve keeps rebuildable files (TensorRT engines): ``$SIEVE_CACHE``, else the platform's cache folder."""
    override = os.environ.get("SIEVE_CACHE")
    if override:
        return Path(override)
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "Sieve" / "cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "Sieve"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sieve"
