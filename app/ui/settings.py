"""Every setting the desktop app remembers, with its key, type and default, read and written in one place.

On Linux the values live in ``~/.config/Sieve/Sieve.conf`` (``QSettings``); the self-test and the tests pass a
throw-away file instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from PySide6.QtCore import QByteArray, QSettings

if TYPE_CHECKING:
    from .main_window import MainWindow

T = TypeVar("T")
MAX_RECENT = 8


@dataclass(frozen=True)
class Key(Generic[T]):
    name: str
    default: T


PROVIDER = Key("provider", "auto")
THREADS = Key("threads", 0)
MAX_BATCH = Key("maxBatch", 32)
MAX_TOKENS = Key("maxTokens", 8192)
RECENT_MODELS: Key[list[str]] = Key("recentModels", [])
LAST_MODEL_DIR = Key("lastModelDir", "")
LAST_INPUT_DIR = Key("lastInputDir", "")
LAST_EXPORT_DIR = Key("lastExportDir", "")
BOTTOM_TAB = Key("tab", 0)
GEOMETRY: Key[QByteArray | None] = Key("geometry", None)
# The Serve tab's form (API keys are never stored)
SERVE_FORM: dict[str, Key] = {k.name.removeprefix("serve/"): k for k in (
    Key("serve/remote", False), Key("serve/url", "http://127.0.0.1:8000"), Key("serve/compare", False),
    Key("serve/compare_url", ""), Key("serve/provider", "auto"), Key("serve/threads", "0"),
    Key("serve/max_batch", "32"), Key("serve/max_wait", "0"), Key("serve/mode", "sweep"), Key("serve/rate", 50.0),
    Key("serve/connections", 8), Key("serve/sweep_from", 25), Key("serve/sweep_to", 120),
    Key("serve/sweep_steps", 6), Key("serve/seconds", 4.0), Key("serve/per_request", 1),
    Key("serve/target_ms", 50.0))}
WINDOW_STATE: Key[QByteArray | None] = Key("windowState", None)


def splitter_key(name: str) -> Key[QByteArray | None]:
    """Where a splitter's sizes are kept (one key per splitter, by its object name)."""
    return Key(f"splitters/{name}", None)


class Settings:
    """Typed access to ``QSettings``: ``settings.get(MAX_BATCH)`` is an ``int`` whatever the file holds."""

    def __init__(self, store: QSettings | None = None) -> None:
        self.store = store if store is not None else QSettings()

    def get(self, key: Key[T]) -> T:
        raw = self.store.value(key.name)
        if raw is None:
            return key.default
        return _typed(raw, key.default)

    def set(self, key: Key[T], value: T) -> None:
        self.store.setValue(key.name, value)

    def folder(self, key: Key[str]) -> str:
        """A remembered folder that still exists, else the home folder."""
        value = self.get(key)
        return value if value and Path(value).is_dir() else str(Path.home())

    def recent_models(self) -> list[str]:
        return [str(p) for p in self.get(RECENT_MODELS)]

    def add_recent_model(self, path: str, *, keep: bool = True) -> list[str]:
        recent = [p for p in self.recent_models() if p != path]
        if keep:
            recent.insert(0, path)
        recent = recent[:MAX_RECENT]
        self.set(RECENT_MODELS, recent)
        return recent

    def sync(self) -> None:
        self.store.sync()


def _typed(raw: Any, default: Any) -> Any:  # noqa: ANN401 - QSettings hands back strings from INI files
    try:
        if isinstance(default, bool):
            return raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, str):
            return str(raw)
        if isinstance(default, list):
            return [raw] if isinstance(raw, str) else list(raw or [])
    except (TypeError, ValueError):
        return default
    if default is None:  # byte blobs (geometry, window state)
        return raw if isinstance(raw, QByteArray | bytes) else None
    return raw


def restore_window(window: MainWindow, s: Settings) -> bool:
    """Knobs, recent models, geometry, splitters and the open tab as they were; False on a first start."""
    from .controller import RunOptions

    window.model_panel.set_options(RunOptions(s.get(PROVIDER), s.get(THREADS), s.get(MAX_BATCH), s.get(MAX_TOKENS)))
    window.controller.set_options(window.model_panel.options())
    window.model_panel.set_recent(s.recent_models())
    geometry, state = s.get(GEOMETRY), s.get(WINDOW_STATE)
    if geometry is not None:
        window.restoreGeometry(geometry)
    if state is not None:
        window.restoreState(state)
    for split in window.splitters():
        value = s.get(splitter_key(split.objectName()))
        if value is not None:
            split.restoreState(value)
    window.tabs.setCurrentIndex(s.get(BOTTOM_TAB))
    window.serve.form.set_form_values({name: s.get(key) for name, key in SERVE_FORM.items()})
    return geometry is not None


def save_window(window: MainWindow, s: Settings) -> None:
    opts = window.model_panel.options()
    for key, value in ((PROVIDER, opts.provider), (THREADS, opts.threads), (MAX_BATCH, opts.max_batch),
                       (MAX_TOKENS, opts.max_tokens), (GEOMETRY, window.saveGeometry()),
                       (WINDOW_STATE, window.saveState()), (BOTTOM_TAB, window.tabs.currentIndex())):
        s.set(key, value)
    for split in window.splitters():
        s.set(splitter_key(split.objectName()), split.saveState())
    for name, value in window.serve.form.form_values().items():
        s.set(SERVE_FORM[name], value)
    s.sync()
