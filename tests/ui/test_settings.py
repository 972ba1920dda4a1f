"""One typed settings module: values come back with their type whatever the file holds; bad values fall back."""

from __future__ import annotations

from PySide6.QtCore import QSettings

from app.ui import settings as keys
from app.ui.settings import Settings
from app.ui.text import duration, plural


def test_values_come_back_typed(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "s.ini"
    first = Settings(QSettings(str(path), QSettings.Format.IniFormat))
    first.set(keys.MAX_BATCH, 7)
    first.set(keys.RECENT_MODELS, ["/models/a"])
    first.set(keys.PROVIDER, "cpu")
    first.sync()
    again = Settings(QSettings(str(path), QSettings.Format.IniFormat))  # INI files hand back strings
    assert again.get(keys.MAX_BATCH) == 7 and isinstance(again.get(keys.MAX_BATCH), int)
    assert again.recent_models() == ["/models/a"]
    assert again.get(keys.PROVIDER) == "cpu"
    assert again.get(keys.MAX_TOKENS) == keys.MAX_TOKENS.default  # never set: the default


def test_bad_values_fall_back_to_the_default(tmp_path) -> None:  # noqa: ANN001
    store = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    store.setValue(keys.MAX_BATCH.name, "lots")
    store.setValue(keys.GEOMETRY.name, "not bytes")
    s = Settings(store)
    assert s.get(keys.MAX_BATCH) == 32 and s.get(keys.GEOMETRY) is None


def test_recent_models_keep_the_newest_first_without_repeats(tmp_path) -> None:  # noqa: ANN001
    s = Settings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    for p in ("a", "b", "a", "c"):
        s.add_recent_model(p)
    assert s.recent_models() == ["c", "a", "b"]
    assert s.add_recent_model("d", keep=False) == ["c", "a", "b"]
    assert len([s.add_recent_model(str(i)) for i in range(20)][-1]) == keys.MAX_RECENT


def test_folders_that_no_longer_exist_fall_back_to_home(tmp_path) -> None:  # noqa: ANN001
    from pathlib import Path

    s = Settings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    s.set(keys.LAST_INPUT_DIR, str(tmp_path / "gone"))
    assert s.folder(keys.LAST_INPUT_DIR) == str(Path.home())
    s.set(keys.LAST_INPUT_DIR, str(tmp_path))
    assert s.folder(keys.LAST_INPUT_DIR) == str(tmp_path)


def test_words_for_people() -> None:
    assert [plural(1, "batch"), plural(2, "batch"), plural(1, "row"), plural(12345, "row")] == [
        "1 batch", "2 batches", "1 row", "12,345 rows"]
    assert plural(3, "file") == "3 files" and plural(2, "sweep point") == "2 sweep points"
    assert [duration(5), duration(95), duration(7260)] == ["5 s", "1 min 35 s", "2 h 01 min"]
